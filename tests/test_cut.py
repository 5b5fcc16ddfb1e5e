"""CUT / FastCUT: the PatchNCE loss at known values, patch sampling and projection, anti-aliased
resampling, the generator's feature layers, the recipe in the trainer (smoke, exact resume,
translate, eval, the CLI), and the SWD validation metric."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import export_generator, load_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.errors import GantoolError
from gantool.metrics.swd import swd
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.networks.antialias import BlurDownsample, BlurUpsample
from gantool.patchnce import PatchProjection, gather_patches, patch_nce_loss, sample_patch_ids
from gantool.run import train
from gantool.runlog import read_records
from gantool.translate import load_translator
from gantool_cli.main import cli
from tests.conftest import straight_and_resumed

T = 0.07
TINY_CUT = ["model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.image_size=32", "train.steps=4",
            "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2", "train.val_every=2",
            "train.samples_per_class=2", "train.device=cpu", "model.nce_patches=16", "model.head_width=8"]


@pytest.fixture
def noise_domains(tmp_path):
    """trainA/ (5) and trainB/ (4) of smooth random colour fields, testA/ + testB/ (3 each, same names)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "domains"
    for folder, count in (("trainA", 5), ("trainB", 4), ("testA", 3), ("testB", 3)):
        (root / folder).mkdir(parents=True)
        for i in range(count):
            coarse = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
            Image.fromarray(coarse).resize((48, 40), Image.BILINEAR).save(root / folder / f"{i}.png")
    return root


def _cut_cfg(root, *extra):
    return apply_overrides(default_config("cut"), TINY_CUT + [f"data.root={root}", *extra])


# ------------------------------------------------------------------ PatchNCE
def _closed_form(patches: int) -> float:
    """Loss per patch for orthonormal keys and query = key: logits [1, 0 (x P-1), -10] / T."""
    return -1 / T + math.log(math.exp(1 / T) + (patches - 1) + math.exp(-10 / T))


def test_patch_nce_of_identical_features_is_the_closed_form_and_the_least_of_all_assignments():
    keys = torch.eye(8)[:4][None]  # one image, 4 orthonormal patch features of dimension 8
    identical = patch_nce_loss(keys.clone(), keys, T)
    assert identical.shape == (1, 4)
    torch.testing.assert_close(identical, torch.full((1, 4), _closed_form(4)))
    for order in itertools.permutations(range(4)):  # every other assignment of the features to locations
        if order != (0, 1, 2, 3):
            assert patch_nce_loss(keys[:, list(order)], keys, T).mean() > identical.mean() + 1


def test_shuffled_patch_locations_raise_the_loss():
    generator = torch.Generator().manual_seed(0)
    keys = torch.nn.functional.normalize(torch.randn(2, 64, 16, generator=generator), dim=-1)
    queries = torch.nn.functional.normalize(keys + 0.1 * torch.randn(2, 64, 16, generator=generator), dim=-1)
    matched = patch_nce_loss(queries, keys, T).mean()
    shuffled = patch_nce_loss(queries[:, torch.randperm(64, generator=generator)], keys, T).mean()
    assert matched < 1.0 < math.log(65) < shuffled  # log(65): the loss of a query unrelated to its 64 candidates


def test_patch_nce_negatives_come_from_the_same_image_and_keys_get_no_gradient():
    generator = torch.Generator().manual_seed(1)
    keys = torch.nn.functional.normalize(torch.randn(2, 8, 4, generator=generator), dim=-1)
    queries = torch.nn.functional.normalize(torch.randn(2, 8, 4, generator=generator), dim=-1).requires_grad_()
    keys.requires_grad_()
    loss = patch_nce_loss(queries, keys, T)
    other = keys.detach().clone()
    other[1] = torch.nn.functional.normalize(torch.randn(8, 4, generator=generator), dim=-1)
    torch.testing.assert_close(patch_nce_loss(queries, other, T)[0], loss[0])  # image 1's keys do not matter to 0
    loss.sum().backward()
    assert keys.grad is None and queries.grad is not None
    with pytest.raises(ValueError, match="batch, patches, dim"):
        patch_nce_loss(queries[0], keys[0], T)


