"""Small factories shared by the networks: normalisation and activation by name, weight init."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from gantool.distributed import sync_batch_stats
from gantool.errors import GantoolError

NORMS = ("batch", "syncbatch", "instance", "none")


class SyncBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose training statistics cover the global batch of every process of a
    distributed run, on the CPU (gloo) as on GPUs; torch.nn.SyncBatchNorm rejects CPU tensors.
    In a single process it is plain batch norm, with the same parameters and buffers, so its
    checkpoints load anywhere."""

    def forward(self, x: Tensor) -> Tensor:
        if not (self.training and torch.distributed.is_available() and torch.distributed.is_initialized()
                and torch.distributed.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        channels = x.shape[1]
        x32 = x.float()
        count = torch.full((1,), x32.numel() / channels, device=x.device)
        totals = sync_batch_stats(torch.cat([x32.sum((0, 2, 3)), x32.square().sum((0, 2, 3)), count]))
        n = totals[-1]
        mean = totals[:channels] / n
        var = (totals[channels:2 * channels] / n - mean.square()).clamp_min(0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp_min(1), momentum)
        y = (x32 - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def batch_norm(channels: int, sync: bool = False, affine: bool = True) -> nn.BatchNorm2d:
    return (SyncBatchNorm2d if sync else nn.BatchNorm2d)(channels, affine=affine)


def norm_layer(name: str, channels: int) -> nn.Module:
    if name in ("batch", "syncbatch"):
        return batch_norm(channels, sync=name == "syncbatch")
    if name == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if name == "none":
        return nn.Identity()
    raise GantoolError(f"unknown norm {name!r}; valid: {', '.join(NORMS)}")


def init_weights(module: nn.Module, std: float = 0.02, kind: str = "normal") -> None:
    """DCGAN / pix2pix initialisation: conv and linear weights ~ N(0, std), norm scales ~ N(1, std).
    `kind="xavier"`: conv and linear weights Xavier-normal with gain `std` (CUT's reference default)."""
    if kind not in ("normal", "xavier"):
        raise GantoolError(f"unknown initialisation {kind!r}; valid: normal, xavier")
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            # spectral norm: init the raw weight
            weight = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            if kind == "xavier":
                nn.init.xavier_normal_(weight, gain=std)
            else:
                nn.init.normal_(weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    if not enabled:
        return layer
    if layer.weight.is_meta:  # a shape-only build (gantool.weights.check_fits_first)
        return _shape_only_spectral_norm(layer)
    return nn.utils.parametrizations.spectral_norm(layer)


class _ShapeOnlySpectralNorm(nn.Module):
    """The tensors torch's spectral norm keeps (its power-iteration vectors u and v), without its
    power iterations: on the meta device those run through Python kernels whose first use imports
    torch's compiler (seconds), where only the shapes are wanted."""

    def __init__(self, weight: Tensor, dim: int) -> None:
        super().__init__()
        rows = weight.shape[dim]
        self.register_buffer("_u", weight.new_empty(rows))
        self.register_buffer("_v", weight.new_empty(weight.numel() // max(rows, 1)))

    def forward(self, weight: Tensor) -> Tensor:
        return weight


def _shape_only_spectral_norm(layer: nn.Module) -> nn.Module:
    transposed = isinstance(layer, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
    parametrize.register_parametrization(layer, "weight", _ShapeOnlySpectralNorm(layer.weight, 1 if transposed else 0),
                                         unsafe=True)
    return layer


def per_image_statistics(training_batch_size: int) -> bool:
    """Whether test-time batch norm should use each image's own statistics: yes for models trained
    at batch size 1, where batch norm acted as instance norm throughout (the pix2pix reference)."""
    return training_batch_size == 1


def use_batch_statistics(module: nn.Module) -> list[tuple[nn.Module, bool, float | None]]:
    """Make batch norm layers use each batch's statistics without updating the running ones;
    returns (layer, training, momentum) of each layer as it was."""
    saved = [(m, m.training, m.momentum) for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m, _, _ in saved:
        m.train()
        m.momentum = 0.0
    return saved


@contextlib.contextmanager
def batch_norm_from_batch(module: nn.Module) -> Iterator[nn.Module]:
    """Inside, batch norm layers normalise with each batch's own statistics and leave their
    running statistics untouched (momentum 0); on exit every layer is as it was."""
    saved = use_batch_statistics(module)
    try:
        yield module
    finally:
        for m, training, momentum in saved:
            m.train(training)
            m.momentum = momentum
