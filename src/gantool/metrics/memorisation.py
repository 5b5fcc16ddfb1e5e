"""Does the generator copy its training set? Nearest training images of generated samples.

For each generated sample the nearest training image (Euclidean, in pixel space) and its distance
are found; the same is done for real held-out images, which were never trained on. A generator
that memorises has nearest-neighbour distances far below those of held-out images; one that
generalises has similar ones. The grid follows Figure 2 of Goodfellow et al. (2014): rows of
samples whose last column is the nearest training image of the sample beside it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from gantool.metrics.distances import squared_distances


def nearest_neighbours(queries: Tensor, pool: Tensor, chunk: int = 256) -> tuple[Tensor, Tensor]:
    """(distance, index) of the nearest `pool` item for each query, in pixel space, chunked."""
    pool_flat = pool.flatten(1).float()
    pool_norms = pool_flat.pow(2).sum(1)
    distances, indices = [], []
    for start in range(0, len(queries), chunk):
        squared = squared_distances(queries[start:start + chunk].flatten(1).float(), pool_flat, pool_norms)
        best, index = squared.min(1)
        distances.append(best.sqrt())
        indices.append(index)
    return torch.cat(distances), torch.cat(indices)


def memorisation_report(samples: Tensor, train: Tensor, held_out: Tensor) -> dict[str, Any]:
    """Nearest-neighbour distances to `train` of generated samples against real held-out images."""
    fake_d, _ = nearest_neighbours(samples, train)
    real_d, _ = nearest_neighbours(held_out, train)
    low = torch.quantile(real_d, 0.05).item()
    return {"space": "pixels", "generated_median": fake_d.median().item(), "held_out_median": real_d.median().item(),
            "median_ratio": (fake_d.median() / real_d.median().clamp_min(1e-12)).item(),
            "share_closer_than_held_out_p5": (fake_d < low).float().mean().item(),
            "generated_min": fake_d.min().item(), "n_generated": len(samples), "n_held_out": len(held_out),
            "note": "a ratio well below 1 (or a large share under the held-out 5th percentile) means copying"}


def memorisation_grid(samples: Tensor, train: Tensor, rows: int = 8, per_row: int = 5) -> Tensor:
    """Images for a grid of `rows` x (`per_row` samples + the nearest training image of the last)."""
    chosen = samples[:rows * per_row].reshape(rows, per_row, *samples.shape[1:])
    _, index = nearest_neighbours(chosen[:, -1], train)
    return torch.cat([chosen, train[index][:, None].to(chosen.dtype)], dim=1).flatten(0, 1)
