"""`gantool data check` and gantool.data.check: layouts, counts, modes, errors, read-only."""

import io
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gantool.data.check import check_folder
from gantool.errors import GantoolError
from gantool_cli.main import cli


def _rgb(width=8, height=8, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


def _class_dataset(root):
    """Two classes holding one image of every mode the loader converts, and the files it skips."""
    cats, dogs = root / "cat", root / "dog"
    cats.mkdir(parents=True)
    dogs.mkdir()
    _rgb(12, 10).save(cats / "rgb.png")
    Image.new("L", (16, 6), 100).save(cats / "gray.png")
    Image.new("RGBA", (8, 8), (255, 0, 0, 0)).save(cats / "rgba.png")
    _rgb(8, 8).convert("P").save(cats / "palette.png")
    Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(dogs / "cmyk.jpg")
    Image.fromarray(np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000).save(dogs / "deep.png")
    rotated = _rgb(20, 10, seed=1)
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 CW": loaded as 10 wide, 20 high
    rotated.save(dogs / "rotated.jpg", exif=exif)
    (dogs / "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    _rgb(64, 64, seed=2).save(buffer, format="JPEG")
    (dogs / "truncated.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (dogs / "notes.txt").write_text("not an image")
    return root


def _listing(root):
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def _run(*args):
    return CliRunner().invoke(cli, ["data", "check", *map(str, args)])


def test_class_folders_counts_modes_and_skipped_files(tmp_path):
    report = check_folder(_class_dataset(tmp_path / "pets"), size=9)
    assert report.layout.startswith("class folders (2 classes")
    cat, dog = report.folders
    assert (cat.name, cat.images, cat.unreadable, cat.ignored) == ("cat", 4, [], [])
    assert cat.modes == {"L": 1, "P": 1, "RGB": 1, "RGBA": 1}
    assert (cat.min_width, cat.max_width, cat.min_height, cat.max_height) == (8, 16, 6, 10)
    assert cat.smaller_than_size == 3  # gray.png is 6 high, rgba.png and palette.png 8x8; rgb.png is 12x10
    assert dog.images == 3 and dog.modes == {"CMYK": 1, "I;16": 1, "RGB": 1}
    assert sorted(p.name for p, _ in dog.unreadable) == ["empty.png", "truncated.jpg"]
    assert "empty file (0 bytes)" in dict((p.name, r) for p, r in dog.unreadable)["empty.png"]
    assert [p.name for p in dog.ignored] == ["notes.txt"]
    assert dog.rotated == 1 and (dog.max_height, dog.min_width) == (20, 8)  # rotated.jpg stands upright
    assert report.ok and len(report.warnings) == 1 and "2 unreadable" in report.warnings[0]
    assert set(report.conversions) == {"CMYK", "I;16", "L", "P", "RGBA"}
    assert "1/257" in report.conversions["I;16"] and "white" in report.conversions["RGBA"]
    text = "\n".join(report.lines())
    assert "empty.png: empty file (0 bytes)" in text and "notes.txt" in text
    assert "EXIF orientation" in text and text.splitlines()[-1].startswith("ok:")


def test_side_by_side_odd_width_is_an_error(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    _rgb(16, 8).save(root / "1.png")
    _rgb(15, 8).save(root / "2.png")
    report = check_folder(root, size=16)
    assert report.layout.startswith("paired side-by-side")
    assert [p.name for p in report.odd_width] == ["2.png"] and report.pairs == 1
    assert report.folders[0].smaller_than_size == 2  # halves are 8 (or 7) px wide
    assert not report.ok and "2.png (15 px)" in report.errors[0] and "even width" in report.errors[0]
    result = _run(root)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith("error: 1 side-by-side image(s) with an odd width")


def test_a_b_folders_with_an_unmatched_name(tmp_path):
    root = tmp_path / "ab"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    for name in ("1", "2"):
        _rgb().save(root / "A" / f"{name}.png")
        _rgb().save(root / "B" / f"{name}.jpg")  # suffixes may differ
    _rgb().save(root / "A" / "3.png")
    report = check_folder(root)
    assert report.layout == "paired (A/ + B/ matched by name)"
    assert report.pairs == 2 and report.unmatched_a == ["3"] and report.unmatched_b == []
    assert len(report.errors) == 1 and "without a partner" in report.errors[0] and "3" in report.errors[0]
    assert any("cyclegan" in note for note in report.notes)


def test_a_b_folders_without_common_names_are_unpaired(tmp_path):
    root = tmp_path / "ab"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    _rgb().save(root / "A" / "day.png")
    _rgb().save(root / "B" / "night.png")
    report = check_folder(root)
    assert report.layout.startswith("unpaired (A/ + B/") and report.ok and report.pairs is None


def test_unpaired_train_and_test_domains(tmp_path):
    root = tmp_path / "horse2zebra"
    for name, count in (("trainA", 3), ("trainB", 2), ("testA", 1), ("testB", 0)):
        (root / name).mkdir(parents=True)
        for i in range(count):
            _rgb(10, 6, seed=i).save(root / name / f"{i}.jpg")
    report = check_folder(root)
    assert report.layout == "unpaired (trainA/ + trainB/)"
    assert [(s.name, s.images) for s in report.folders] == [("trainA", 3), ("trainB", 2), ("testA", 1), ("testB", 0)]
    assert report.folders[0].modes == {"RGB": 3} and report.folders[0].max_width == 10
    assert report.ok  # an empty test folder only stops --val, so it is a warning
    assert any("testB" in w and "no readable images" in w for w in report.warnings)


def test_empty_folder_is_an_error(tmp_path):
    root = tmp_path / "nothing"
    root.mkdir()
    report = check_folder(root)
    assert report.layout == "empty" and "is empty" in report.errors[0]
    result = _run(root)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"error: {root} is empty") and "trainA/ + trainB/" in last


def test_folder_of_non_images_has_no_images(tmp_path):
    (tmp_path / "readme.md").write_text("x")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    report = check_folder(tmp_path)
    assert report.layout == "no images" and "1 unreadable" in report.errors[0] and "1 non-image" in report.errors[0]


def test_class_folder_without_images_is_an_error(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    _rgb().save(tmp_path / "cat" / "a.png")
    (tmp_path / "dog" / "notes.txt").write_text("x")
    report = check_folder(tmp_path)
    assert report.layout.startswith("class folders") and len(report.errors) == 1
    assert str(tmp_path / "dog") in report.errors[0] and "every subfolder is a class" in report.errors[0]


def test_missing_folder_is_clear(tmp_path):
    with pytest.raises(GantoolError, match="does not exist"):
        check_folder(tmp_path / "missing")
    result = _run(tmp_path / "missing")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_cli_report_json_and_folder_untouched(tmp_path):
    root = _class_dataset(tmp_path / "pets")
    before = _listing(root)
    result = _run(root, "--size", "9")
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == f"{root}: class folders (2 classes: cat, dog)"
    assert any(line.startswith("warning: ") and "2 unreadable" in line for line in lines)
    assert lines[-1].startswith("ok: training can read this folder")
    result = _run(root, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["size"] is None
    assert {s["name"]: s["images"] for s in data["folders"]} == {"cat": 4, "dog": 3}
    assert data["folders"][1]["modes"] == {"CMYK": 1, "I;16": 1, "RGB": 1}
    assert data["folders"][1]["ignored"] == [str(root / "dog" / "notes.txt")]
    assert _listing(root) == before


def test_cli_json_failure_keeps_stdout_parseable(tmp_path):
    root = tmp_path / "pairs"
    root.mkdir()
    _rgb(9, 8).save(root / "odd.png")
    result = _run(root, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["odd_width"] == [str(root / "odd.png")]
    assert result.stderr.startswith("error: 1 side-by-side image(s) with an odd width")


def test_cli_help_explains():
    result = CliRunner().invoke(cli, ["data", "check", "--help"])
    assert result.exit_code == 0
    for words in ("--size", "--json", "unreadable", "--strict", "Exits 1"):
        assert words in result.output
