"""Judge a class-conditional digit checkpoint: the share of samples recognised as the asked class.

    python benchmarks/cgan_digits_accuracy.py CHECKPOINT [--data-root ../shared/data/mnist] [--per-class 1000]

The judge (a CNN trained on real MNIST train, >= 99% on MNIST test) is trained on first use and
cached in $GANTOOL_CACHE (default ~/.cache/gantool).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--data-root", default=os.environ.get("GANTOOL_TEST_DATA", "../shared/data") + "/mnist")
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from gantool.inference import load_sampler
    from gantool.metrics.judge import conditional_accuracy, load_judge

    judge, info = load_judge(args.data_root)
    result = conditional_accuracy(load_sampler(args.checkpoint), judge, args.per_class, args.seed)
    result["judge_test_accuracy"] = info["test_accuracy"]
    result["checkpoint"] = str(args.checkpoint)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
