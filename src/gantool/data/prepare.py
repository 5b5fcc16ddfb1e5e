"""Making paired datasets: side-by-side A|B images from two folders, and edges -> photo pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import kornia
import numpy as np
import torch

from gantool.data.images import list_images, load_image
from gantool.data.paired import match_by_name
from gantool.errors import GantoolError
from gantool.utils import plan_outputs, save_png


def combine_pairs(folder_a: str | Path, folder_b: str | Path, out_dir: str | Path, overwrite: bool = False,
                  progress: Callable[[int], None] | None = None) -> int:
    """Write A|B side-by-side PNGs for files of two folders that match by name; returns the count."""
    folder_a, folder_b, out_dir = Path(folder_a), Path(folder_b), Path(out_dir)
    pairs = match_by_name(folder_a, folder_b)
    outputs = plan_outputs([(a, a.relative_to(folder_a)) for a, _ in pairs], out_dir, overwrite, "--out",
                           protected=[b for _, b in pairs])
    plan = [(a, b, target) for (a, b), (_, target) in zip(pairs, outputs)]
    for a_path, b_path, target in plan:
        a, b = load_image(a_path, 3), load_image(b_path, 3)
        if a.shape[:2] != b.shape[:2]:
            b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_png(torch.from_numpy(np.concatenate([a, b], axis=1)), target)
        if progress:
            progress(1)
    return len(plan)


def edge_map(photo: np.ndarray, low: float = 0.1, high: float = 0.2, thickness: int = 1, sigma: float = 1.5) -> np.ndarray:
    """Black edges on white (HxWx3 uint8) from an RGB photo, with kornia's Canny detector."""
    image = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255.0
    gray = kornia.color.rgb_to_grayscale(image)
    _, edges = kornia.filters.canny(gray, low_threshold=low, high_threshold=high, sigma=(sigma, sigma))
    if thickness > 1:
        edges = kornia.morphology.dilation(edges, torch.ones(thickness, thickness))
    lines = (1.0 - edges.clamp(0, 1))[0, 0]
    gray8 = (lines * 255).round().to(torch.uint8).numpy()
    return np.repeat(gray8[:, :, None], 3, axis=2)


def make_edge_pairs(photos: str | Path, out_dir: str | Path, low: float = 0.1, high: float = 0.2,
                    thickness: int = 1, size: int | None = None, overwrite: bool = False,
                    progress: Callable[[int], None] | None = None) -> int:
    """edges | photo side-by-side pairs (A = edges, B = photo) from every photo under `photos`."""
    if not 0 < low < high <= 1:
        raise GantoolError(f"Canny thresholds need 0 < low < high <= 1, got low={low}, high={high}")
    photos, out_dir = Path(photos), Path(out_dir)
    if not photos.is_dir():
        raise GantoolError(f"photo folder {photos} does not exist")
    files = list_images(photos)
    if not files:
        raise GantoolError(f"{photos} holds no images")
    plan = plan_outputs([(p, p.relative_to(photos)) for p in files], out_dir, overwrite, "--out")
    for path, target in plan:
        photo = load_image(path, 3)
        if size:
            photo = cv2.resize(photo, (size, size), interpolation=cv2.INTER_AREA)
        pair = np.concatenate([edge_map(photo, low, high, thickness), photo], axis=1)
        target.parent.mkdir(parents=True, exist_ok=True)
        save_png(torch.from_numpy(pair), target)
        if progress:
            progress(1)
    return len(plan)