def test_patch_nce_matches_the_reference_formula():
    """Cross-entropy over [positive, every patch with itself replaced by -10] / T, written out."""
    generator = torch.Generator().manual_seed(2)
    q = torch.nn.functional.normalize(torch.randn(1, 5, 3, generator=generator), dim=-1)
    k = torch.nn.functional.normalize(torch.randn(1, 5, 3, generator=generator), dim=-1)
    expected = []
    for p in range(5):
        logits = [float(q[0, p] @ k[0, p])] + [(-10.0 if j == p else float(q[0, p] @ k[0, j])) for j in range(5)]
        logits = torch.tensor(logits) / T
        expected.append(float(-torch.log_softmax(logits, 0)[0]))
    torch.testing.assert_close(patch_nce_loss(q, k, T)[0], torch.tensor(expected))


def test_patch_ids_come_from_each_images_seed_and_projections_have_unit_length():
    ids = sample_patch_ids(100, 16, torch.tensor([5, 9]), salt=3, device=torch.device("cpu"))
    assert ids.shape == (2, 16) and len(set(ids[0].tolist())) == 16
    assert torch.equal(ids[0], sample_patch_ids(100, 16, torch.tensor([5]), salt=3, device=torch.device("cpu"))[0])
    assert not torch.equal(ids[0], ids[1])
    assert sample_patch_ids(10, 16, torch.tensor([5]), 0, torch.device("cpu")).shape == (1, 10)  # all there are
    feature = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
    picked = gather_patches(feature, torch.tensor([[0, 7], [19, 1]]))
    assert torch.equal(picked[0, 1], feature[0, :, 1, 2]) and torch.equal(picked[1, 0], feature[1, :, 3, 4])
    heads = PatchProjection([3, 6], width=8)
    out = heads([torch.randn(2, 3, 4, 4), torch.randn(2, 6, 2, 2)], [torch.tensor([[0, 1], [2, 3]])] * 2)
    assert [o.shape for o in out] == [(2, 2, 8), (2, 2, 8)]
    # unit length up to the reference's eps: x / (|x| + 1e-7), with |x| ~ 1e-3 from the tiny initial weights
    torch.testing.assert_close(out[0].norm(dim=-1), torch.ones(2, 2), atol=2e-3, rtol=0)
    first = heads.mlps[0][0].weight
    assert first.std() < 0.02 and torch.all(heads.mlps[0][0].bias == 0)  # Xavier-normal, gain 0.02


# ------------------------------------------------------------------ networks
def test_antialiased_resampling_keeps_constants_and_sizes():
    x = torch.full((1, 2, 6, 10), 0.5)
    torch.testing.assert_close(BlurDownsample(2)(x), torch.full((1, 2, 3, 5), 0.5))
    torch.testing.assert_close(BlurUpsample(2)(x), torch.full((1, 2, 12, 20), 0.5))
    assert BlurDownsample(2).state_dict() == {}  # constant filters: not part of checkpoints
    plain = DISCRIMINATORS.get("patchgan")(in_channels=3, ndf=4, norm="instance")
    blurred = DISCRIMINATORS.get("patchgan")(in_channels=3, ndf=4, norm="instance", antialias=True)
    for side in (64, 36):
        image = torch.randn(1, 3, side, side)
        assert blurred(image).shape == plain(image).shape
    # the same learnt tensors (strides differ, shapes do not); the blur layers add none
    assert [v.shape for v in plain.state_dict().values()] == [v.shape for v in blurred.state_dict().values()]


