"""Inception FID and KID of an unconditional (gan) model of any images, against a folder of real ones.

Digit models (28x28 grayscale) are scored in the digit judge's feature space instead (see
`gantool.metrics.suite`); this is for everything else: faces, textures, products.
"""

from __future__ import annotations

from typing import Any

import torch

from gantool.errors import GantoolError
from gantool.metrics.suite import EvalContext, _features, _fid_kid, _inception, _sampler, _unavailable


def inception_unconditional(ctx: EvalContext, which: str) -> dict[str, Any]:
    """Inception FID ("fid") or KID ("kid") of `inception_samples` samples against as many images of
    the --data folder, seen as in training (resized and centre-cropped to the model's size)."""
    from gantool.data.unlabelled import ImageFolder
    from gantool.metrics.inception import INCEPTION_FEATURES

    if ctx.data is None:
        raise GantoolError("FID/KID of a gan model need real images: pass --data DIR (the training folder, or "
                           "held-out images like them)")
    extractor = _inception(ctx)
    if isinstance(extractor, str):
        return _unavailable(extractor)

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        data = _sampler(ctx).config.data
        n = min(ctx.inception_samples, ctx.n)
        folder = ImageFolder(ctx.data, data.image_size, data.channels)
        picks = torch.randperm(len(folder), generator=torch.Generator().manual_seed(ctx.seed))[:n]
        real = torch.stack([folder[(int(i), 0)]["images"] for i in picks])
        return _features(extractor, _sampler(ctx).sample(n, seed=ctx.seed)), _features(extractor, real)
    fake, real = ctx.once("unconditional_features", make)
    return {"features": INCEPTION_FEATURES, **_fid_kid(fake, real, which)}
