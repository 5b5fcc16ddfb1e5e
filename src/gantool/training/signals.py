"""Ctrl-C and SIGTERM as a request: the loop saves a checkpoint at the next step boundary and stops."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


class StopRequest:
    """SIGINT/SIGTERM set `signal_name`; a second Ctrl-C stops at once (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.signal_name is not None:  # a second Ctrl-C: stop now
                raise KeyboardInterrupt
            self.signal_name = signal.Signals(signum).name

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
