"""Free space, and a full disk said plainly.

A full disk shows up in many disguises: an OSError with errno ENOSPC from a plain write, but a
RuntimeError ("[enforce fail at inline_container.cc:...] unexpected pos ...") from torch's zip
writer. Callers check the space a write needs before it starts, and ask `is_disk_full` about any
exception a write raised, so the user reads one line that names the device, the sizes and what
to do, never a C++ assertion.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Any

from gantool.errors import GantoolError

# what torch's PytorchStreamWriter says when a write comes up short
TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "pytorchstreamwriter failed", "failed writing")
MARGIN = 1 << 20  # zip headers, pickled structure, metadata: well under a megabyte


def _existing(path: Path) -> Path:
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: str | Path) -> int:
    """Bytes free for writing at `path` (or the nearest folder above it that exists)."""
    return shutil.disk_usage(_existing(Path(path))).free


def device_of(path: str | Path) -> str:
    """What holds `path`, in words: "tmpfs at /mnt/x", "/dev/vda1 (/)"."""
    target = str(_existing(Path(path)).resolve())
    best = None
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                parts = line.split()
                if len(parts) < 3:
                    continue
                source, point = parts[0], parts[1].replace("\\040", " ")
                inside = target == point or target.startswith(point.rstrip("/") + "/")
                if inside and (best is None or len(point) > len(best[1])):
                    best = (source, point, parts[2])
    except OSError:
        pass
    if best is None:
        return f"the disk of {target}"
    source, point, kind = best
    return f"{kind} at {point}" if not source.startswith("/") else f"{source} ({point})"


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status):
    setting it to read it back would, for an instant, give files that other threads create
    the wrong mode."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode a plain open() gives a new file under the current umask (0o644 under umask 022).
    Temp files from tempfile.mkstemp are 0600, and a rename keeps that: outputs written through
    one would be private to their owner, unreadable by the team or a web server."""
    return 0o666 & ~current_umask()


def tensor_bytes(value: Any) -> int:
    """The bytes of every tensor in a nested state (dicts, lists, tuples): about what torch.save writes."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def size_text(n: float) -> str:
    return f"{n / 1e6:.0f} MB" if n >= 1e6 else f"{max(n, 1) / 1e3:.0f} KB"


class DiskFullError(GantoolError):
    """No room for a file: `path` needed about `needed` bytes where `free` were left on `device`."""

    def __init__(self, path: Path, needed: int, free: int, advice: str = "") -> None:
        self.path, self.needed, self.free, self.device = Path(path), needed, free, device_of(path)
        message = (f"no space left on {self.device} while writing {self.path} (needs about {size_text(needed)}, "
                   f"{size_text(free)} free)")
        super().__init__(message + (f"; {advice}" if advice else ""))


def check_space(path: Path, needed: int, advice: str = "") -> None:
    """A DiskFullError now, before anything is written, when `needed` bytes clearly do not fit."""
    free = free_bytes(Path(path).parent)
    if needed > free:
        raise DiskFullError(path, needed, free, advice)


def is_disk_full(err: BaseException, folder: Path, needed: int) -> bool:
    """Whether `err`, raised while writing about `needed` bytes into `folder`, was a full disk."""
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return True
    if isinstance(err, RuntimeError) and any(s in str(err).lower() for s in TORCH_WRITE_FAILURES):
        try:
            return free_bytes(folder) < needed + MARGIN  # a short write with room to spare is something else
        except OSError:
            return False
    if isinstance(err, OSError) and err.errno is None and isinstance(err.__cause__, OSError):
        return is_disk_full(err.__cause__, folder, needed)
    return False
