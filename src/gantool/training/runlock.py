"""One training process per run folder: an exclusive lock on RUN/train.lock while the loop runs.

Two `--resume` of one run would both append to metrics.jsonl and overwrite each other's
checkpoints. The lock is a `flock` on a file that names its holder (pid and host), so a second
process says who holds it. The kernel drops a flock when its process ends, however it ends (a
crash, SIGKILL, a lost node), so a lock left by a dead process is simply taken over: no stale-pid
guessing. Hand-written rather than the `filelock` package: its flock lock does not say who holds
it (its `pid` is only for the soft fallback), which the message needs, while a flock is a few lines
here (filelock 3.x also truncated the file on every attempt, erasing a name written into it).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path
from typing import Iterator

from gantool.errors import GantoolError

try:
    import fcntl
except ImportError:  # Windows: no flock; training runs unlocked there
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "train.lock"


def _holder(path: Path) -> tuple[str, str]:
    """Who holds the lock at `path`, in words, and how to stop it."""
    try:
        pid, _, host = path.read_text().strip().partition(" ")
    except OSError:
        pid, host = "", ""
    if not pid.isdigit():  # the holder has the lock but has not written its name yet
        return "another process", "stop it"
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"process {pid}{where}", f"stop it (kill {pid}{where}: it saves a checkpoint and exits)"


def _open_locked(path: Path) -> int:
    """A descriptor of `path` holding its exclusive lock; a GantoolError when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder, stop = _holder(path)
            raise GantoolError(
                f"{path.parent} is in use: {holder} is training this run (it holds {path}); two processes on one "
                f"run would overwrite each other's checkpoints. Wait for it to finish, or {stop}, then resume"
            ) from None
        except OSError:  # a file system without locks: train unlocked rather than not at all
            return fd
        # the holder before us may have removed the file as it let go: lock the file that is there now
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold RUN/train.lock, with this process's pid and host in it, for the body's duration."""
    if fcntl is None:
        yield
        return
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = _open_locked(path)
    except GantoolError:
        raise
    except OSError as err:
        raise GantoolError(f"cannot create the lock file {path}: {err}") from None
    try:
        with contextlib.suppress(OSError):  # a full disk: the lock holds all the same, unnamed
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        yield
    finally:
        # removed while still held, so whoever opened it meanwhile sees a different file and retries
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
