"""Property-based tests (hypothesis) of image loading and of config parsing.

Images: every PIL mode a user's files come in loads as an HxWxC uint8 array, with exact pixels
where the format is lossless; EXIF orientation turns the image upright; any bytes at all either
load or raise GantoolError naming the file, and `unreadable_reason` / `scan_folder` agree with
`load_image` on which files those are.

Configs: any `--set` strings, any YAML document and any file bytes end in a Config or in a
GantoolError (never a raw TypeError / ValueError / KeyError / YAML error); valid configs round-trip
through dicts, YAML files and their own values given back as overrides; YAML tags that construct
Python objects are refused without running anything.

Examples are few (40-100 per test) and small so the file runs in seconds on a 2-core CPU.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from gantool.config import Config, apply_overrides, default_config, load_config, save_config
from gantool.data.images import IMAGE_SUFFIXES, load_image, scan_folder, unreadable_reason
from gantool.errors import GantoolError


def fast(examples: int) -> settings:
    # The conftest's autouse fixture only points GANTOOL_CACHE at a per-test folder; sharing it
    # between the examples of one test is harmless, so its function scope is no problem here.
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


RECIPES = ("cgan", "pix2pix", "cyclegan")
ORIENTATION = 0x0112

# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------

MODES = ("L", "RGB", "RGBA", "LA", "P", "CMYK", "I;16", "1")
FORMATS = {"L": ("PNG", "JPEG"), "RGB": ("PNG", "JPEG"), "CMYK": ("JPEG", "TIFF")}  # PNG holds no CMYK
sizes, seeds = st.integers(1, 64), st.integers(0, 2**32 - 1)  # width or height; seed of the pixels


def make_image(mode: str, width: int, height: int, seed: int, transparency: bool = False) -> Image.Image:
    """A random `mode` image (pixels from numpy's generator seeded by `seed`)."""
    rng = np.random.default_rng(seed)

    def u8(*shape: int) -> np.ndarray:
        return rng.integers(0, 256, size=(height, width, *shape), dtype=np.uint8)

    if mode == "L":
        return Image.fromarray(u8())
    if mode == "RGB":
        return Image.fromarray(u8(3))
    if mode == "RGBA":
        return Image.fromarray(u8(4))
    if mode == "LA":
        return Image.fromarray(u8(2))
    if mode == "CMYK":
        return Image.frombytes("CMYK", (width, height), u8(4).tobytes())
    if mode == "I;16":
        values = rng.integers(0, 65536, size=(height, width), dtype=np.uint16)
        image = Image.fromarray(values)
        assert image.mode == "I;16"
        return image
    if mode == "1":
        return Image.fromarray(rng.integers(0, 2, size=(height, width)).astype(bool))
    if mode == "P":
        indices = rng.integers(0, 16, size=(height, width), dtype=np.uint8)
        image = Image.frombytes("P", (width, height), indices.tobytes())
        image.putpalette(rng.integers(0, 256, size=16 * 3, dtype=np.uint8).tobytes())
        if transparency:
            image.info["transparency"] = int(rng.integers(0, 16))
        return image
    raise AssertionError(mode)


@st.composite
def image_files(draw, modes=MODES):
    """(mode, format, PIL image) for a random small image in a random mode and a format that holds it."""
    mode = draw(st.sampled_from(modes))
    fmt = draw(st.sampled_from(FORMATS.get(mode, ("PNG",))))
    image = make_image(mode, draw(sizes), draw(sizes), draw(seeds), transparency=draw(st.booleans()))
    return mode, fmt, image


def write(image: Image.Image, folder: str, fmt: str, **params) -> Path:
    path = Path(folder) / {"PNG": "image.png", "JPEG": "image.jpg", "TIFF": "image.tif"}[fmt]
    image.save(path, fmt, **params)
    return path


@fast(100)
@given(image_files(), st.sampled_from((1, 3)))
def test_every_mode_loads_as_hwc_uint8(spec, channels):
    mode, fmt, image = spec
    with tempfile.TemporaryDirectory() as folder:
        path = write(image, folder, fmt)
        assert unreadable_reason(path) is None
        array = load_image(path, channels)
    assert array.shape == (image.height, image.width, channels)
    assert array.dtype == np.uint8
    if channels == 3 and mode in ("L", "LA", "I;16", "1"):  # gray in, gray out: three equal planes
        assert (array[..., 0] == array[..., 1]).all() and (array[..., 1] == array[..., 2]).all()


@fast(50)
@given(sizes, sizes, seeds)
def test_grayscale_and_rgb_png_pixels_are_exact(width, height, seed):
    gray, rgb = make_image("L", width, height, seed), make_image("RGB", width, height, seed)
    with tempfile.TemporaryDirectory() as folder:
        gray_path = write(gray, folder, "PNG")
        assert (load_image(gray_path, 1)[..., 0] == np.asarray(gray)).all()
        assert (load_image(gray_path, 3) == np.asarray(gray)[..., None]).all()
        rgb_path = write(rgb, folder, "PNG")
        assert (load_image(rgb_path, 3) == np.asarray(rgb)).all()
        assert (load_image(rgb_path, 1)[..., 0] == np.asarray(rgb.convert("L"))).all()


@fast(50)
@given(sizes, sizes, seeds, st.sampled_from((1, 3)))
def test_16bit_png_scales_by_257(width, height, seed, channels):
    image = make_image("I;16", width, height, seed)
    values = np.asarray(image).astype(np.int64)
    values[0, 0] = 65535  # the full range is always there (a scale by the image's own maximum would pass otherwise)
    if width * height > 1:
        values.flat[-1] = 128  # 128 / 257 = 0.498: rounds down, not up
    image = Image.fromarray(values.astype(np.uint16))
    with tempfile.TemporaryDirectory() as folder:
        array = load_image(write(image, folder, "PNG"), channels)
    expected = np.clip(np.round(values / 257), 0, 255).astype(np.uint8)
    assert (array == expected[..., None]).all()


@fast(50)
@given(sizes, sizes, seeds, st.sampled_from(("opaque", "clear", "random")))
def test_alpha_is_composited_on_white(width, height, seed, alpha_kind):
    rgba = np.asarray(make_image("RGBA", width, height, seed)).copy()
    rgba[..., 3] = {"opaque": 255, "clear": 0, "random": rgba[..., 3]}[alpha_kind]
    with tempfile.TemporaryDirectory() as folder:
        path = write(Image.fromarray(rgba), folder, "PNG")
        rgb, gray = load_image(path, 3), load_image(path, 1)
    color, alpha = rgba[..., :3].astype(np.float64), rgba[..., 3:].astype(np.float64) / 255
    if alpha_kind == "opaque":
        assert (rgb == rgba[..., :3]).all()
        assert (gray[..., 0] == np.asarray(Image.fromarray(rgba[..., :3]).convert("L"))).all()
    elif alpha_kind == "clear":
        assert (rgb == 255).all() and (gray == 255).all()
    else:
        assert np.abs(rgb - (color * alpha + 255 * (1 - alpha))).max() <= 1


# (numpy view of the upright image) for each EXIF orientation of an HxW array
UPRIGHT = {
    1: lambda a: a, 2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1, :],
    5: lambda a: a.T, 6: lambda a: np.rot90(a, -1), 7: lambda a: a.T[::-1, ::-1], 8: lambda a: np.rot90(a, 1),
}


def exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif.tobytes()


@fast(50)
@given(sizes, sizes, st.sampled_from((1, 3, 6, 8, 0, 9, 65535)), st.sampled_from(("L", "RGB")))
@example(40, 20, 6, "RGB")
@example(40, 20, 8, "L")
def test_jpeg_exif_orientation_6_and_8_turn_the_image(width, height, orientation, mode):
    image = make_image(mode, width, height, seed=width * 100 + height)
    with tempfile.TemporaryDirectory() as folder:
        array = load_image(write(image, folder, "JPEG", exif=exif_with_orientation(orientation)), 3)
    turned = orientation in (6, 8)  # 0, 9 and 65535 are not orientations: left as stored
    assert array.shape == ((width, height) if turned else (height, width)) + (3,)


@fast(50)
@given(st.integers(1, 32), st.integers(1, 32), st.integers(0, 2**32 - 1), st.integers(1, 8))
def test_png_exif_orientation_gives_the_upright_pixels(width, height, seed, orientation):
    image = make_image("L", width, height, seed)
    with tempfile.TemporaryDirectory() as folder:
        array = load_image(write(image, folder, "PNG", exif=exif_with_orientation(orientation)), 1)
    assert (array[..., 0] == UPRIGHT[orientation](np.asarray(image))).all()