def test_antialiased_generator_exposes_the_reference_feature_layers():
    net = GENERATORS.get("resnet_9blocks")(ngf=4, downsampling="antialias", upsampling="antialias")
    x = torch.randn(2, 3, 32, 48)
    assert net(x).shape == (2, 3, 32, 48)
    features = net(x, layers=[0, 4, 8, 12, 16])
    assert [tuple(f.shape) for f in features] == [(2, 3, 38, 54), (2, 8, 32, 48), (2, 16, 16, 24),
                                                  (2, 16, 8, 12), (2, 16, 8, 12)]
    assert net.feature_channels([0, 4, 8, 12, 16]) == [3, 8, 16, 16, 16]
    assert torch.equal(features[0], torch.nn.functional.pad(x, (3, 3, 3, 3), mode="reflect"))
    with pytest.raises(GantoolError, match=r"must lie in 0\.\.31"):
        net(x, layers=[40])
    with pytest.raises(GantoolError, match="unknown downsampling"):
        GENERATORS.get("resnet_6blocks")(ngf=4, downsampling="pool")


# ------------------------------------------------------------------ the recipe
@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_cut_trains_checkpoints_its_heads_and_translates_one_way(mode, noise_domains, tmp_path):
    cfg = _cut_cfg(noise_domains, f"model.mode={mode}", f"data.val={noise_domains}")
    result = train(cfg, out=tmp_path / "run", quiet=True)
    records = read_records(result.run_dir, "training")
    assert len(records) == 4 and all(math.isfinite(r["loss_nce"]) for r in records)
    assert ("loss_nce_identity" in records[0]) == (mode == "cut")
    assert [r["val_swd"] > 0 for r in read_records(result.run_dir, "validation")] == [True, True]
    assert (result.run_dir / "checkpoints" / "best.pt").is_file()
    state = load_checkpoint(result.checkpoint)
    assert state["recipe"] == "cut" and set(state["optim_auxiliaries"]) == {"heads"}
    assert all(k.startswith("heads.mlps.") for k in state["auxiliaries"])
    assert not any("mlps" in k for k in state["generators"])
    exported = export_generator(result.checkpoint, tmp_path / "export")
    assert "heads" not in (exported / "generator.safetensors").read_bytes().decode("latin-1")
    translator = load_translator(result.run_dir)
    assert translator(torch.rand(1, 3, 44, 60) * 2 - 1).shape == (1, 3, 44, 60)  # any size
    with pytest.raises(GantoolError, match="one direction only"):
        load_translator(result.run_dir, direction="b2a")


def test_keys_from_the_translation_pass_equal_a_second_pass(noise_domains):
    """PatchNCE's keys are G's features of the input taken from the pass that translates it; the
    reference computes them in a second pass of the same G: the values are identical."""
    from gantool.recipes import RECIPES

    cfg = _cut_cfg(noise_domains)
    recipe = RECIPES.get("cut")(cfg, {})
    batch = {"A": torch.rand(2, 3, 32, 32) * 2 - 1, "B": torch.rand(2, 3, 32, 32) * 2 - 1, "seed": torch.tensor([3, 4])}
    fakes = recipe.generate(batch)
    with torch.no_grad():
        again = recipe.generators["G"](batch["A"], layers=recipe.layers)
        assert torch.equal(recipe.generators["G"](batch["A"]), fakes["fake_b"].detach())
    for i, feature in enumerate(again):
        assert torch.equal(fakes[f"keys_a_{i}"], feature) and not fakes[f"keys_a_{i}"].requires_grad
    flipped = RECIPES.get("cut")(apply_overrides(cfg, ["model.mode=fastcut"]), {}).generate(batch)
    assert "keys_a_0" not in flipped  # the translation pass saw flipped inputs: keys need their own pass


def test_fastcut_mode_values_and_explicit_ones():
    m = default_config("cut").model
    assert (m.setting("lambda_nce"), m.setting("nce_identity"), m.setting("flip_equivariance")) == (1.0, True, False)
    fast = apply_overrides(default_config("cut"), ["model.mode=fastcut"]).model
    assert (fast.setting("lambda_nce"), fast.setting("nce_identity"), fast.setting("flip_equivariance")) == (10.0, False, True)
    mixed = apply_overrides(default_config("cut"), ["model.mode=fastcut", "model.lambda_nce=3"]).model
    assert mixed.setting("lambda_nce") == 3.0
    with pytest.raises(GantoolError, match="nce_layers"):
        apply_overrides(default_config("cut"), ["model.nce_layers=a,b"])


