"""What the page's buttons do, as plain functions (no Gradio): check an upload, translate it,
draw samples, walk the latent space. Each writes its PNG exactly as the CLI command does (the
same library calls, the same `save_png` / `save_image_grid`), into a folder of its own under
`Outputs.root`, so the page's download is the file `gantool translate` / `generate` would write.
"""

from __future__ import annotations

import atexit
import math
import reprlib
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from gantool.errors import GantoolError
from gantool.safe_paths import leads_inside, safe_filename
from gantool.serve.models import ServedModel

READABLE = "PNG, JPEG, WebP, BMP, GIF or TIFF"
# One message for every input the page refuses to open, whatever the path: a caller learns
# nothing about files outside the upload folder (whether they exist, what they hold).
NOT_RECEIVED = "the image did not arrive as an upload to this page: upload it again"
MAX_SEED = 2**32 - 1  # the page's seeds: 0 to this, as numpy's


class UploadError(GantoolError):
    """An upload the page refuses; the message is shown in the page."""


@dataclass
class Outputs:
    """A folder for the page's output files; request folders older than `keep_s` are removed as
    new ones are made, so a long-running server does not fill the disk."""

    root: Path
    keep_s: float = 3600.0

    @classmethod
    def temporary(cls) -> "Outputs":
        """A new temporary folder, removed when the process exits."""
        root = Path(tempfile.mkdtemp(prefix="gantool-serve-"))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        return cls(root)

    @property
    def examples(self) -> Path:
        """Example inputs, kept for the page's life."""
        return self.root / "examples"

    def new_folder(self) -> Path:
        now = time.time()
        for old in self.root.iterdir():
            if old == self.examples:
                continue
            try:
                if now - old.stat().st_mtime > self.keep_s:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:  # removed by a concurrent request
                continue
        folder = self.root / uuid.uuid4().hex
        folder.mkdir(parents=True)
        return folder


def received_upload(path: str | Path, uploads: str | Path) -> Path:
    """`path` resolved, when it is a file inside `uploads` (the folder Gradio's upload route writes
    into); otherwise UploadError(NOT_RECEIVED). An API call may name any path on the server
    (Gradio checks a file payload only when it carries its `meta` field), so the page opens
    nothing that did not arrive through the upload route. Links are resolved first: one inside
    the folder that points outside is refused too."""
    # missing, a NUL byte, a link loop or not a path at all: outside too
    if leads_inside(uploads, path, below=True) and Path(path).resolve().is_file():
        return Path(path).resolve()
    raise UploadError(NOT_RECEIVED)


def read_upload(path: str | Path | None, channels: int, max_size: int, name: str | None = None) -> Tensor:
    """An uploaded file as a (1, C, H, W) batch in [-1, 1], read as `gantool translate` reads its
    inputs; an UploadError names the file (`name`: as the user called it) and what to do."""
    from PIL import Image, UnidentifiedImageError

    from gantool.data.images import load_tensor

    if path is None:
        raise UploadError("no image yet: upload, paste or draw one first")
    path = Path(path)
    name = name or path.name
    if not path.is_file():
        raise UploadError(NOT_RECEIVED)
    if path.stat().st_size == 0:
        raise UploadError(f"{name} is empty (0 bytes): upload a {READABLE} image")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except Image.DecompressionBombError:
        raise UploadError(f"{name} is too large: over {Image.MAX_IMAGE_PIXELS * 2:,} pixels; this page takes images up "
                          f"to {max_size} px on a side (gantool serve --max-size)") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise UploadError(f"{name} is not an image this page can read: upload a {READABLE} file") from None
    if max(width, height) > max_size:
        raise UploadError(f"{name} is {width} x {height} px; this page takes images up to {max_size} px on a side "
                          f"(gantool serve --max-size): shrink it, or translate it with `gantool translate`, which "
                          "tiles images of any size")
    try:
        return load_tensor(path, channels)
    except GantoolError as err:  # truncated or corrupt after a good header
        reason = str(err).split(": ", 1)[-1]
        raise UploadError(f"{name} cannot be decoded ({reason}): re-save it as {READABLE}") from None


def translate_upload(model: ServedModel, path: str | Path | None, outputs: Outputs, direction: str = "a2b",
                     dropout: bool = False, bn_stats: str = "auto", max_size: int = 2048,
                     name: str | None = None) -> Path:
    """Translate one uploaded image at its own size; the PNG `gantool translate` writes for it."""
    from gantool.utils import save_png, to_uint8

    if direction not in model.translators:
        raise GantoolError(f"{model.name} does not translate {direction}; it has {', '.join(model.translators)}")
    translator = model.translators[direction]
    images = read_upload(path, translator.in_channels, max_size, name)
    translator.set_test_time(dropout=dropout, bn_stats=bn_stats)
    target = outputs.new_folder() / f"{safe_filename(Path(name or Path(str(path)).name).stem, 'image')}.png"
    save_png(to_uint8(translator(images))[0], target)
    return target


def check_seed(seed: Any) -> int:
    """`seed` as an int, when it is a whole number from 0 to MAX_SEED (a float such as 7.0 is
    fine); else a GantoolError that says the range (torch takes no seed past 64 bits, and the
    browser's numbers are exact only to 2**53)."""
    whole = isinstance(seed, int) and not isinstance(seed, bool)
    if isinstance(seed, float) and math.isfinite(seed) and seed.is_integer():
        seed, whole = int(seed), True
    if not whole or not 0 <= seed <= MAX_SEED:
        raise GantoolError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {reprlib.repr(seed)}: "
                           "choose one in that range")
    return seed


def generate_grid(model: ServedModel, label: str, count: int, seed: int, outputs: Outputs) -> Path:
    """The grid `gantool generate --label LABEL --n COUNT --seed SEED` writes."""
    from gantool.inference import grid_labels
    from gantool.utils import save_image_grid

    seed = check_seed(seed)
    labels, per_row = grid_labels(model.sampler, label, count)
    target = outputs.new_folder() / f"samples_{safe_filename(label)}_seed{seed}.png"
    save_image_grid(model.sampler.sample(labels, seed=seed), target, per_row)
    return target


def interpolation_strip(model: ServedModel, label: str, steps: int, pairs: int, mode: str, seed: int,
                        outputs: Outputs) -> Path:
    """The strip `gantool interpolate --label --steps --pairs --mode --seed` writes."""
    from gantool.inference import interpolation_walks
    from gantool.utils import save_image_grid

    seed = check_seed(seed)
    codes, labels, _ = interpolation_walks(model.sampler, label, steps, pairs, mode, seed)
    target = outputs.new_folder() / f"interp_{safe_filename(label)}_seed{seed}.png"
    save_image_grid(model.sampler.sample(labels, z=codes), target, steps)
    return target


def training_report(model: ServedModel, outputs: Outputs):
    """`gantool report` of the model's run, written beside the page's outputs (the run folder is
    left as it is)."""
    from gantool.report import write_report

    if model.run_dir is None:
        raise GantoolError(f"{model.name} has no run folder with metrics.jsonl: no training report to show")
    return write_report(model.run_dir, outputs.new_folder())