def encoded(fmt: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    make_image(mode, 12, 9, seed=7).save(buffer, fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


VALID = {"png": encoded("PNG"), "jpeg": encoded("JPEG"), "png16": encoded("PNG", "I;16"), "gif": encoded("GIF", "P"),
         "bmp": encoded("BMP"), "tiff": encoded("TIFF", "CMYK")}
# A well-formed PNG header that claims 100,000 x 100,000 pixels: PIL's decompression-bomb guard refuses it
BOMB_PNG = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)) \
    + png_chunk(b"IEND", b"")


@st.composite
def file_bytes(draw):
    """Arbitrary bytes, a prefix of a valid image file, or a valid file with some bytes changed."""
    kind = draw(st.sampled_from(("random", "prefix", "mutated")))
    if kind == "random":
        return draw(st.binary(max_size=300))
    data = VALID[draw(st.sampled_from(sorted(VALID)))]
    if kind == "prefix":
        return data[:draw(st.integers(0, len(data)))]
    mutable = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        mutable[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(mutable)


def load_or_reason(path: Path, channels: int):
    """(array, None) or (None, GantoolError message); any other exception fails the test."""
    try:
        return load_image(path, channels), None
    except GantoolError as err:
        return None, str(err)


@fast(100)
@given(file_bytes(), st.sampled_from(IMAGE_SUFFIXES), st.sampled_from((1, 3)))
@example(b"", ".png", 3)
@example(VALID["png"][:40], ".png", 3)
@example(VALID["jpeg"][: len(VALID["jpeg"]) // 2], ".jpg", 1)
@example(BOMB_PNG, ".png", 3)
def test_any_bytes_load_or_raise_gantool_error_naming_the_file(data, suffix, channels):
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PIL's "Corrupt EXIF data" and the like
        path = Path(folder) / f"photo{suffix}"
        path.write_bytes(data)
        reason = unreadable_reason(path)
        array, message = load_or_reason(path, channels)
    if message is None:
        assert reason is None, f"load_image read a file that unreadable_reason calls unreadable: {reason}"
        assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == channels
        assert array.shape[0] >= 1 and array.shape[1] >= 1
    else:
        assert str(path) in message
        assert isinstance(reason, str) and reason, "load_image failed on a file unreadable_reason accepts"
    if not data:
        assert reason == "empty file (0 bytes)"


@fast(50)
@given(st.binary(max_size=80), st.sampled_from(("JPEG", "PNG")), st.booleans())
def test_garbage_exif_never_escapes(payload, fmt, tiff_header):
    """A decodable image whose EXIF block is garbage loads (as stored, or turned when the block
    still holds an orientation): its pixels are fine."""
    exif = (b"MM\x00*\x00\x00\x00\x08" if tiff_header else b"") + payload
    image = make_image("RGB", 7, 5, seed=1)
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = write(image, folder, fmt, exif=(b"Exif\x00\x00" if fmt == "JPEG" else b"") + exif)
        reason = unreadable_reason(path)
        array, message = load_or_reason(path, 3)
    assert message is None and reason is None
    assert array.shape in ((5, 7, 3), (7, 5, 3))


FILE_KINDS = ("png", "jpeg", "random", "truncated", "empty")


@fast(40)
@given(st.lists(st.tuples(st.sampled_from(FILE_KINDS), st.sampled_from(IMAGE_SUFFIXES + (".txt", ".json", "")),
                          st.sampled_from(("", "sub/", ".hidden/", "sub/.")), st.binary(max_size=40)),
                max_size=8),
       st.booleans())
def test_scan_folder_sorts_files_as_load_image_does(files, recursive):
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = Path(tmp)
        expected_candidates, expected_ignored = [], []
        for i, (kind, suffix, where, noise) in enumerate(files):
            path = folder / f"{where}f{i}{suffix}"
            path.parent.mkdir(exist_ok=True)
            path.write_bytes({"png": VALID["png"], "jpeg": VALID["jpeg"], "random": noise, "empty": b"",
                              "truncated": VALID["png"][: len(VALID["png"]) // 2]}[kind])
            if "." in where or (where and not recursive):
                continue  # hidden, or below the top level of a flat scan
            (expected_candidates if suffix in IMAGE_SUFFIXES else expected_ignored).append(path)
        scan = scan_folder(folder, recursive=recursive)
        assert sorted(scan.images + [p for p, _ in scan.unreadable]) == sorted(expected_candidates)
        assert scan.ignored == sorted(expected_ignored)
        for path in scan.images:
            assert load_image(path, 3).dtype == np.uint8
        for path, reason in scan.unreadable:
            assert isinstance(reason, str) and reason
            with pytest.raises(GantoolError, match="cannot read image"):
                load_image(path, 1)
        assert (scan.problems() == "") == (not scan.unreadable and not scan.ignored)


# ---------------------------------------------------------------------------------------------
# Configs
# ---------------------------------------------------------------------------------------------


def leaves(tree: dict, prefix: str = "") -> dict:
    """{dotted key: value} of every non-section value in a config dict."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(leaves(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


DEFAULT_LEAVES = {recipe: leaves(default_config(recipe).to_dict()) for recipe in RECIPES}
LEAF_KEYS = sorted({key for keys in DEFAULT_LEAVES.values() for key in keys})
SECTIONS = sorted({key.split(".")[0] for key in LEAF_KEYS if "." in key})
OVERRIDE_KEYS = LEAF_KEYS + SECTIONS + ["", "nope.x", "train.steps.x", "model.nope", " train.steps ", "data..root"]
# every value some recipe has by default: the valid choices of most keys
DEFAULT_VALUES = sorted({yaml.safe_dump(v, default_flow_style=True).removesuffix("\n...\n").strip()
                         for values in DEFAULT_LEAVES.values() for v in values.values()})
TRICKY_VALUES = [
    "", "null", "~", "true", "no", ".nan", ".inf", "-.inf", "nan", "1e-4", "1.5e3", "0x1f", "0o17", "1_000",
    "[]", "{}", "[1, 2]", "[0.5, 0.999]", "[0.5, 0.999, 0.1]", "['a', 'b']", "{steps: 3}", "{a: {b: 1}}",
    "2001-01-01", "2001-13-01", "2001-12-14t21:59:43.10-05:00", "2001-01-01 10:00:00 +99:00",
    "!!bool maybe", "!!int x", "!!float x", "!!timestamp x", "!!binary aGk=", "!!set {a}", "!!str 3",
    "!!python/name:os.system", "&a [*a]", "[", "{a: ", "'unclosed", "- x\n- y", "a: b: c", "@x", "%TAG",
    "1" * 400, "-" + "9" * 320, "[" * 200 + "]" * 200,
]
override_values = st.one_of(
    st.integers(-5, 5000).map(str), st.integers().map(str), st.integers(10**300, 10**400).map(str),
    st.floats().map(repr), st.floats(0, 1).map(repr),
    st.text(max_size=20), st.sampled_from(DEFAULT_VALUES), st.sampled_from(TRICKY_VALUES),
    st.lists(st.one_of(st.integers(-3, 3), st.floats(-2, 2), st.text(max_size=3)), max_size=3).map(str),
)
structured_overrides = st.builds(lambda key, value: f"{key}={value}", st.sampled_from(OVERRIDE_KEYS), override_values)


def parse(raw: str):
    try:
        return yaml.safe_load(raw) if raw.strip() else ""
    except Exception:  # noqa: BLE001 - only used to decide whether the test can predict the result
        return raw


@fast(100)
@given(st.sampled_from(RECIPES),
       st.lists(st.one_of(structured_overrides, st.text(max_size=30)), min_size=1, max_size=4))
@example("cgan", ["train.seed=2001-13-01"])
@example("cgan", ["optim.lr_g=1" + "0" * 400])
@example("pix2pix", ["train.ema_decay=!!float x"])
@example("cyclegan", ["data.hflip=!!bool maybe"])
@example("cgan", ["name=!!timestamp x"])
@example("cgan", ["train=5", "train.steps=3"])
def test_any_overrides_give_a_config_or_gantool_error(recipe, overrides):
    cfg = default_config(recipe)
    try:
        result = apply_overrides(cfg, overrides)
    except GantoolError as err:
        assert str(err).strip()
        if len(overrides) == 1 and "=" in overrides[0]:
            key = overrides[0].split("=", 1)[0].strip()
            leaf = key.split(".")[-1]
            if key in DEFAULT_LEAVES[recipe] and key not in ("recipe", "loss.augment"):
                assert leaf in str(err), f"the error does not name {key}: {err}"
        return
    assert isinstance(result, Config)
    # a single override of a real key with a value of the default's own type is applied as given
    if len(overrides) == 1 and "=" in overrides[0]:
        key, raw = overrides[0].split("=", 1)
        value, default = parse(raw), DEFAULT_LEAVES[recipe].get(key)
        if key in DEFAULT_LEAVES[recipe] and key != "recipe" and type(value) is type(default) and value == value:
            assert leaves(result.to_dict())[key] == value


plain_names = st.text(st.characters(categories=("L", "N"), include_characters="-_"), min_size=1, max_size=12)
any_text = st.text(max_size=20)


@fast(60)
@given(
    recipe=st.sampled_from(RECIPES), steps=st.integers(1, 10**12), batch_size=st.integers(1, 4096),
    lr_g=st.floats(0, 1, exclude_min=True),
    betas=st.tuples(st.floats(0, 1, exclude_max=True), st.floats(0, 1, exclude_max=True)),
    objective=st.sampled_from(("minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp")),
    ema=st.floats(0, 1, exclude_max=True), name=plain_names, root=st.none() | any_text, dataset=any_text,
)
def test_valid_configs_round_trip(recipe, steps, batch_size, lr_g, betas, objective, ema, name, root, dataset):
    cfg = apply_overrides(default_config(recipe), [
        f"train.steps={steps}", f"data.batch_size={batch_size}", f"optim.lr_g={lr_g!r}",
        f"optim.betas=[{betas[0]!r}, {betas[1]!r}]", f"loss.objective={objective}", f"train.ema_decay={ema!r}",
    ])
    assert (cfg.train.steps, cfg.data.batch_size, cfg.optim.lr_g, cfg.optim.betas, cfg.loss.objective,
            cfg.train.ema_decay) == (steps, batch_size, lr_g, betas, objective, ema)
    cfg = cfg.replace(name=name, data=dataclasses.replace(cfg.data, root=root, dataset=dataset))
    assert Config.from_dict(cfg.to_dict()) == cfg
    with tempfile.TemporaryDirectory() as folder:
        save_config(cfg, Path(folder) / "c.yaml")
        assert load_config(Path(folder) / "c.yaml") == cfg
    # every value given back as an override, in field order, changes nothing
    again = [f"{key}={yaml.safe_dump(value, default_flow_style=True).removesuffix(chr(10) + '...' + chr(10)).strip()}"
             for key, value in leaves(cfg.to_dict()).items()]
    assert apply_overrides(default_config(recipe), again) == cfg


yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
                         st.sampled_from([yaml.safe_load(v) if v.strip() else v for v in DEFAULT_VALUES]))
yaml_keys = st.one_of(st.sampled_from(sorted({part for key in LEAF_KEYS for part in key.split(".")})),
                      st.text(max_size=8), st.integers(-2, 2), st.none())
yaml_trees = st.recursive(yaml_scalars, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(yaml_keys, inner, max_size=4), max_leaves=20)
config_like = st.dictionaries(  # the real shape with random values: reaches every section's validation
    st.sampled_from(SECTIONS + ["recipe", "name"]),
    st.one_of(st.sampled_from(RECIPES), yaml_scalars,
              st.dictionaries(st.sampled_from(sorted({key.split(".")[-1] for key in LEAF_KEYS})),
                              st.one_of(yaml_scalars, st.lists(yaml_scalars, max_size=3)), max_size=5)),
    max_size=5)


@fast(100)
@given(st.one_of(yaml_trees, config_like))
def test_any_yaml_document_loads_or_raises_gantool_error(document):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))  # keys of mixed types
        try:
            cfg = load_config(path)
        except GantoolError as err:
            assert str(path) in str(err), f"the error does not name the file: {err}"
            return
    assert isinstance(cfg, Config) and cfg.recipe in RECIPES
    assert Config.from_dict(cfg.to_dict()) == cfg


yaml_sections = st.builds(  # "section:\n  key: value\n" with real names and the override values
    lambda section, key, value: f"{section}:\n  {key}: {value}\n", st.sampled_from(SECTIONS),
    st.sampled_from(sorted({key.split(".")[-1] for key in LEAF_KEYS})), override_values.filter(lambda v: "\n" not in v))


@fast(60)
@given(st.one_of(st.text(max_size=60), st.binary(max_size=60), yaml_sections))
@example("train:\n  seed: 2001-13-01\n")
@example("optim:\n  lr_g: !!float nope\n")
@example("data:\n  hflip: !!bool maybe\n")
@example(b"\xff\xfe\x00garbage")
@example("[" * 2000)
def test_any_config_file_contents_load_or_raise_gantool_error(contents):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(contents if isinstance(contents, bytes) else contents.encode("utf-8"))
        try:
            cfg = load_config(path)
        except GantoolError as err:
            assert str(path) in str(err), f"the error does not name the file: {err}"
            return
    assert isinstance(cfg, Config)


PYTHON_TAGS = [
    '!!python/object/apply:os.system ["touch {marker}"]',
    '!!python/object/apply:subprocess.call [["touch", "{marker}"]]',
    '!!python/object/new:subprocess.Popen [["touch", "{marker}"]]',
    '{{train: {{seed: !!python/object/apply:os.system ["touch {marker}"]}}}}',
    'name: !!python/name:os.system',
]


@pytest.mark.parametrize("template", PYTHON_TAGS)
def test_python_tags_in_yaml_are_refused_and_not_run(template, tmp_path):
    marker = tmp_path / "hacked"
    path = tmp_path / "evil.yaml"
    path.write_text(template.format(marker=marker))
    with pytest.raises(GantoolError, match="not valid YAML"):
        load_config(path)
    assert not marker.exists()
    # the same text as an override value is taken as a literal string, not run
    try:
        cfg = apply_overrides(default_config("cgan"), ["data.dataset=" + template.format(marker=marker)])
    except GantoolError:
        pass
    else:
        assert cfg.data.dataset == template.format(marker=marker)
    assert not marker.exists()