@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_cut_resume_is_exact(mode, noise_domains, tmp_path):
    cfg = _cut_cfg(noise_domains, f"model.mode={mode}", "train.steps=6", "train.checkpoint_every=3",
                   "optim.lr_decay_steps=3")
    straight, resumed = straight_and_resumed(cfg, tmp_path)
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for section in ("generators", "discriminators", "auxiliaries"):
        for key, value in a[section].items():
            assert torch.equal(value, b[section][key]), (section, key)
    losses = lambda run: [(r["loss_g"], r["loss_nce"]) for r in read_records(run, "training")]  # noqa
    assert losses(straight.run_dir) == losses(resumed.run_dir)


def test_cut_bf16_trains(noise_domains, tmp_path):
    result = train(_cut_cfg(noise_domains, "train.precision=bf16", "train.steps=2"), out=tmp_path / "run", quiet=True)
    assert math.isfinite(result.last_metrics["loss_nce"])


def test_cut_needs_equal_channels(noise_domains, tmp_path):
    with pytest.raises(GantoolError, match="same channels"):
        train(_cut_cfg(noise_domains, "data.channels_b=1"), out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()


def test_cut_cli_train_eval_and_report(noise_domains, tmp_path):
    run = tmp_path / "run"
    args = ["train", "cut", "--data", str(noise_domains), "--size", "32", "--mode", "fastcut", "--generator",
            "resnet_6blocks", "--steps", "2", "--out", str(run), "--quiet", "--device", "cpu",
            *[a for item in ("model.ngf=4", "model.ndf=4", "model.nce_patches=8", "model.head_width=8")
              for a in ("--set", item)]]
    dry = CliRunner().invoke(cli, args + ["--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "mode: fastcut" in dry.output and "steps: 2" in dry.output
    epochs = CliRunner().invoke(cli, ["train", "cut", "--data", str(noise_domains), "--mode", "fastcut", "--dry-run"])
    assert "epochs: 150" in epochs.output and "decay_epochs: 50" in epochs.output
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    evaluated = CliRunner().invoke(cli, ["eval", "cut", "--checkpoint", str(run), "--a", str(noise_domains / "testA"),
                                         "--b", str(noise_domains / "testB"), "--pairs", "--device", "cpu"])
    assert evaluated.exit_code == 0, evaluated.output
    assert "SWD (x 1e3) of 3 translations to 3 B images at 32 px" in evaluated.output
    scores = json.loads((run / "eval_cut.json").read_text())
    assert scores["paired_a2b"]["n"] == 3 and scores["swd_a2b"]["swd"] > 0
    suite = CliRunner().invoke(cli, ["eval", str(run), "--data", str(noise_domains), "--device", "cpu",
                                     "--metrics", "swd,fid"])
    assert suite.exit_code == 0, suite.output
    metrics = json.loads((run / "eval.json").read_text())
    assert metrics["swd"]["n_translated"] == 3
    # Inception FID of G(testA) against testB, one way; "unavailable" (with the reason) without weights
    assert metrics["fid"].get("status") == "unavailable" or set(metrics["fid"]) == {"features", "a2b"}
    report = CliRunner().invoke(cli, ["report", str(run)])
    assert report.exit_code == 0, report.output
    assert "eval_cut.json" in (run / "report" / "report.html").read_text()


def test_swd_tells_distributions_apart():
    generator = torch.Generator().manual_seed(0)
    noise = torch.rand(12, 3, 32, 32, generator=generator) * 2 - 1
    more_noise = torch.rand(12, 3, 32, 32, generator=generator) * 2 - 1
    smooth = torch.nn.functional.interpolate(torch.rand(12, 3, 4, 4, generator=generator) * 2 - 1, size=32,
                                             mode="bilinear")
    same, different = swd(noise, more_noise)["swd"], swd(noise, smooth)["swd"]
    assert 0 < same < different / 3
    assert swd(noise, more_noise) == swd(noise, more_noise)  # seeded
    with pytest.raises(GantoolError, match="at least 16 px"):
        swd(noise[:, :, :8, :8], smooth[:, :, :8, :8])
