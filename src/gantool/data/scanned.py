"""Real digits (scans, photos, drawings) made to look like MNIST's, for models trained on MNIST.

MNIST's digits are light on a black background, anti-aliased, scaled to fit a 20x20 box with
their aspect ratio kept and placed in a 28x28 field with their centre of mass at its centre
(LeCun et al.; the centre measures (14.0, 14.0) in pixel indices over the MNIST test set). A
phone photo of a digit on paper is none of that: dark on light, any size, off-centre, in colour,
with paper texture and specks. `prepare_digit` undoes each and says what it did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gantool.data.images import load_image
from gantool.errors import GantoolError

MNIST_FIELD, MNIST_BOX = 28, 20
INK_FLOOR = 0.05  # normalised intensity below which a pixel counts as background
SPECK_SHARE = 0.05  # connected ink smaller than this share of the largest piece is a speck
# stroke widths of MNIST test digits (gantool.data.scanned.stroke_width, 28 px field): 5th percentile
# 1.67 px, 25th 2.05, median 2.4; thinner strokes are thickened to the 25th percentile
THIN_STROKE, THICKENED_STROKE = 1.67, 2.05


@dataclass
class PreparedDigit:
    image: torch.Tensor  # (1, size, size) in [-1, 1], light digit on black
    notes: list[str] = field(default_factory=list)  # what was done, in order

    def describe(self) -> str:
        return "; ".join(self.notes)


def _otsu(values: np.ndarray) -> float:
    """The threshold in [0, 1] that best splits `values` into two classes (Otsu 1979)."""
    hist, edges = np.histogram(values, bins=256, range=(0.0, 1.0))
    p = hist.astype(np.float64) / max(1, hist.sum())
    omega, mu = np.cumsum(p), np.cumsum(p * (edges[:-1] + edges[1:]) / 2)
    between = (mu[-1] * omega - mu) ** 2 / np.clip(omega * (1 - omega), 1e-12, None)
    return float(edges[int(np.argmax(between)) + 1])


def _normalise(gray: np.ndarray, notes: list[str]) -> tuple[np.ndarray, float]:
    """(ink in [0, 1] on a 0 background, the paper's noise level on that scale): inverted when the
    paper is lighter than the ink (judged by the image border), paper level to 0, typical ink
    level to 1."""
    h, w = gray.shape
    m = max(1, min(h, w) // 20)
    border = np.concatenate([gray[:m].ravel(), gray[-m:].ravel(), gray[:, :m].ravel(), gray[:, -m:].ravel()])
    if np.median(border) > 0.5:
        gray, border = 1.0 - gray, 1.0 - border
        notes.append("dark on light, inverted")
    paper = float(np.median(border))
    threshold = _otsu(gray)
    ink_pixels = gray[gray > threshold]
    ink = float(np.percentile(ink_pixels, 90)) if ink_pixels.size else paper
    if ink - paper < 0.1:
        raise GantoolError("no digit found: the image has almost no contrast (blank, or a uniform colour)")
    noise = 1.4826 * float(np.median(np.abs(border - paper)))  # robust standard deviation
    return np.clip((gray - paper) / (ink - paper), 0.0, 1.0), noise / (ink - paper)


def _box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _keep_digit(ink: np.ndarray, noise: float, notes: list[str]) -> np.ndarray:
    """`ink` with specks and faint background noise set to 0. A speck is a separate blob smaller
    than SPECK_SHARE of the largest and not beside a large one (pieces of a broken stroke are)."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > 0.3, structure=np.ones((3, 3)))
    if count == 0:
        raise GantoolError("no digit found: nothing in the image stands out from the background")
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(np.ones_like(ink), labels, index=index)
    large = index[areas >= SPECK_SHARE * areas.max()]
    large_mask = np.isin(labels, large)
    top, bottom, left, right = _box(large_mask)
    gap = max(2.0, 0.03 * max(bottom - top, right - left))
    distance = ndimage.distance_transform_edt(~large_mask)
    beside = index[np.asarray(ndimage.minimum(distance, labels, index)) <= gap]
    kept = sorted(set(large) | set(beside))
    if count - len(kept):
        notes.append(f"{count - len(kept)} speck{'s' if count - len(kept) != 1 else ''} removed")
    digit = np.isin(labels, kept)
    # anti-aliased edges lie just outside the strokes, within a pixel or two at any image size
    near = ndimage.binary_dilation(digit, structure=np.ones((3, 3)), iterations=2)
    return np.where(near & (ink > max(INK_FLOOR, 3 * noise)), ink, 0.0)


def stroke_width(ink: np.ndarray) -> np.ndarray | float:
    """Mean stroke width in pixels of an (H, W) image or (..., H, W) images of ink on 0: twice
    the ink over the length of its edges (a stroke of width t and length L holds t*L of ink and
    has two edges of length L)."""
    ink = np.asarray(ink, dtype=np.float64)
    padded = np.pad(ink, [(0, 0)] * (ink.ndim - 2) + [(1, 1), (1, 1)])  # strokes at the border have edges too
    dx, dy = np.diff(padded, axis=-1)[..., :-1, :], np.diff(padded, axis=-2)[..., :, :-1]
    edges = np.sqrt(dx**2 + dy**2).sum((-2, -1))
    width = np.where(edges > 0, 2 * ink.sum((-2, -1)) / np.maximum(edges, 1e-12), 0.0)
    return float(width) if width.ndim == 0 else width


def _resize(ink: np.ndarray, box: int) -> np.ndarray:
    """The bounding box of `ink` scaled so its longer side is `box` pixels, aspect ratio kept."""
    top, bottom, left, right = _box(ink > 0)
    crop = ink[top:bottom, left:right]
    h, w = crop.shape
    scale = box / max(h, w)
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    if size == (w, h):
        return crop
    resized = Image.fromarray(crop.astype(np.float32), mode="F").resize(size, Image.Resampling.LANCZOS)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def _fit_box(ink: np.ndarray, box: int, field: int, notes: list[str]) -> np.ndarray:
    """The digit scaled into a `box` square. When a large image is reduced and its strokes come out
    thinner than MNIST's thinnest (a fine pen), they are thickened: drawn at 4x the box and
    dilated by a disc, then reduced."""
    from scipy import ndimage

    patch = _resize(ink, box)
    if max(ink.shape) <= 2 * max(patch.shape):  # not a large image reduced: strokes stay as drawn
        return patch
    unit = field / MNIST_FIELD  # MNIST's widths are measured in a 28 px field
    fine = _resize(ink, 4 * box)  # sub-pixel strokes blur at 1x, so measure and dilate at 4x
    width = stroke_width(fine) / 4
    if not 0 < width < THIN_STROKE * unit:
        return patch
    thick, new_width = fine, width
    for radius in range(1, 4 * int(np.ceil(THICKENED_STROKE * unit)) + 1):  # the smallest disc that suffices
        disc = np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius
        thick = _resize(ndimage.grey_dilation(fine, footprint=disc), 4 * box)
        new_width = stroke_width(thick) / 4
        if new_width >= THICKENED_STROKE * unit:
            break
    notes.append(f"thin strokes ({width:.1f} px in {field}x{field}) thickened to {new_width:.1f} px")
    return _resize(thick, box)


def _centre_by_mass(patch: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """`patch` in a size x size black field, its centre of mass moved to the field's centre
    (whole pixels, as MNIST did); returns the field and the patch's top-left corner."""
    h, w = patch.shape
    mass = patch.sum()
    cy = float((patch.sum(1) * np.arange(h)).sum() / mass)
    cx = float((patch.sum(0) * np.arange(w)).sum() / mass)
    centre = size / 2
    top = min(max(int(round(centre - cy)), 0), size - h)
    left = min(max(int(round(centre - cx)), 0), size - w)
    field = np.zeros((size, size))
    field[top:top + h, left:left + w] = patch
    return field, (top, left)


def prepare_array(gray: np.ndarray, size: int = MNIST_FIELD) -> PreparedDigit:
    """A grayscale image (H x W, values in [0, 1], any polarity) as an MNIST-style digit."""
    notes: list[str] = []
    ink = _keep_digit(*_normalise(np.asarray(gray, dtype=np.float64), notes), notes)
    box = max(1, int(round(size * MNIST_BOX / MNIST_FIELD)))
    top, bottom, left, right = _box(ink > 0)
    h, w = bottom - top, right - left
    thickened: list[str] = []
    patch = _fit_box(ink, box, size, thickened)
    field, _ = _centre_by_mass(patch, size)
    notes.append(f"digit {w}x{h} px scaled to {patch.shape[1]}x{patch.shape[0]} and centred by mass "
                 f"in {size}x{size}")
    notes += thickened
    image = torch.from_numpy(field).float()[None] * 2 - 1
    return PreparedDigit(image, notes)


def prepare_digit(path: str | Path, size: int = MNIST_FIELD) -> PreparedDigit:
    """An image file of one digit (any size, colour, polarity) as an MNIST-style digit; the
    notes start with what the file was."""
    path = Path(path)
    if not path.is_file():
        raise GantoolError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    with _opened(path) as img:
        described = f"{img.width}x{img.height} {img.mode}"
    gray = load_image(path, channels=1)[:, :, 0].astype(np.float64) / 255.0
    try:
        prepared = prepare_array(gray, size)
    except GantoolError as err:
        raise GantoolError(f"{path}: {err}") from None
    prepared.notes.insert(0, described + (" to grayscale" if described.split()[-1] not in ("L", "1") else ""))
    return prepared


def _opened(path: Path):
    from PIL import UnidentifiedImageError

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise GantoolError(f"cannot read image {path}: {err}") from None
