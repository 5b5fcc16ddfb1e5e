"""Progress for training, translation, evaluation and downloads: a tqdm bar on a terminal, plain
lines at a bounded rate everywhere else.

A bar redraws itself with carriage returns about ten times a second. On a terminal that is one
line; in a file (`gantool train ... > train.log 2>&1`, nohup, a cluster job, CI, a notebook's
captured cell) every redraw stays, and the log fills with bar fragments. So `progress()` draws a
bar only when stderr is a terminal. Otherwise it prints whole lines: a first one after a few
seconds (the rate, hence the ETA, is known by then), then one whenever both `interval` seconds
and 5% of the run have passed since the last, and a last one at the end: at most about 22 lines
however long the run. Both kinds take the same calls: update, set_postfix, write, close, `with`.

`disable` (--quiet) and the environment variable TQDM_DISABLE=1 silence either kind.
"""

from __future__ import annotations

import io
import os
import sys
import time
from typing import IO, Any, Protocol

FIRST_LINE_S = 5.0  # the first plain line: late enough for a rate, early enough to show an ETA soon
INTERVAL_S = 30.0  # plain lines: at least this far apart ...
FRACTION = 0.05  # ... and at least this much of the run apart, which bounds their number
GROWTH = 1.2  # without a total (a download of unknown size): each gap 1.2x the last, so lines grow as log(time)


class Progress(Protocol):
    """What callers use of a progress reporter (tqdm's names, so a tqdm bar is one)."""

    n: float

    def update(self, n: float = 1) -> Any: ...

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> Any: ...

    def write(self, text: str) -> Any: ...

    def close(self) -> Any: ...

    def __enter__(self) -> Progress: ...

    def __exit__(self, *exc: Any) -> Any: ...


def silenced_by_env() -> bool:
    """TQDM_DISABLE set to anything but empty, 0, false or no (tqdm's own variable, read at each call)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def progress(total: float | None, desc: str = "", unit: str = "it", initial: float = 0, disable: bool = False,
             unit_scale: bool = False, counter: str = "", file: IO[str] | None = None,
             interval: float = INTERVAL_S) -> Progress:
    """A tqdm bar when `file` (default stderr) is a terminal, else a `PlainProgress` of whole lines.
    `counter` names what is counted in the plain lines ("step" gives "step 40/2200")."""
    stream = file if file is not None else sys.stderr
    disable = disable or silenced_by_env()
    if not disable and _is_terminal(stream):
        from tqdm import tqdm

        # a terminal that reports no width (a bare pty, some container shells) would get an empty bar
        width = {"dynamic_ncols": True} if _columns(stream) else {"ncols": 100}
        return tqdm(total=total, desc=desc, unit=unit, initial=initial, unit_scale=unit_scale, file=stream,
                    **width)
    return PlainProgress(total, desc, unit, initial, disable, unit_scale, counter, stream, interval)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # a closed or odd stream: no bar
        return False


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
        return 0


class PlainProgress:
    """Whole lines instead of a bar, at a bounded rate (see the module's docstring)."""

    def __init__(self, total: float | None, desc: str = "", unit: str = "it", initial: float = 0,
                 disable: bool = False, unit_scale: bool = False, counter: str = "",
                 file: IO[str] | None = None, interval: float = INTERVAL_S) -> None:
        self.total, self.desc, self.unit, self.initial = total or None, desc, unit, initial
        self.n, self.disable, self.unit_scale, self.counter = initial, disable, unit_scale, counter
        self.file, self.interval = file, interval
        self.postfix: dict[str, Any] = {}
        self.start = self.last_time = time.monotonic()
        self.last_n = initial
        self.lines = 0  # progress lines so far (not counting write())
        self.closed = False

    # ------------------------------------------------------------------ tqdm's interface
    def update(self, n: float = 1) -> None:
        self.n += n
        if self.disable or self.closed:
            return
        now = time.monotonic()
        if self._due(now):
            self._print(self.line(now))
            self.lines += 1
            self.last_time, self.last_n = now, self.n
            if self.total is None:
                self.interval *= GROWTH

    def set_postfix(self, ordered_dict: dict[str, Any] | None = None, refresh: bool = True, **kwargs: Any) -> None:
        self.postfix = {**(ordered_dict or {}), **kwargs}

    def write(self, text: str) -> None:
        # printed even when disabled, as tqdm.write does: callers decide (--quiet) what to say
        self._print(text)

    def close(self) -> None:
        """The last line, when anything was done (not after an error: see __exit__)."""
        if self.closed:
            return
        self.closed = True
        if not self.disable and self.n > self.initial:
            self._print(self.line(time.monotonic(), final=True))

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        if kind is None:
            self.close()
        self.closed = True  # after an error, its message is the last word, not a progress line

    # ------------------------------------------------------------------ the lines
    def _due(self, now: float) -> bool:
        if self.lines == 0:
            return now - self.start >= FIRST_LINE_S
        if now - self.last_time < self.interval:
            return False
        return self.total is None or self.n - self.last_n >= FRACTION * self.total

    def line(self, now: float, final: bool = False) -> str:
        """e.g. `cgan: step 440/2200 (20%), 4.71 it/s, elapsed 01:33, ETA 06:14, d=0.512 g=1.234`."""
        from tqdm import tqdm

        elapsed = now - self.start
        rate = (self.n - self.initial) / elapsed if elapsed > 0 else 0.0
        parts = [self._count()]
        if rate:
            parts.append(f"{self._amount(rate)}{self.unit}/s" if self.unit_scale else f"{rate:.3g} {self.unit}/s")
        parts.append(f"{'took' if final else 'elapsed'} {tqdm.format_interval(elapsed)}")
        if not final and self.total is not None:
            parts.append(f"ETA {tqdm.format_interval((self.total - self.n) / rate)}" if rate else "ETA ?")
        text = f"{self.desc}: " if self.desc else ""
        text += ", ".join(parts)
        if self.postfix:
            text += ", " + " ".join(f"{key}={value}" for key, value in self.postfix.items())
        return text

    def _count(self) -> str:
        if self.unit_scale:
            done = f"{self._amount(self.n)}{self.unit}"
            return f"{done}/{self._amount(self.total)}{self.unit} ({self.n / self.total:.0%})" if self.total else done
        counter = f"{self.counter} " if self.counter else ""
        if self.total is None:
            return f"{counter}{self.n:g}"
        unit = "" if self.counter else f" {self.unit}"
        return f"{counter}{self.n:g}/{self.total:g}{unit} ({self.n / self.total:.0%})"

    @staticmethod
    def _amount(value: float) -> str:
        from tqdm import tqdm

        return tqdm.format_sizeof(value)

    def _print(self, text: str) -> None:
        try:
            print(text, file=self.file if self.file is not None else sys.stderr, flush=True)
        except (OSError, ValueError):  # a closed or broken log must not stop the work it reports on
            pass
