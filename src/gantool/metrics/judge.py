"""A digit classifier trained on real MNIST, used to judge generated digits.

Trained once on the 60,000 MNIST training digits (a few minutes on a CPU), checked on the 10,000
test digits, and cached as safetensors plus a JSON record of its test accuracy. The accuracy of a
class-conditional generator is the share of its samples that the judge assigns to the requested
class.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.checkpoint import atomic_write
from gantool.data.digits import load_mnist
from gantool.data.images import to_unit_range
from gantool.errors import GantoolError

JUDGE_FILE = "mnist_judge.safetensors"
JUDGE_INFO = "mnist_judge.json"


def default_cache_dir() -> Path:
    return Path(os.environ.get("GANTOOL_CACHE", Path.home() / ".cache" / "gantool")).expanduser()


class DigitJudge(nn.Module):
    """A small VGG-style CNN on 28x28 grayscale digits in [-1, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.3))
        self.classify = nn.Linear(128, 10)

    def embed(self, images: Tensor) -> Tensor:
        """128-d features (the judge's feature space for FID-style comparisons)."""
        if images.shape[1] == 3:
            images = images.mean(1, keepdim=True)
        if images.shape[-1] != 28 or images.shape[-2] != 28:
            images = F.interpolate(images, size=(28, 28), mode="bilinear", antialias=True, align_corners=False)
        return self.head(self.features(images))

    def forward(self, images: Tensor) -> Tensor:
        return self.classify(self.embed(images))


@torch.inference_mode()
def predict(judge: DigitJudge, images: Tensor, batch_size: int = 1000) -> Tensor:
    judge.eval()
    device = next(judge.parameters()).device
    return torch.cat([judge(images[i:i + batch_size].to(device).float()).argmax(1).cpu()
                      for i in range(0, len(images), batch_size)])


def fit_classifier(images: Tensor, labels: Tensor, epochs: int = 3, seed: int = 0, device: str = "cpu",
                   after_epoch: Callable[[int, DigitJudge], None] | None = None) -> DigitJudge:
    """A fresh `DigitJudge` trained on (images in [-1, 1] or uint8, labels), with small random shifts."""
    torch.manual_seed(seed)
    judge = DigitJudge().to(device)
    optimizer = torch.optim.Adam(judge.parameters(), lr=2e-3)
    steps_per_epoch = max(1, len(images) // 128)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        judge.train()
        order = torch.randperm(len(images))
        for b in range(steps_per_epoch):
            idx = order[b * 128:(b + 1) * 128]
            x = images[idx]
            x = to_unit_range(x) if x.dtype == torch.uint8 else x.float()
            shift = torch.randint(-2, 3, (2,))
            x = torch.roll(x, shifts=(int(shift[0]), int(shift[1])), dims=(2, 3))
            loss = F.cross_entropy(judge(x.to(device)), labels[idx].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        if after_epoch is not None:
            after_epoch(epoch, judge)
    return judge.cpu().eval()


def train_judge(data_root: str | Path, epochs: int = 3, seed: int = 0, device: str = "cpu",
                log: Callable[[str], None] = print) -> tuple[DigitJudge, float]:
    """Train on MNIST train (with small random shifts), return the judge and its test accuracy."""
    images, labels = load_mnist(data_root, train=True)
    test_images, test_labels = load_mnist(data_root, train=False)
    start = time.perf_counter()
    accuracies: list[float] = []

    def report(epoch: int, judge: DigitJudge) -> None:
        accuracies.append((predict(judge, to_unit_range(test_images)) == test_labels).float().mean().item())
        log(f"judge epoch {epoch + 1}/{epochs}: test accuracy {accuracies[-1]:.4f} ({time.perf_counter() - start:.0f}s)")

    judge = fit_classifier(images, labels, epochs, seed, device, after_epoch=report)
    return judge, accuracies[-1]


def cached_judge(cache_dir: str | Path | None = None) -> DigitJudge | None:
    """The cached judge, or None when it has not been trained yet."""
    try:
        return load_judge(None, cache_dir)[0]
    except GantoolError:
        return None


def load_judge(data_root: str | Path | None = None, cache_dir: str | Path | None = None,
               log: Callable[[str], None] = print) -> tuple[DigitJudge, dict[str, Any]]:
    """The cached judge, training (and caching) it first when absent; needs MNIST to train."""
    from safetensors.torch import load_file

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    weights, info_path = cache / JUDGE_FILE, cache / JUDGE_INFO
    if weights.is_file() and info_path.is_file():
        judge = DigitJudge()
        judge.load_state_dict(load_file(str(weights)))
        return judge.eval(), json.loads(info_path.read_text())
    if data_root is None:
        raise GantoolError(f"no cached digit judge in {cache}; train it once with "
                           "`gantool eval judge --data MNIST_DIR`")
    info = train_and_cache_judge(data_root, cache_dir=cache, log=log)
    judge = DigitJudge()
    judge.load_state_dict(load_file(str(weights)))
    return judge.eval(), info


def train_and_cache_judge(data_root: str | Path, cache_dir: str | Path | None = None, epochs: int = 3,
                          log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the judge and cache it (safetensors + JSON) when it reaches 99% on MNIST test."""
    from safetensors.torch import save

    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    judge, accuracy = train_judge(data_root, epochs=epochs, log=log)
    if accuracy < 0.99:
        raise GantoolError(f"the digit judge reached only {accuracy:.4f} on MNIST test (< 0.99); not caching it")
    cache.mkdir(parents=True, exist_ok=True)
    state = {k: v.contiguous() for k, v in judge.state_dict().items()}
    atomic_write(cache / JUDGE_FILE, lambda f: f.write(save(state)))
    info = {"test_accuracy": accuracy, "trained_on": "MNIST train (60,000)", "tested_on": "MNIST test (10,000)",
            "epochs": epochs}
    atomic_write(cache / JUDGE_INFO, lambda f: f.write(json.dumps(info, indent=2).encode()))
    return info


def conditional_accuracy(sampler: Any, judge: DigitJudge, per_class: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Share of samples of each requested class that the judge recognises as that class."""
    if sampler.num_classes != 10:
        raise GantoolError(f"the digit judge needs a 10-class digit model; this one has {sampler.num_classes} classes")
    labels = torch.arange(10).repeat_interleave(per_class)
    images = sampler.sample(labels, seed=seed)
    predicted = predict(judge, images)
    correct = predicted == labels
    per = {sampler.class_names[c]: correct[labels == c].float().mean().item() for c in range(10)}
    return {"accuracy": correct.float().mean().item(), "per_class": per, "n": len(labels)}
