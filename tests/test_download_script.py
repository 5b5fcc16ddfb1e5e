"""datasets/download.py is for users online; here only its offline parts are checked."""

import importlib.util
import io
import tarfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "datasets" / "download.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("gantool_download", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tar(path, name, data=b"x"):
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_extracts_a_normal_archive(script, tmp_path):
    _tar(tmp_path / "ok.tar.gz", "facades/train/1.jpg")
    script.safe_extract(tmp_path / "ok.tar.gz", tmp_path / "out")
    assert (tmp_path / "out" / "facades" / "train" / "1.jpg").read_bytes() == b"x"


@pytest.mark.parametrize("absolute", [False, True], ids=["dotdot", "absolute"])
def test_refuses_members_outside_the_target(script, tmp_path, absolute):
    escape = tmp_path / "evil.txt"
    _tar(tmp_path / "bad.tar.gz", str(escape) if absolute else "../evil.txt")
    with pytest.raises(RuntimeError, match="outside"):
        script.safe_extract(tmp_path / "bad.tar.gz", tmp_path / "out")
    assert not escape.exists()


def test_every_dataset_has_an_https_or_http_url(script):
    assert {"facades", "edges2shoes", "night2day", "maps"} <= set(script.DATASETS)
    assert all(url.startswith(("http://", "https://")) for url, _ in script.DATASETS.values())


def test_zip_archives_are_checked_too(script, tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "ok.zip", "w") as zf:
        zf.writestr("horse2zebra/trainA/1.jpg", b"x")
    script.safe_extract(tmp_path / "ok.zip", tmp_path / "out")
    assert (tmp_path / "out" / "horse2zebra" / "trainA" / "1.jpg").read_bytes() == b"x"
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.writestr("../evil.txt", b"x")
    with pytest.raises(RuntimeError, match="outside"):
        script.safe_extract(tmp_path / "bad.zip", tmp_path / "out2")
    assert not (tmp_path / "evil.txt").exists()


def test_cyclegan_datasets_are_listed_under_names_that_do_not_clash(script):
    assert {"horse2zebra", "summer2winter_yosemite", "monet2photo", "cyclegan_facades"} <= set(script.DATASETS)
    assert script.DATASETS["cyclegan_facades"][0].endswith("/cyclegan/datasets/facades.zip")
    assert script.DATASETS["facades"][0].endswith("/pix2pix/datasets/facades.tar.gz")
