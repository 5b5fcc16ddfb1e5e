"""The encoder recipe (learned inference for a frozen class-conditional generator), `gantool edit`
and `gantool invert`, on a tiny generator whose output depends strongly on z."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gantool.checkpoint import load_checkpoint, save_checkpoint
from gantool.config import apply_overrides, default_config, save_config, set_values
from gantool.editing import invert, load_editor, prepare_inputs
from gantool.errors import GantoolError
from gantool.recipes import RECIPES
from gantool.recipes.encoder import EncoderRecipe, file_sha256, generator_settings
from gantool.run import train
from gantool.runlog import read_records
from gantool.trainer import Trainer
from gantool_cli.main import cli

TINY_ENCODER = ["model.nef=8", "model.hidden=32", "data.batch_size=16", "train.log_every=1", "train.sample_every=2",
                "train.checkpoint_every=2", "train.val_every=2", "train.samples_per_class=2", "train.device=cpu"]


def write_generator(run_dir, seed=0):
    """A cgan run folder whose checkpoint holds a freshly initialised tiny generator, made to vary
    with z and y as much as a trained one (PyTorch's init, batch-norm statistics of a batch, a
    steeper output layer) and discriminator."""
    cfg = apply_overrides(default_config("cgan", "gen"), ["model.z_dim=8", "model.ngf=8", "model.ndf=8"])
    meta = {"class_names": [str(i) for i in range(10)]}
    torch.manual_seed(seed)
    recipe = RECIPES.get("cgan")(cfg, meta)
    for module in recipe.modules():
        if hasattr(module, "reset_parameters") and not isinstance(module, torch.nn.BatchNorm2d):
            module.reset_parameters()
    G = recipe.generators["G"]
    with torch.no_grad():
        G(torch.randn(256, 8), torch.arange(256) % 10)  # in training mode: sets the batch-norm statistics
        G.to_image.weight.mul_(40)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(cfg, run_dir / "config.yaml")
    save_checkpoint({"recipe": "cgan", "config": cfg.to_dict(), "meta": meta, "step": 0,
                     "generators": recipe.generators.state_dict(), "discriminators": recipe.discriminators.state_dict(),
                     "ema": None}, run_dir / "checkpoints" / "latest.pt")
    return run_dir


def encoder_cfg(generator, *overrides):
    cfg = set_values(default_config("encoder"), generator_settings(generator))
    return apply_overrides(cfg, TINY_ENCODER + list(overrides))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def digit_file(path, rgb=False):
    """A '7' photographed dark on light."""
    image = Image.new("RGB" if rgb else "L", (120, 160), (230, 225, 210) if rgb else 235)
    ImageDraw.Draw(image).line([(25, 30), (95, 30), (50, 135)], fill=(30, 30, 80) if rgb else 20, width=12)
    image.save(path)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(generator run, encoder run trained by `gantool train encoder`)."""
    root = tmp_path_factory.mktemp("encoder")
    generator = write_generator(root / "runs" / "gen")
    sets = [arg for item in TINY_ENCODER for arg in ("--set", item)]
    result = invoke("train", "encoder", generator, "--steps", 4, "--out", root / "runs" / "enc", "--quiet", *sets)
    assert result.exit_code == 0, result.output
    assert "trained 4 steps" in result.output
    return generator, root / "runs" / "enc"


