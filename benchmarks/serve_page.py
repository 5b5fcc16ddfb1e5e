"""Time to first output of `gantool serve` for a 256x256 image, in a real headless Chromium.

    python benchmarks/serve_page.py [--precision auto] [--repeats 3] [--out serve_page.json]

Builds two models of the published architectures (one training step each: the weights do not
matter for speed): pix2pix unet_256 (edges2shoes, facades) and CycleGAN resnet_9blocks
(horse2zebra), ngf 64. Starts `gantool serve runs/`, then for each model opens the page, uploads
a 256x256 image, clicks Translate and waits until the output image has loaded. Reports the
server's start (models loaded, listening), the page's load, the first request (click to output
shown), later requests, the whole from opening the page to the first output, and as the
yardstick of the same run the library's own translation of the image (decode, network, PNG).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def build_models(root: Path) -> dict[str, str]:
    from gantool.config import apply_overrides, default_config
    from gantool.run import train

    rng = np.random.default_rng(0)
    pairs = root / "pairs"
    pairs.mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (256, 512, 3), dtype=np.uint8)).save(pairs / "0.png")
    for side in ("trainA", "trainB"):
        (root / "unpaired" / side).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(root / "unpaired" / side / "0.png")
    common = ["train.steps=1", "train.device=cpu", "data.image_size=256", "train.sample_every=1000"]
    train(apply_overrides(default_config("pix2pix"), common + [f"data.root={pairs}", "model.generator=unet_256"]),
          out=root / "runs" / "pix2pix256", quiet=True)
    train(apply_overrides(default_config("cyclegan"), common + [f"data.root={root / 'unpaired'}",
                                                                "model.generator=resnet_9blocks"]),
          out=root / "runs" / "cyclegan256", quiet=True)
    return {"pix2pix unet_256": "runs/pix2pix256", "cyclegan resnet_9blocks": "runs/cyclegan256"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="requests per model after the first")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    root = Path(tempfile.mkdtemp(prefix="gantool-serve-bench-"))
    models = build_models(root)
    images = [root / f"photo{i}.png" for i in range(1 + args.repeats)]  # each output differs: a new image shows
    for i, path in enumerate(images):
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "gantool_cli", "serve", "runs", "--port", str(port),
                               "--precision", args.precision], cwd=root)
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if server.poll() is not None:
                sys.exit("gantool serve exited")
            time.sleep(0.1)
    result = {"server_start_s": round(time.perf_counter() - started, 2), "precision": args.precision,
              "load_average_1min": round(os.getloadavg()[0], 1), "models": {}}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            for label, name in models.items():
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                opened = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/")
                page.wait_for_selector("#translate-button")
                loaded = time.perf_counter()
                _choose_model(page, name)
                times = []
                for i in range(1 + args.repeats):
                    page.locator("#translate-input input[type=file]").set_input_files(str(images[i]))
                    page.locator("#translate-input img").first.wait_for()
                    clicked = time.perf_counter()
                    page.click("#translate-button")
                    page.wait_for_function(
                        "(n) => [...document.querySelectorAll('#translate-output img')].some("
                        "i => i.complete && i.naturalWidth === 256 && i.src !== window.__last)", arg=i)
                    page.evaluate("() => { window.__last = document.querySelector('#translate-output img').src }")
                    times.append(time.perf_counter() - clicked)
                    if i == 0:
                        first_total = time.perf_counter() - opened
                result["models"][label] = {
                    "page_load_s": round(loaded - opened, 2), "first_request_s": round(times[0], 2),
                    "later_requests_s": [round(t, 2) for t in times[1:]],
                    "page_open_to_first_output_s": round(first_total, 2)}
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
    for label, name in models.items():  # the yardstick: the same translation in this process, no page
        result["models"][label]["library_translate_s"] = _library_seconds(root / name, images[0], args.precision)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


def _library_seconds(checkpoint: Path, image: Path, precision: str) -> float:
    """Median seconds of `gantool translate`'s call for one image (decode, network, PNG encode)."""
    from gantool.translate import load_translator, read_for
    from gantool.utils import save_png, to_uint8

    translator = load_translator(checkpoint, "cpu", precision=precision)
    times: list[float] = []

    def run() -> None:
        for _ in range(3):
            started = time.perf_counter()
            output = to_uint8(translator(read_for(translator, image)))[0]
            save_png(output, Path(tempfile.mkdtemp()) / "out.png")
            times.append(time.perf_counter() - started)

    # in a worker thread, as the server runs it: on our oversubscribed 2 cores the main thread's
    # OpenMP team ran the same call 5x slower (6.9 against 1.2 s at load 20), which is not the page's doing
    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    return round(sorted(times)[1], 2)


def _choose_model(page, name: str) -> None:
    dropdown = page.get_by_label("Model").first
    dropdown.click()
    page.get_by_role("option", name=name, exact=True).click()
    page.get_by_text(f"{name} (", exact=False).first.wait_for()  # the model's description: it is chosen


if __name__ == "__main__":
    main()
