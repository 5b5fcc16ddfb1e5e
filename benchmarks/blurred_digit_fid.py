"""Judge-space FID of a digit model's samples against MNIST digits blurred by SIGMA px (issue 16).

A model trained with data.blur learns blurred digits: `gantool eval` scores it against the sharp
test digits (how far it is from real MNIST); this scores it against the test digits blurred the
same way (how well it learned its own target), with the real-vs-real floor of that target.

    python benchmarks/blurred_digit_fid.py runs/gan_mnist_smooth 0.8 [--mnist ../shared/data/mnist]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def blurred_fid(run: str, sigma: float, mnist: str, n: int = 10000, seed: int = 0) -> dict[str, float]:
    from gantool.data.digits import load_mnist
    from gantool.data.images import to_unit_range
    from gantool.data.unlabelled import gaussian_blur
    from gantool.inference import load_sampler
    from gantool.metrics.digits import judge_distances
    from gantool.metrics.judge import load_judge

    samples = load_sampler(run, "cpu").sample(n, seed=seed)
    test = to_unit_range(gaussian_blur(load_mnist(mnist, train=False)[0], sigma))
    train = load_mnist(mnist, train=True)[0]
    picks = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:len(test)]
    reference = to_unit_range(gaussian_blur(train[picks], sigma))
    distances = judge_distances(load_judge(mnist)[0], samples, test, reference)
    return {"fid_vs_blurred_test": distances["fid"], "real_floor": distances["fid_real_floor"], "blur": sigma}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("sigma", type=float)
    parser.add_argument("--mnist", default=str(REPO.parent / "shared" / "data" / "mnist"))
    args = parser.parse_args()
    print(json.dumps(blurred_fid(args.run, args.sigma, args.mnist)))


if __name__ == "__main__":
    main()