def test_training_step_trains_the_encoder_through_the_frozen_generator(tmp_path):
    generator = write_generator(tmp_path / "gen")
    cfg = encoder_cfg(generator, "model.lambda_z=0")  # the picture loss alone: E learns only through G
    _, _, meta = EncoderRecipe.build_data(cfg)
    recipe = EncoderRecipe(cfg, meta)
    trainer = Trainer(cfg, recipe, RECIPES.get("encoder").build_data(cfg)[0], tmp_path / "run", quiet=True)
    frozen_before = {k: v.clone() for k, v in recipe.frozen.state_dict().items()}
    encoder_before = {k: v.clone() for k, v in recipe.generators["E"].state_dict().items()}
    assert "d" not in trainer.opt
    stats = trainer.train_step(want_norms=True)
    assert stats["loss_x"] > 0 and stats["grad_norm_g"] > 0 and "loss_d" not in stats
    for key, value in recipe.frozen.state_dict().items():  # weights and batch-norm statistics
        assert torch.equal(value, frozen_before[key]), key
    assert all(p.grad is None for p in recipe.frozen.parameters())
    assert not recipe.frozen.training and recipe.generators["E"].training
    changed = [k for k, v in recipe.generators["E"].state_dict().items() if not torch.equal(v, encoder_before[k])]
    assert "head.3.weight" in changed


def test_the_encoder_learns_to_invert(tmp_path):
    generator = write_generator(tmp_path / "gen")
    cfg = encoder_cfg(generator, "train.steps=60", "train.val_every=60", "data.batch_size=32", "train.ema_decay=0.9")
    untrained = EncoderRecipe(cfg, EncoderRecipe.build_data(cfg)[2])
    before = untrained.validate(untrained.generators, None, "cpu")
    result = train(cfg, out=tmp_path / "enc", quiet=True)
    after = read_records(result.run_dir, "validation")[-1]
    assert after["val_z_mse"] < 0.3 * before["val_z_mse"]
    assert after["val_recon_mse"] < 0.3 * before["val_recon_mse"]


def test_the_checkpoint_names_its_generator_and_needs_nothing_else(trained, tmp_path):
    generator, encoder_run = trained
    state = load_checkpoint(encoder_run)
    info = state["meta"]["generator"]
    file = generator / "checkpoints" / "latest.pt"
    assert info["file"] == str(file.resolve()) and info["sha256"] == file_sha256(file)
    assert info["config"]["model"]["z_dim"] == 8 and state["meta"]["class_names"][3] == "3"
    assert state["discriminators"] == {} and state["optim_d"] is None
    z, labels = torch.randn(4, 8), torch.tensor([0, 3, 5, 9])
    expected = load_editor(encoder_run).generate(z, labels)
    moved = tmp_path / "gone"
    file.rename(moved)  # the generator's file is no longer there
    try:
        editor = load_editor(encoder_run)
        torch.testing.assert_close(editor.generate(z, labels), expected, rtol=0, atol=0)
    finally:
        moved.rename(file)


def test_resume_after_the_generator_file_changed_is_exact(tmp_path):
    generator = write_generator(tmp_path / "gen")
    cfg = encoder_cfg(generator, "train.steps=4")
    straight = train(cfg, out=tmp_path / "straight", quiet=True)
    half = train(cfg, out=tmp_path / "half", quiet=True, stop_at=2)
    write_generator(generator, seed=1)  # the cgan was trained on: its file holds other weights now
    resumed = train(cfg, resume=half.run_dir, quiet=True)
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    assert a["ema"] is None  # the encoder's default: no weight average
    for section in ("generators", "recipe_state"):
        for key, value in a[section].items():
            assert torch.equal(value, b[section][key]), f"{section}.{key}"


def test_edit_draws_each_input_as_every_class(trained, tmp_path):
    _, encoder_run = trained
    files = [digit_file(tmp_path / "seven.png"), digit_file(tmp_path / "seven_rgb.jpg", rgb=True)]
    out = tmp_path / "grid.png"
    result = invoke("edit", *files, "--checkpoint", encoder_run, "--label", 7, "--to", "all", "--out", out)
    assert result.exit_code == 0, result.output
    assert "seven.png: 120x160 L; dark on light, inverted; digit" in result.output
    assert "seven_rgb.jpg: 120x160 RGB to grayscale; dark on light, inverted" in result.output
    assert "wrote" in result.output and "input | reconstruction | 0 1 2 3 4 5 6 7 8 9" in result.output
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 2 * 30, 2 + 12 * 30)  # 2 rows of 12 cells of 28 px, 2 px apart
    editor = load_editor(encoder_run)
    inputs, _ = prepare_inputs(files, editor)
    z = editor.encode(inputs)
    as_three = editor.generate(z[1:], torch.tensor([3]))[0, 0]
    cell = grid[2 + 30:2 + 30 + 28, 2 + 5 * 30:2 + 5 * 30 + 28]  # second row, the column of class 3
    expected = ((as_three.clamp(-1, 1) + 1) * 127.5).round().numpy()
    assert np.abs(cell.astype(float) - expected).max() <= 1


