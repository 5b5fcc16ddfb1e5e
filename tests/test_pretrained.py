"""Issue 15: published models (download against a local server only), pretrained:NAME, fine-tuning
with --init-from, `gantool translate img.png` without --checkpoint, --device auto by default."""

import http.server
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from gantool.checkpoint import load_checkpoint
from gantool.config import apply_overrides, default_config
from gantool.pretrained import MODELS, cache_dir, find
from gantool.run import train
from gantool_cli.main import cli
from tests.conftest import REPO, write_random_pairs

REFERENCE = Path(os.environ.get("GANTOOL_REFERENCE_MODELS", REPO.parent / "shared" / "reference-models"))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def reference_file(case: str) -> bytes:
    path = REFERENCE / case / "latest_net_G.pth"
    if not path.is_file():
        pytest.skip(f"reference models not found at {REFERENCE} (set GANTOOL_REFERENCE_MODELS)")
    return path.read_bytes()


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self):  # noqa: N802  (the http.server API)
        name = self.path.lstrip("/")
        cut = name.startswith("cut/")
        body = self.files.get(name.removeprefix("cut/"))
        if body is None:
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if cut else body)  # cut: the connection drops halfway
        self.wfile.flush()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A file server on 127.0.0.1: the only 'internet' these tests reach."""
    handler = type("Files", (_Files,), {"files": {}})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler.files, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_table_lists_the_23_published_models():
    assert len(MODELS) == 23
    assert {m.recipe for m in MODELS.values()} == {"pix2pix", "cyclegan"}
    assert sum(m.recipe == "pix2pix" for m in MODELS.values()) == 5
    assert find("edges2shoes").url == "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/edges2shoes.pth"
    assert find("horse2zebra").url == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
    # the reference's instructions: these pix2pix models are trained BtoA on their datasets
    assert [n for n, m in MODELS.items() if m.direction == "BtoA"] == ["day2night", "pix2pix/map2sat",
                                                                        "pix2pix/facades_label2photo"]
    listing = invoke("pretrained", "list")
    assert listing.exit_code == 0
    for name in MODELS:
        assert name in listing.output
    ambiguous = invoke("pretrained", "get", "sat2map")
    assert ambiguous.exit_code == 1 and "say pix2pix/sat2map or cyclegan/sat2map" in ambiguous.output
    unknown = invoke("pretrained", "get", "cats2dogs")
    assert unknown.exit_code == 1 and "no published model is called 'cats2dogs'" in unknown.output


def test_get_downloads_imports_caches_and_translates(server, tmp_path):
    files, base = server
    files["horse2zebra.pth"] = reference_file("cyclegan_resnet6_instance")
    result = invoke("pretrained", "get", "horse2zebra", "--url", f"{base}/horse2zebra.pth", "--quiet")
    assert result.exit_code == 0, result.output
    cached = cache_dir() / "horse2zebra.pt"
    assert f"cached: {cached}" in result.output
    assert "gantool translate IMAGE --checkpoint pretrained:horse2zebra" in result.output
    state = torch.load(cached, weights_only=True)  # a stranger's file cannot run code
    assert state["recipe"] == "cyclegan" and state["config"]["model"]["dropout"] == 0
    assert not list(cache_dir().glob(".*part"))
    again = invoke("pretrained", "get", "horse2zebra", "--url", f"{base}/missing.pth")
    assert again.exit_code == 0 and "is cached" in again.output  # no second download without --force
    image = tmp_path / "horse.png"
    Image.fromarray(np.full((60, 52, 3), 120, np.uint8)).save(image)
    out = tmp_path / "out"
    translated = invoke("translate", image, "--checkpoint", "pretrained:horse2zebra", "--out-dir", out, "--quiet")
    assert translated.exit_code == 0, translated.output
    assert Image.open(out / "horse.png").size == (52, 60)
    back = invoke("translate", image, "--checkpoint", "pretrained:horse2zebra", "--direction", "b2a",
                  "--out-dir", tmp_path / "back")
    assert back.exit_code == 1 and len(back.output.strip().splitlines()) == 1


def test_pix2pix_models_get_the_reference_options(server):
    files, base = server
    files["day2night.pth"] = reference_file("pix2pix_unet128_batch")
    result = invoke("pretrained", "get", "day2night", "--url", f"{base}/day2night.pth", "--quiet")
    assert result.exit_code == 0, result.output
    cfg = load_checkpoint(cache_dir() / "day2night.pt")["config"]
    assert cfg["recipe"] == "pix2pix" and cfg["data"]["direction"] == "BtoA"
    assert cfg["model"]["norm"] == "batch" and cfg["model"]["dropout"] == 0.5
    assert cfg["model"]["generator"] == "unet_128"  # what the tensors say (this fixture is a unet_128)


@pytest.mark.parametrize("path, message", [("cut/edges2shoes.pth", "broke off"), ("nothing.pth", "HTTP 404")])
def test_failed_downloads_cache_nothing(server, path, message):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    result = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/{path}", "--quiet")
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and message in errors[0] and "nothing was cached" in errors[0], result.output
    assert not cache_dir().exists() or not any(cache_dir().iterdir())


def test_an_unreachable_server_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = invoke("pretrained", "get", "edges2shoes", "--url", f"http://127.0.0.1:{port}/x.pth", "--quiet")
    assert result.exit_code == 1 and "could not reach" in result.output and "nothing was cached" in result.output


def test_a_model_not_yet_downloaded_says_how_to_get_it(tmp_path):
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    result = invoke("translate", image, "--checkpoint", "pretrained:edges2shoes")
    assert result.exit_code == 2
    assert "run `gantool pretrained get edges2shoes`" in result.output


# ------------------------------------------------------------------ fine-tuning
@pytest.fixture
def pairs(tmp_path):
    return write_random_pairs(tmp_path / "pairs", 3)


TINY = ["model.ngf=4", "model.ndf=4", "model.generator=unet_64", "data.image_size=64", "train.steps=2",
        "train.log_every=1", "train.sample_every=2", "train.checkpoint_every=2", "train.samples_per_class=1",
        "train.device=cpu"]


def test_init_from_starts_with_the_models_weights_and_architecture(pairs, tmp_path):
    from gantool.recipes import RECIPES
    from gantool.warmstart import init_config, load_initial_weights

    source = train(apply_overrides(default_config("pix2pix"), TINY + [f"data.root={pairs}"]),
                   out=tmp_path / "source", quiet=True)
    fresh = apply_overrides(default_config("pix2pix"), [f"data.root={pairs}", "data.image_size=64"])
    cfg, start = init_config(fresh, source.run_dir)
    assert cfg.model.ngf == 4 and cfg.model.generator == "unet_64"  # the checkpoint's architecture
    recipe = RECIPES.get("pix2pix")(cfg, {})
    load_initial_weights(recipe.generators, recipe.discriminators, start)
    saved = load_checkpoint(source.run_dir)
    for key, tensor in recipe.generators.state_dict().items():
        assert torch.equal(tensor, saved["generators"][key])
    for key, tensor in recipe.discriminators.state_dict().items():
        assert torch.equal(tensor, saved["discriminators"][key])
    result = invoke("train", "pix2pix", "--data", pairs, "--init-from", source.run_dir, "--steps", 2, "--size", 64,
                    "--out", tmp_path / "tuned", "--quiet", "--set", "train.log_every=1")
    assert result.exit_code == 0, result.output
    tuned = load_checkpoint(tmp_path / "tuned")
    assert tuned["step"] == 2 and tuned["meta"]["init_from"] == str(source.run_dir)
    assert tuned["optim_g"]["state"]  # fresh optimizers, then trained
    clash = invoke("train", "pix2pix", "--data", pairs, "--init-from", source.run_dir, "--generator", "unet_128",
                   "--out", tmp_path / "clash")
    assert clash.exit_code == 1 and "--generator (model.generator: 'unet_128' given, 'unet_64' in the checkpoint)" \
        in clash.output
    assert not (tmp_path / "clash").exists()
    both = invoke("train", "pix2pix", "--resume", source.run_dir, "--init-from", source.run_dir)
    assert both.exit_code != 0 and "not both" in both.output


def test_fine_tuning_an_imported_model_and_refusing_to_resume_it(server, pairs, tmp_path):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    assert invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet").exit_code == 0
    result = invoke("train", "pix2pix", "--data", pairs, "--init-from", "pretrained:edges2shoes", "--steps", 1,
                    "--size", 128, "--out", tmp_path / "shoes", "--quiet")
    assert result.exit_code == 0, result.output
    assert "discriminator D starts from scratch" in result.output
    resumed = invoke("train", "pix2pix", "--resume", cache_dir() / "edges2shoes.pt")
    assert resumed.exit_code == 1 and "no training state to resume" in resumed.output and "--init-from" in resumed.output


# ------------------------------------------------------------------ translate img.png
def test_translate_without_checkpoint_uses_the_newest_translation_run(pairs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    nothing = invoke("translate", image)
    assert nothing.exit_code == 1 and "no --checkpoint given and no" in nothing.output
    assert "pretrained:NAME" in nothing.output
    older = train(apply_overrides(default_config("pix2pix", "older"), TINY + [f"data.root={pairs}"]), quiet=True)
    time.sleep(0.05)
    newer = train(apply_overrides(default_config("pix2pix", "newer"), TINY + [f"data.root={pairs}"]), quiet=True)
    assert older.run_dir != newer.run_dir
    result = invoke("translate", image, "--quiet")
    assert result.exit_code == 0, result.output
    assert f"using the newest translation checkpoint under runs/: {newer.checkpoint}" in result.output
    assert (tmp_path / "translated" / "x.png").is_file()


@pytest.mark.parametrize("command", [["translate"], ["generate"], ["interpolate"], ["eval", "pix2pix"],
                                     ["eval", "cyclegan"], ["eval", "checkpoint"]])
def test_model_commands_default_to_device_auto(command):
    import click

    group = cli
    for name in command:
        group = group.commands[name]
    [device] = [p for p in group.params if p.name == "device"]
    assert isinstance(device, click.Option) and device.default == "auto"
