"""Names read from files made safe as file names, and outputs held inside the folder the user gave.

A checkpoint, a run folder or an upload may come from a stranger, and the names they carry (class
names, sample names, upload names) end up in output file names. `safe_filename` turns any such
name into one plain file name (no folder parts, nothing hidden); `inside` checks, after following
symbolic links, that a path about to be written stays inside the folder the user named, so neither
a crafted name nor a link planted in a shared folder can aim a write elsewhere.
"""

from __future__ import annotations

import stat
import unicodedata
from pathlib import Path

from gantool.errors import GantoolError

# "<>:\"|?*" cannot appear in Windows file names; a folder copied there must keep working
UNSAFE_CHARACTERS = frozenset('/\\<>:"|?*')
WINDOWS_DEVICES = frozenset({"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                             *(f"LPT{i}" for i in range(1, 10))})
MAX_NAME_BYTES = 100  # well under the 255 bytes of common file systems, leaving room for "_00000.png"


def safe_filename(name: object, fallback: str = "unnamed", max_bytes: int = MAX_NAME_BYTES) -> str:
    """`name` as one plain file name: separators, control and Windows-reserved characters become
    "_", leading dots and spaces go (no "..", no hidden files), it is cut to `max_bytes` of UTF-8,
    and an empty result is `fallback`. Letters of any script are kept: "猫" stays "猫"."""
    text = "".join("_" if c in UNSAFE_CHARACTERS or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in str(name))
    text = text.lstrip(". ").rstrip(". ")  # Windows drops trailing dots and spaces: two names would meet
    encoded = text.encode("utf-8")[:max_bytes]
    text = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    if not text:
        return fallback
    if text.split(".")[0].upper() in WINDOWS_DEVICES:
        text = "_" + text
    return text


def inside(folder: str | Path, path: str | Path, option: str = "--out-dir", advice: str | None = None) -> Path:
    """`path` (as given) after checking that it stays inside `folder` once `..` and every symbolic
    link along it are followed; otherwise a GantoolError names both (`option`: what the folder is,
    such as the flag that named it; `advice`: what to do, by default to choose another one)."""
    if not leads_inside(folder, path, strict=False):
        try:
            target: Path | str = Path(path).expanduser().resolve()
        except (OSError, RuntimeError):  # a link loop
            target = "a loop of symbolic links"
        raise GantoolError(f"refusing to write {path}: it leads outside {option} {folder} (to {target}, through "
                           f"a '..' or a symbolic link); {advice or f'remove the link or choose another {option}'}")
    return Path(path)


def leads_inside(folder: str | Path, path: str | Path, strict: bool = True, below: bool = False) -> bool:
    """Whether `path`, once `..` and every symbolic link along it are followed, is `folder` or lies
    within it (`below`: within it only). `strict`: both must exist, and anything unresolvable (a
    missing file, a link loop, a NUL byte) is outside; otherwise the parts that do not exist yet
    stay as written, as for an output about to be made."""
    try:
        root = Path(folder).expanduser().resolve(strict=strict)
        target = Path(path).expanduser().resolve(strict=strict)
    except (OSError, ValueError, RuntimeError, TypeError):
        return False
    return root in target.parents or (target == root and not below)


def what_is(path: str | Path) -> str:
    """Why `path` is not a file or folder to read, in words: "does not exist", "is a named pipe
    (FIFO), not a regular file or folder", ..."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "does not exist" if not path.is_symlink() else "is a broken symbolic link"
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    kinds = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    for test, kind in kinds:
        if test(mode):
            return f"is {kind}, not a regular file or folder"
    if stat.S_ISDIR(mode):
        return "is a folder"
    return "is a file"