def test_edit_to_some_classes_and_with_the_judge(trained, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from gantool.metrics.judge import JUDGE_FILE, JUDGE_INFO, DigitJudge, default_cache_dir

    _, encoder_run = trained
    cache = default_cache_dir()  # the test's own (conftest)
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in DigitJudge().state_dict().items()}, str(cache / JUDGE_FILE))
    (cache / JUDGE_INFO).write_text(json.dumps({"test_accuracy": 0.99}))
    image = digit_file(tmp_path / "digit.png")
    result = invoke("edit", image, "--checkpoint", encoder_run, "--to", "3,5", "--out", tmp_path / "e.png",
                    "--refine-steps", 3)
    assert result.exit_code == 0, result.output
    assert "by the digit judge (p = " in result.output and "input | reconstruction | 3 5" in result.output
    assert Image.open(tmp_path / "e.png").size == (2 + 4 * 30, 32)


def test_a_generator_checkpoint_finds_its_encoder_by_content(trained, tmp_path, monkeypatch):
    generator, encoder_run = trained
    monkeypatch.chdir(tmp_path)  # no ./runs here: the encoder is found beside the generator's run folder
    editor = load_editor(generator)
    assert editor.checkpoint == encoder_run / "checkpoints" / "latest.pt"
    assert "using the encoder" in editor.notes[0]
    other = write_generator(tmp_path / "runs" / "other", seed=2)  # no encoder was trained for this one
    with pytest.raises(GantoolError, match="no encoder trained for it"):
        load_editor(other)


