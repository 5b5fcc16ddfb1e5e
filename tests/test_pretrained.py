"""Issue 15: published models (download against a local server only), pretrained:NAME, fine-tuning
with --init-from, `gantool translate img.png` without --checkpoint, --device auto by default."""

import hashlib
import http.server
import json
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
from gantool import pretrained
from gantool.errors import GantoolError
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
    assert find("edges2shoes").url == "https://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/edges2shoes.pth"
    assert find("horse2zebra").url == "https://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/horse2zebra.pth"
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
    # issue 30, item 10: the download's sha256 is printed and recorded, with the cached file's
    digest = hashlib.sha256(files["horse2zebra.pth"]).hexdigest()
    record = json.loads((cache_dir() / "horse2zebra.sha256.json").read_text())
    assert record["download_sha256"] == digest and record["url"] == f"{base}/horse2zebra.pth"
    assert record["checkpoint_sha256"] == hashlib.sha256(cached.read_bytes()).hexdigest()
    assert f"sha256 of horse2zebra.pth as downloaded from {base}/horse2zebra.pth: {digest}" in result.output
    again = invoke("pretrained", "get", "horse2zebra", "--url", f"{base}/missing.pth")
    assert again.exit_code == 0 and "is cached" in again.output  # no second download without --force
    assert f"sha256 {record['checkpoint_sha256']} as recorded" in again.output
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


# ------------------------------------------------------------------ issue 30: https, sha256, the cache
def test_https_is_asked_first_and_plain_http_only_when_it_cannot_connect(server, monkeypatch):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    port = base.rsplit(":", 1)[1]
    # the local server speaks plain http only: the https handshake fails, as on a host without TLS
    monkeypatch.setattr(pretrained, "PIX2PIX_URL", f"https://127.0.0.1:{port}/{{file}}.pth")
    result = invoke("pretrained", "get", "edges2shoes", "--quiet")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"downloading https://127.0.0.1:{port}/edges2shoes.pth"
    assert lines[1].startswith(f"could not reach https://127.0.0.1:{port}/edges2shoes.pth (")
    assert lines[1].endswith(f"trying plain http, which cannot show that the file comes from its publisher: "
                             f"http://127.0.0.1:{port}/edges2shoes.pth")
    assert json.loads((cache_dir() / "edges2shoes.sha256.json").read_text())["url"].startswith("http://127.0.0.1")


def test_an_https_server_that_answers_with_an_error_is_not_retried_over_http(tmp_path, monkeypatch):
    from gantool import download

    asked = []

    def answers_404(url, *args, **kwargs):
        asked.append(url)
        raise GantoolError(f"could not download {url}: HTTP 404 Not Found; nothing was cached")

    monkeypatch.setattr(download, "fetch", answers_404)
    with pytest.raises(GantoolError, match="HTTP 404"):
        download.fetch_https_first("https://example.invalid/x.pth", tmp_path / "x")
    assert asked == ["https://example.invalid/x.pth"]


def test_a_swapped_cached_model_is_refused(server, tmp_path):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    assert invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet").exit_code == 0
    cached = cache_dir() / "edges2shoes.pt"
    # an attacker with write access to the cache swaps the weights for others of the same shape
    state = torch.load(cached, weights_only=True)
    state["generators"] = {key: torch.zeros_like(value) for key, value in state["generators"].items()}
    torch.save(state, cached)
    image = tmp_path / "edges.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(image)
    refused = invoke("translate", image, "--checkpoint", "pretrained:edges2shoes", "--out-dir", tmp_path / "out")
    assert refused.exit_code != 0 and not (tmp_path / "out").exists()
    message = "the cached pretrained:edges2shoes ({}) changed since it was downloaded".format(cached)
    assert message in refused.output and "gantool pretrained get edges2shoes --force" in refused.output
    again = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth")
    assert again.exit_code == 1 and message in again.output
    forced = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet", "--force")
    assert forced.exit_code == 0, forced.output
    assert pretrained.resolve("pretrained:edges2shoes") == cached


def test_a_download_that_differs_from_the_given_sha256_is_not_cached(server):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    digest = hashlib.sha256(files["edges2shoes.pth"]).hexdigest()
    wrong = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet",
                   "--sha256", "0" * 64)
    assert wrong.exit_code == 1 and f"has sha256 {digest}, not the {'0' * 64} given with --sha256" in wrong.output
    assert not (cache_dir() / "edges2shoes.pt").exists()
    right = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet",
                   "--sha256", digest.upper())
    assert right.exit_code == 0, right.output


def test_a_model_cached_before_records_existed_gets_one(server):
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    assert invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet").exit_code == 0
    record = cache_dir() / "edges2shoes.sha256.json"
    record.unlink()
    assert pretrained.resolve("pretrained:edges2shoes") == cache_dir() / "edges2shoes.pt"
    assert json.loads(record.read_text())["checkpoint_sha256"] == pretrained.check_cached("edges2shoes")


def test_a_read_only_home_folder_is_one_line_naming_gantool_cache(server, tmp_path, monkeypatch):
    """Issue 30, item 16: `pretrained get` with a read-only home was an internal error."""
    files, base = server
    files["edges2shoes.pth"] = reference_file("pix2pix_unet128_batch")
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o555)
    monkeypatch.delenv("GANTOOL_CACHE")
    monkeypatch.setenv("HOME", str(home))
    if os.geteuid() == 0:  # root writes anywhere: make the folder refuse as it would refuse a user
        mkdir = Path.mkdir

        def refuse(self, *args, **kwargs):
            if home in self.parents:
                raise PermissionError(13, "Permission denied", str(self))
            return mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", refuse)
    try:
        result = invoke("pretrained", "get", "edges2shoes", "--url", f"{base}/edges2shoes.pth", "--quiet")
    finally:
        home.chmod(0o755)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: cannot write the model cache {home}/.cache/gantool/pretrained (Permission denied): set "
        "GANTOOL_CACHE to a folder you can write, e.g. GANTOOL_CACHE=/tmp/gantool-cache gantool pretrained get "
        "edges2shoes")


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
