"""Example inputs for the Translate tab, from a folder the user names (`gantool serve --examples
DIR`) and nowhere else: never from the folders a checkpoint's own config names (`data.root`,
`data.val`), because a shared checkpoint would then make the page publish its author's choice of
this machine's files (a home folder's photos) and walk any tree it names first.

The walk is bounded (entries looked at, depth), so a large folder does not slow the page's start.
Files are copied beside the page's outputs: Gradio serves its own folders only, and the user's
folder stays out of them.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterable

from gantool.data.images import is_image_file
from gantool.errors import GantoolError
from gantool.safe_paths import safe_filename

log = logging.getLogger("gantool")

LIMIT = 12  # examples shown
MAX_VISITED = 5_000  # folder entries looked at, at most
MAX_DEPTH = 2  # DIR itself and two levels of subfolders


def find_examples(folder: str | Path, limit: int = LIMIT, max_visited: int = MAX_VISITED,
                  max_depth: int = MAX_DEPTH) -> list[Path]:
    """Up to `limit` image files in `folder` (by name, the folder's own first, then its subfolders
    to `max_depth` levels), looking at no more than `max_visited` entries; hidden files and
    folders are skipped and linked folders are not entered (no loops, no way out). A GantoolError
    when `folder` is not a folder or holds no image within those bounds."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise GantoolError(f"--examples {folder} is not a folder: give a folder of example input images")
    found: list[Path] = []
    visited = 0
    level = [root]
    for _ in range(max_depth + 1):
        below = []
        for current in level:
            try:
                entries = sorted(os.scandir(current), key=lambda e: e.name)
            except OSError:  # unreadable subfolder: the others still count
                continue
            for entry in entries:
                visited += 1
                if visited > max_visited:
                    return _checked(found, folder, max_visited, max_depth)
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        below.append(Path(entry.path))
                    elif entry.is_file() and is_image_file(Path(entry.path)):
                        found.append(Path(entry.path))
                        if len(found) >= limit:
                            return found
                except OSError:
                    continue
        level = below
    return _checked(found, folder, max_visited, max_depth)


def _checked(found: list[Path], folder: str | Path, max_visited: int, max_depth: int) -> list[Path]:
    if not found:
        raise GantoolError(f"--examples {folder} holds no images (PNG, JPEG, WebP, BMP, GIF or TIFF) within its "
                           f"first {max_visited:,} entries and {max_depth} levels of subfolders: give a folder of "
                           "example input images")
    return found


def copy_examples(paths: Iterable[Path], folder: Path) -> list[Path]:
    """Copies of `paths` in `folder`, for the page to serve; a file that cannot be read is skipped
    with a warning."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for i, path in enumerate(paths):
        target = folder / f"{i:02d}-{safe_filename(path.name, 'image')}"
        try:
            target.write_bytes(Path(path).read_bytes())
        except OSError as err:
            log.warning("example %s skipped: %s", path, err.strerror or err)
            continue
        copies.append(target)
    return copies