def test_invert_refines_the_code_and_writes_the_loss_curve(trained, tmp_path):
    _, encoder_run = trained
    editor = load_editor(encoder_run)
    z, labels = torch.randn(1, 8, generator=torch.Generator().manual_seed(3)), torch.tensor([4])
    sample = tmp_path / "sample.png"  # a picture the generator can draw exactly
    Image.fromarray(((editor.generate(z, labels)[0, 0] + 1) * 127.5).round().byte().numpy()).save(sample)
    out = tmp_path / "out" / "recon.png"
    out.parent.mkdir()
    result = invoke("invert", sample, "--checkpoint", encoder_run, "--label", 4, "--as-is", "--steps", 60,
                    "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads(out.with_suffix(".json").read_text())
    curve = record["curve"]
    assert len(curve) == 61 and curve[-1]["pixel_mse"] < 0.5 * curve[0]["pixel_mse"]
    assert record["images"][0]["class"] == "4" and len(record["images"][0]["z"]) == 8
    assert (out.parent / "recon_loss.png").is_file() and Image.open(out).size == (2 + 3 * 30, 32)
    assert "pixels alone" in result.output  # no judge cached in this test


def test_a_batch_inverts_as_its_images_would_one_by_one(trained):
    _, encoder_run = trained
    editor = load_editor(encoder_run)
    images = editor.generate(torch.randn(3, 8), torch.tensor([1, 2, 3]))
    labels = torch.tensor([1, 2, 3])
    together = invert(editor, images, labels, steps=15).z
    alone = torch.cat([invert(editor, images[i:i + 1], labels[i:i + 1], steps=15).z for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("command, options", [
    (["edit"], ["--checkpoint", "--to", "--label", "--out", "--as-is", "--refine-steps"]),
    (["invert"], ["--checkpoint", "--out", "--steps", "--lr", "--feature-weight"]),
    (["eval", "encoder"], ["--data", "--per-class", "--refine-steps", "--probe-labels", "--out"]),
])
def test_help_explains_the_options(command, options):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output
    for option in options:
        assert option in result.output


def test_train_encoder_help_and_dry_run(trained):
    generator, _ = trained
    result = invoke("train", "encoder", "--help")
    assert result.exit_code == 0 and "CKPT" in result.output and "--lambda-z" in result.output
    result = invoke("train", "encoder", generator, "--dry-run")
    assert result.exit_code == 0 and "recipe: encoder" in result.output
    assert f"generator: {generator.resolve()}" in result.output


def _bad_inputs(generator, encoder, tmp):
    digit = digit_file(tmp / "d.png")
    blank = tmp / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    text = tmp / "text.png"
    text.write_text("hello")
    (tmp / "exists.png").write_bytes(b"")
    from gantool.checkpoint import export_generator

    exported = export_generator(encoder / "checkpoints" / "latest.pt", tmp / "exported")
    return [
        (["edit", digit, "--checkpoint", exported, "--label", 1, "--out", tmp / "o.png"], "is an exported encoder"),
        (["edit", blank, "--checkpoint", encoder, "--label", 1, "--out", tmp / "o.png"], "no digit found"),
        (["edit", text, "--checkpoint", encoder, "--label", 1, "--out", tmp / "o.png"], "cannot read image"),
        (["edit", tmp / "missing.png", "--checkpoint", encoder, "--out", tmp / "o.png"], "does not exist"),
        (["edit", digit, "--checkpoint", encoder, "--label", 1, "--to", "11", "--out", tmp / "o.png"],
         "is not a class of this model"),
        (["edit", digit, "--checkpoint", encoder, "--label", "cat", "--out", tmp / "o.png"], "is not a class"),
        (["edit", digit, "--checkpoint", encoder, "--out", tmp / "o.png"], "no cached digit judge"),
        (["edit", digit, "--checkpoint", encoder, "--label", 1, "--out", digit], "is one of the input images"),
        (["edit", digit, "--checkpoint", encoder, "--label", 1, "--out", tmp / "exists.png"], "exists; pass --overwrite"),
        (["invert", digit, "--checkpoint", encoder, "--label", 1, "--out", tmp / "exists.png"], "exists; pass"),
        (["edit", digit, "--checkpoint", write_generator(tmp / "lonely", seed=3), "--label", 1, "--out", tmp / "o.png"],
         "no encoder trained for it"),
        (["train", "encoder"], "give the class-conditional generator to invert"),
        (["train", "encoder", encoder], "holds a 'encoder' model; an encoder inverts a class-conditional"),
        (["train", "encoder", generator, "--set", "data.image_size=32"], "does not fit the generator"),
    ]


def test_bad_inputs_are_one_line_and_write_nothing(trained, tmp_path):
    generator, encoder = trained
    for args, message in _bad_inputs(generator, encoder, tmp_path):
        before = sorted(p.name for p in tmp_path.rglob("*"))
        result = invoke(*args)
        assert result.exit_code != 0, args
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
        lines = [line for line in result.output.splitlines() if line.startswith("Error")]
        assert len(lines) == 1, result.output
        assert sorted(p.name for p in tmp_path.rglob("*")) == before, args


def _write_idx(folder, images, labels, train):
    """MNIST's IDX files (uncompressed) for `images` (N, 28, 28) uint8 and `labels`."""
    from gantool.data.digits import MNIST_FILES

    image_name, label_name = MNIST_FILES[train]
    n = len(images)
    (folder / image_name).write_bytes(bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (n, 28, 28))
                                      + images.astype(np.uint8).tobytes())
    (folder / label_name).write_bytes(bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + labels.astype(np.uint8).tobytes())


def test_eval_encoder_measures_everything_on_tiny_data(trained, tmp_path):
    """The whole measurement on a made-up MNIST (noise, 10 digits of each class) with an untrained
    judge: every number is there and in range; what they are worth is the README's business."""
    from safetensors.torch import save_file

    from gantool.metrics.judge import JUDGE_FILE, JUDGE_INFO, DigitJudge, default_cache_dir

    _, encoder_run = trained
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for train_split, n in ((True, 120), (False, 40)):
        _write_idx(mnist, rng.integers(0, 256, (n, 28, 28)), np.arange(n) % 10, train_split)
    cache = default_cache_dir()
    cache.mkdir(parents=True)
    torch.manual_seed(0)
    save_file({k: v.contiguous() for k, v in DigitJudge().state_dict().items()}, str(cache / JUDGE_FILE))
    (cache / JUDGE_INFO).write_text(json.dumps({"test_accuracy": 0.99}))
    out = tmp_path / "eval.json"
    result = invoke("eval", "encoder", encoder_run, "--data", mnist, "--per-class", 2, "--refine-steps", 5,
                    "--probe-labels", "10,20", "--probe-repeats", 2, "--out", out)
    assert result.exit_code == 0, result.output
    record = json.loads(out.read_text())
    assert record["n"] == 20 and record["refined"]["steps"] == 5
    for key in ("random_sample_of_class", "encoder", "refined"):
        assert 0 <= record[key]["pixel_mse"] <= 1 and record[key]["judge_feature_mse"] >= 0
    assert record["refined"]["pixel_mse"] < record["encoder"]["pixel_mse"]
    assert np.array(record["edit_encoder"]["matrix"]).shape == (10, 10)
    assert -1 <= record["style"]["slant_correlation"] <= 1
    probes = record["probe"]
    assert set(probes) == {"pixels", "encoder_z", "discriminator"}
    assert probes["pixels"]["dim"] == 784 and probes["encoder_z"]["dim"] == 8 and probes["discriminator"]["dim"] == 32
    assert len(probes["discriminator"]["10"]["runs"]) == 2
    assert Image.open(out.with_suffix(".png")).size == (2 + 12 * 30, 2 + 10 * 30)
    assert "edit accuracy, encoder codes" in result.output and "probe discriminator" in result.output


def test_the_probe_is_scikit_learns_logistic_regression():
    sklearn = pytest.importorskip("sklearn.linear_model")
    from gantool.metrics.probe import fit_logistic

    rng = np.random.default_rng(1)
    features = rng.normal(size=(60, 5)) + np.repeat(np.eye(3, 5) * 2, 20, axis=0)
    labels = np.repeat(np.arange(3), 20)
    weight, bias = fit_logistic(torch.from_numpy(features), torch.from_numpy(labels), 3)
    reference = sklearn.LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(features, labels)
    ours = torch.from_numpy(features) @ weight + bias
    theirs = reference.decision_function(features)
    # both minimise the same objective; softmax logits agree up to a shared shift per row
    torch.testing.assert_close((ours - ours.mean(1, keepdim=True)).numpy(), theirs - theirs.mean(1, keepdims=True),
                               rtol=1e-4, atol=1e-4)


def test_slant_and_stroke_width_measures():
    from gantool.metrics.encoder import slant, widths

    image = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(image).line([(10, 24), (18, 4)], fill=255, width=3)  # leaning right
    upright = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(upright).line([(14, 24), (14, 4)], fill=255, width=3)
    batch = torch.from_numpy(np.stack([np.asarray(image), np.asarray(upright)])).float()[:, None] / 127.5 - 1
    s = slant(batch)
    assert s[0] == pytest.approx(8 / 20, abs=0.05) and s[1] == pytest.approx(0, abs=1e-3)
    assert widths(batch)[1] == pytest.approx(3, abs=0.4)
