"""The one exception type for mistakes a user can fix (bad input, bad option, bad file)."""


class GantoolError(Exception):
    """A user-facing error: the message names the problem and what to do about it.

    The CLI prints it as one line without a traceback; library users can catch it. `details`
    holds what only helps a closer look (the full list behind an "e.g."); the CLI prints it
    under --debug.
    """

    def __init__(self, message: str, details: str | None = None) -> None:
        super().__init__(message)
        self.details = details
