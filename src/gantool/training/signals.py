"""Ctrl-C and SIGTERM as a request: the loop saves a checkpoint at the next step boundary and stops.

Schedulers (Slurm, Kubernetes, systemd) often send SIGTERM more than once before their grace
period ends, and an impatient user presses Ctrl-C twice. Stopping at the second signal would cut
the final save short and leave latest.pt at an older step, so every signal after the first is
only acknowledged: the step and the save finish, then the run stops. (SIGKILL still stops at
once; the atomic writes leave the last complete checkpoint behind.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import Any, Iterator

AGAIN = (b"gantool: already stopping: finishing the step and saving the checkpoint, then exiting "
         b"(kill -9 stops at once and loses the steps since the last checkpoint)\n")


class StopRequest:
    """SIGINT/SIGTERM set `signal_name` (the first one's); later ones are acknowledged once on
    stderr and otherwise ignored while the handlers are installed."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.repeated = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def handler(signum: int, frame: Any) -> None:
            if self.signal_name is None:
                self.signal_name = signal.Signals(signum).name
                return
            if not self.repeated:
                self.repeated = True
                with contextlib.suppress(OSError):  # os.write: a handler must not reenter sys.stderr's buffer
                    os.write(2, AGAIN)

        for sig in previous:
            signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
