"""PatchNCE (Park et al. 2020, "Contrastive Learning for Unpaired Image-to-Image Translation").

A translation should keep what was where: the feature of a patch of the output should be closer
to the feature of the input patch at the same location (the positive) than to the features of
the input's other sampled patches (the negatives, from the same image only). Features come from
several layers of the generator's encoder, at patch locations sampled once per image and layer
and used for input and output alike, each passed through a small MLP head (two linear layers,
ReLU between) and normalised to unit length. Per patch, the loss is the cross-entropy of picking
the positive among [positive, negatives] with logits cos / temperature (InfoNCE).

`patch_nce_loss` is the loss on already projected features; `PatchProjection` holds the heads
and does the sampling and projection; `sample_patch_ids` draws the locations.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gantool.networks.layers import init_weights

NEGATIVE_SELF = -10.0  # what the reference writes over a patch's similarity to itself among its negatives


def patch_nce_loss(query: Tensor, key: Tensor, temperature: float = 0.07) -> Tensor:
    """Per-patch PatchNCE losses, shape (B, P), of unit-length query features (B, P, D) (output
    patches) against key features (B, P, D) (the input's patches at the same locations).

    Patch p of image b has one positive, key[b, p], and P - 1 negatives, key[b, q] for q != p;
    keys get no gradient. As in the reference, the self-similarity slot among the negatives is
    kept but set to -10 (so it contributes exp(-10 / temperature), nothing in practice), and the
    logits are [positive, P negatives] / temperature."""
    if query.shape != key.shape or query.dim() != 3:
        raise ValueError(f"query and key must both be (batch, patches, dim); got {tuple(query.shape)} and "
                         f"{tuple(key.shape)}")
    key = key.detach()
    batch, patches, _ = query.shape
    positive = (query * key).sum(-1, keepdim=True)  # (B, P, 1)
    negatives = query @ key.transpose(1, 2)  # (B, P, P): every patch against every patch of its image
    eye = torch.eye(patches, dtype=torch.bool, device=query.device)
    negatives = negatives.masked_fill(eye, NEGATIVE_SELF)
    logits = torch.cat([positive, negatives], dim=-1) / temperature
    targets = torch.zeros(batch * patches, dtype=torch.long, device=query.device)
    return F.cross_entropy(logits.flatten(0, 1), targets, reduction="none").view(batch, patches)


def sample_patch_ids(locations: int, count: int, seeds: Tensor | None, salt: int, device: torch.device) -> Tensor:
    """(B, min(count, locations)) distinct random locations per image, each image's drawn from its
    own seed (so a process of a distributed run draws what a single process draws for the same
    image, and a resumed run what the uninterrupted one drew); without seeds one row from the
    global generator."""
    count = min(count, locations)
    if seeds is None:
        return torch.randperm(locations, device=device)[None, :count]
    generator = torch.Generator()
    rows = [torch.randperm(locations, generator=generator.manual_seed(int(seed) * 1_000_003 + salt))[:count]
            for seed in seeds.tolist()]
    return torch.stack(rows).to(device)


def gather_patches(feature: Tensor, ids: Tensor) -> Tensor:
    """(B, P, C) features of a (B, C, H, W) map at the flat locations `ids` (B, P)."""
    flat = feature.flatten(2)  # (B, C, H*W)
    return flat.gather(2, ids[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)


def unit_length(x: Tensor) -> Tensor:
    """x / (|x| + 1e-7) along the last dimension, as the reference normalises."""
    return x / (x.norm(dim=-1, keepdim=True) + 1e-7)


class PatchProjection(nn.Module):
    """One MLP head per feature layer (Linear(C, width), ReLU, Linear(width, width)), applied to
    sampled patches. The reference creates the heads at the first forward pass, when it learns the
    feature channels; gantool reads the channels off the generator and creates them at once, so they
    exist for the optimizer, checkpoints and DDP from the start. Initialised like the reference's:
    Xavier-normal weights with gain `init_gain` (or N(0, init_gain) with `init="normal"`), zero biases."""

    def __init__(self, channels: Sequence[int], width: int = 256, init: str = "xavier",
                 init_gain: float = 0.02) -> None:
        super().__init__()
        self.mlps = nn.ModuleList(nn.Sequential(nn.Linear(c, width), nn.ReLU(), nn.Linear(width, width))
                                  for c in channels)
        init_weights(self, init_gain, kind=init)

    def forward(self, features: Sequence[Tensor], ids: Sequence[Tensor]) -> list[Tensor]:
        """Unit-length projections (B, P, width), in float32, of each layer's features at its `ids`."""
        return [unit_length(head(gather_patches(feature, layer_ids)).float())
                for head, feature, layer_ids in zip(self.mlps, features, ids)]
