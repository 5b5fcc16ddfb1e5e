"""pix2pix: paired data, the recipe in the trainer, translate at any size, evaluation, data tools."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.config import apply_overrides, default_config
from gantool.data.paired import PairedImages, find_pairs, holdout_split
from gantool.errors import GantoolError
from gantool.run import train
from gantool.translate import load_translator
from gantool_cli.main import cli
from tests.conftest import require_dataset

TINY_P2P = ["model.generator=unet_64", "model.ngf=4", "model.ndf=4", "data.image_size=64", "train.steps=4",
            "train.log_every=2", "train.sample_every=2", "train.checkpoint_every=2", "train.val_every=2",
            "train.samples_per_class=2", "train.device=cpu"]


def _gradient_pair(width=96, height=80):
    """A with a horizontal ramp, B with a vertical ramp: any misalignment changes their relation."""
    a = np.tile(np.linspace(0, 255, width, dtype=np.uint8), (height, 1))
    b = np.tile(np.linspace(0, 255, height, dtype=np.uint8)[:, None], (1, width))
    return np.stack([a] * 3, -1), np.stack([b] * 3, -1)


@pytest.fixture
def aligned_dir(tmp_path):
    folder = tmp_path / "aligned"
    folder.mkdir()
    for i in range(6):
        a, b = _gradient_pair()
        Image.fromarray(np.concatenate([a, b], axis=1)).save(folder / f"{i}.png")
    return folder


@pytest.fixture
def two_folder_dir(tmp_path):
    for side in "AB":
        (tmp_path / "pairs" / side).mkdir(parents=True)
    for i in range(4):
        a, b = _gradient_pair()
        Image.fromarray(a).save(tmp_path / "pairs" / "A" / f"{i}.jpg")
        Image.fromarray(b).save(tmp_path / "pairs" / "B" / f"{i}.png")
    return tmp_path / "pairs"


def test_both_layouts_are_found(aligned_dir, two_folder_dir):
    assert len(find_pairs(aligned_dir)) == 6 and find_pairs(aligned_dir)[0].b is None
    pairs = find_pairs(two_folder_dir)
    assert len(pairs) == 4 and pairs[0].a.suffix == ".jpg" and pairs[0].b.suffix == ".png"


def test_unmatched_names_are_listed(two_folder_dir):
    (two_folder_dir / "B" / "3.png").unlink()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(two_folder_dir / "B" / "extra.png")
    with pytest.raises(GantoolError, match=r"1 in .*A without a partner .*\(3\); 1 in .*B without a partner .*\(extra\)"):
        find_pairs(two_folder_dir)


def test_odd_width_side_by_side_is_a_clear_error(tmp_path):
    (tmp_path / "odd").mkdir()
    Image.fromarray(np.zeros((8, 9, 3), np.uint8)).save(tmp_path / "odd" / "x.png")
    ds = PairedImages(find_pairs(tmp_path / "odd"), size=8, preprocess="none")
    with pytest.raises(GantoolError, match="9 px wide"):
        ds[0]


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop", "scale_width", "scale_width_and_crop"])
def test_augmentation_keeps_pairs_aligned(aligned_dir, preprocess):
    """A (horizontal ramp) and B (vertical ramp) must see the same crop and flip."""
    ds = PairedImages(find_pairs(aligned_dir), size=32, preprocess=preprocess, load_size=48, flip=True)
    reference = PairedImages(find_pairs(aligned_dir), size=32, preprocess=preprocess, load_size=48, flip=False)
    flipped_seen = set()
    for seed in range(12):
        item = ds[(0, seed)]
        a, b = item["A"][0], item["B"][0]
        assert a.shape == b.shape == (32, 32)
        # B varies only along rows, A only along columns, whatever the crop
        assert torch.allclose(b, b[:, :1].expand_as(b), atol=0.05)
        assert torch.allclose(a, a[:1, :].expand_as(a), atol=0.05)
        flipped_seen.add(bool(a[0, 0] > a[0, -1]))
        again = ds[(0, seed)]
        assert torch.equal(again["A"], item["A"]) and torch.equal(again["B"], item["B"])  # seeded
    assert flipped_seen == {True, False}
    assert reference[(0, 0)]["A"][0, 0, 0] < reference[(0, 0)]["A"][0, 0, -1]


def test_grayscale_input_domain(aligned_dir):
    ds = PairedImages(find_pairs(aligned_dir), size=32, channels_a=1, channels_b=3)
    item = ds[(0, 0)]
    assert item["A"].shape == (1, 32, 32) and item["B"].shape == (3, 32, 32)


def test_validation_split_is_deterministic_and_disjoint(aligned_dir):
    pairs = find_pairs(aligned_dir)
    train_a, val_a = holdout_split(pairs, 0.34, seed=0)
    train_b, val_b = holdout_split(pairs, 0.34, seed=0)
    assert val_a == val_b and len(val_a) == 2 and not set(val_a) & set(train_a)


@pytest.fixture
def trained_p2p(aligned_dir, tmp_path):
    cfg = apply_overrides(default_config("pix2pix"), TINY_P2P + [f"data.root={aligned_dir}", "data.val_fraction=0.34"])
    return train(cfg, out=tmp_path / "p2p", quiet=True)


def test_training_writes_validation_metrics(trained_p2p):
    lines = [json.loads(l) for l in (trained_p2p.run_dir / "metrics.jsonl").read_text().splitlines()]  # noqa
    val = [l for l in lines if "val_l1" in l]
    assert [l["step"] for l in val] == [2, 4]
    best = torch.load(trained_p2p.run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["best_metric"] == pytest.approx(min(l["val_l1"] for l in val))  # best.pt by validation L1
    assert all(0 <= l["val_ssim"] <= 1 and l["val_psnr"] > 0 for l in val)
    assert "loss_l1" in lines[0]
    grid = Image.open(trained_p2p.run_dir / "samples" / "step_0000004.png")
    assert grid.size == (3 * 66 + 2, 2 * 66 + 2)  # rows of input | output | truth


@pytest.mark.parametrize("size", [(64, 64), (100, 37), (129, 250)])
def test_translate_returns_the_input_size(trained_p2p, size):
    translator = load_translator(trained_p2p.checkpoint, bn_stats="running")
    out = translator(torch.rand(1, 3, size[1], size[0]) * 2 - 1)
    assert out.shape == (1, 3, size[1], size[0])


def test_tiled_translation_matches_size_and_is_close_to_whole(trained_p2p):
    whole = load_translator(trained_p2p.checkpoint, bn_stats="running", tile=4096)
    tiled = load_translator(trained_p2p.checkpoint, bn_stats="running", tile=128)
    image = torch.rand(1, 3, 200, 300) * 2 - 1
    a, b = whole(image), tiled(image)
    assert b.shape == a.shape
    assert (a - b).abs().mean() < 0.1


def test_batch_and_single_translation_agree(trained_p2p):
    translator = load_translator(trained_p2p.checkpoint, bn_stats="running")
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    batched = translator(images)
    single = torch.cat([translator(images[i:i + 1]) for i in range(3)])
    assert torch.allclose(batched, single, atol=1e-5)


def test_test_time_choices(trained_p2p):
    image = torch.rand(1, 3, 64, 64) * 2 - 1
    deterministic = load_translator(trained_p2p.checkpoint)
    assert torch.equal(deterministic(image), deterministic(image))
    batch_stats = load_translator(trained_p2p.checkpoint, bn_stats="batch")
    running = load_translator(trained_p2p.checkpoint, bn_stats="running")
    assert not torch.allclose(batch_stats(image), running(image))


def test_translate_cli_keeps_names_and_sizes(trained_p2p, tmp_path):
    inputs = tmp_path / "inputs"
    (inputs / "sub").mkdir(parents=True)
    Image.fromarray(np.zeros((37, 100, 3), np.uint8)).save(inputs / "wide.jpg")
    Image.fromarray(np.zeros((50, 20), np.uint8)).save(inputs / "sub" / "gray.png")
    Image.fromarray(np.zeros((30, 30, 4), np.uint8)).save(tmp_path / "rgba.png")
    out = tmp_path / "out"
    args = ["translate", str(inputs), str(tmp_path / "rgba.png"), "--checkpoint", str(trained_p2p.run_dir),
            "--out-dir", str(out), "--quiet"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert Image.open(out / "wide.png").size == (100, 37)
    assert Image.open(out / "sub" / "gray.png").size == (20, 50)
    assert Image.open(out / "rgba.png").size == (30, 30)
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "--overwrite" in again.output
    assert CliRunner().invoke(cli, args + ["--overwrite"]).exit_code == 0
    sized = CliRunner().invoke(cli, args + ["--overwrite", "--size", "64"])
    assert sized.exit_code == 0 and Image.open(out / "wide.png").size == (100, 37)
    bad = CliRunner().invoke(cli, args + ["--overwrite", "--size", "50"])
    assert bad.exit_code == 1 and "multiple of 64" in bad.output


def test_translate_never_overwrites_an_input(trained_p2p, tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    result = CliRunner().invoke(cli, ["translate", str(image), "--checkpoint", str(trained_p2p.checkpoint),
                                      "--out-dir", str(tmp_path), "--overwrite"])
    assert result.exit_code == 1 and "would overwrite the input" in result.output


def test_translate_rejects_a_cgan_checkpoint(tiny_cfg, tmp_path):
    result = train(tiny_cfg, out=tmp_path / "cgan", quiet=True)
    out = CliRunner().invoke(cli, ["translate", str(tmp_path), "--checkpoint", str(result.checkpoint)])
    assert out.exit_code == 1 and "does not translate images" in out.output


def test_eval_pix2pix_cli(trained_p2p, aligned_dir, tmp_path):
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(cli, ["eval", "pix2pix", "--checkpoint", str(trained_p2p.checkpoint),
                                      "--data", str(aligned_dir), "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["n"] == 6 and set(report["summary"]) == {"l1", "psnr", "ssim"}
    assert "psnr" in result.output


def test_data_combine_and_edges(two_folder_dir, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["data", "combine", "--a", str(two_folder_dir / "A"), "--b", str(two_folder_dir / "B"),
                                 "--out", str(tmp_path / "combined")])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "combined" / "0.png").size == (192, 80)
    photos = tmp_path / "photos"
    photos.mkdir()
    square = np.zeros((64, 64, 3), np.uint8)
    square[16:48, 16:48] = 255
    Image.fromarray(square).save(photos / "square.jpg")
    result = runner.invoke(cli, ["data", "edges", str(photos), "--out", str(tmp_path / "edges"), "--thickness", "2"])
    assert result.exit_code == 0, result.output
    pair = np.asarray(Image.open(tmp_path / "edges" / "square.png"))
    assert pair.shape == (64, 128, 3)
    edges = pair[:, :64, 0]
    assert edges[13:18, 32].min() < 128 and edges[32, 32] > 128 and edges[2, 2] > 128  # a line on the border only


def test_short_real_training_on_facades_lowers_validation_l1(tmp_path):
    facades = require_dataset("facades/pix2pix/train")
    cfg = apply_overrides(default_config("pix2pix"), [
        f"data.root={facades}", "data.direction=AtoB", "data.image_size=64", "data.val_fraction=0.05",
        "model.generator=unet_64", "model.ngf=16", "model.ndf=16", "data.batch_size=4", "train.steps=150",
        "train.log_every=50", "train.val_every=150", "train.sample_every=150", "train.checkpoint_every=150",
        "optim.lr_g=5e-4", "optim.lr_d=5e-4", "train.device=cpu"])
    untrained = train(apply_overrides(cfg, ["train.steps=1", "optim.lr_g=1e-12", "optim.lr_d=1e-12"]),
                      out=tmp_path / "untrained", quiet=True)
    trained = train(cfg, out=tmp_path / "trained", quiet=True)

    def val_l1(result):
        lines = [json.loads(l) for l in (result.run_dir / "metrics.jsonl").read_text().splitlines()]  # noqa
        return [l for l in lines if "val_l1" in l][-1]["val_l1"]

    assert val_l1(trained) < 0.75 * val_l1(untrained), (val_l1(trained), val_l1(untrained))


def test_train_pix2pix_cli_and_resume_guards(aligned_dir, tmp_path, tiny_cfg):
    runner = CliRunner()
    args = ["train", "pix2pix", "--data", str(aligned_dir), "--size", "64", "--out", str(tmp_path / "run"), "--quiet",
            "--val-fraction", "0.34", "--direction", "BtoA", "--workers", "0"]
    tiny = [a for item in ["model.ngf=4", "model.ndf=4", "train.steps=2", "train.log_every=1", "train.val_every=2",
                           "train.samples_per_class=1"] for a in ("--set", item)]
    dry = runner.invoke(cli, args + tiny + ["--dry-run"])
    assert dry.exit_code == 0 and "generator: unet_64" in dry.output and "direction: BtoA" in dry.output
    result = runner.invoke(cli, args + tiny)
    assert result.exit_code == 0, result.output
    cgan_run = train(tiny_cfg, out=tmp_path / "cgan", quiet=True)
    wrong = runner.invoke(cli, ["train", "pix2pix", "--data", str(aligned_dir), "--resume", str(cgan_run.run_dir)])
    assert wrong.exit_code == 1 and "is a 'cgan' checkpoint, not 'pix2pix'" in wrong.output
    bad_size = runner.invoke(cli, ["train", "pix2pix", "--data", str(aligned_dir), "--size", "100",
                                   "--out", str(tmp_path / "bad")])
    assert bad_size.exit_code == 1 and "multiple of" in bad_size.output
    assert not (tmp_path / "bad").exists()  # nothing written for a run that could not start


def test_eval_reports_inception_fid_of_translated_against_real_targets(trained_p2p, aligned_dir, tmp_path):
    from gantool.metrics import inception

    extractor = inception.inception_features()
    out = tmp_path / "eval.json"
    result = CliRunner().invoke(cli, ["eval", str(trained_p2p.run_dir), "--data", str(aligned_dir),
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert {"paired", "fid", "kid"} <= set(scores)  # FID/KID run by default for translation models
    if isinstance(extractor, str):
        assert scores["fid"] == {"features": "inception-v3-pool3-2048d", "status": "unavailable", "reason": extractor}
        assert "unavailable" in result.output
    else:
        assert scores["fid"]["AtoB"]["n_generated"] == 6 and scores["fid"]["AtoB"]["fid"] >= 0


def test_translate_in_bf16_and_channels_last_matches_fp32(trained_p2p):
    exact = load_translator(trained_p2p.run_dir)
    fast = load_translator(trained_p2p.run_dir, precision="bf16", channels_last=True)
    images = torch.rand(2, 3, 64, 96) * 2 - 1
    reference, result = exact(images), fast(images)
    assert result.shape == reference.shape and result.dtype == torch.float32
    assert (result - reference).abs().mean() < 2 / 255  # below one 8-bit level on average
    with pytest.raises(GantoolError, match="fp16 needs a CUDA device"):
        load_translator(trained_p2p.run_dir, precision="fp16")


def test_translate_cli_precision_option(trained_p2p, tmp_path):
    Image.fromarray(np.zeros((40, 56, 3), np.uint8)).save(tmp_path / "in.png")
    result = CliRunner().invoke(cli, ["translate", str(tmp_path / "in.png"), "--checkpoint", str(trained_p2p.run_dir),
                                      "--out-dir", str(tmp_path / "out"), "--precision", "bf16", "--channels-last"])
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out" / "in.png").size == (56, 40)
