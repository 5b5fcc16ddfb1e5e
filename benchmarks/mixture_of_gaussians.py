"""Mode collapse on the 2-D mixture of 8 Gaussians, and what the stabilisers do about it.

    python -m benchmarks.mixture_of_gaussians                    # every setting, 3 seeds (a few CPU-minutes)
    python -m benchmarks.mixture_of_gaussians --settings plain,r1 --seeds 1 --steps 2000

The data: 8 Gaussians of std 0.02 evenly on a circle of radius 2 (Metz et al. 2017, "Unrolled
GANs"). G and D are small ReLU MLPs; the losses are gantool's own (`AdversarialLoss`: the
objective and the discriminator-side stabilisers exactly as the image recipes use them), so this
checks the library, not a copy of it. A sample is *high quality* when it lies within 3 std of a
mode's centre; a mode is *covered* when at least 20 of 2,500 samples are high-quality samples of it
(the rule of Lin et al. 2018, PacGAN). Results merge into benchmarks/results.json under
"mixture_of_gaussians" and the figure goes to docs/gan/mixture8.png.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from benchmarks import chosen_names, merge_results
from gantool.adversarial import AdversarialLoss
from gantool.config import LossConfig

MODES, RADIUS, STD = 8, 2.0, 0.02
EVAL_SAMPLES, MIN_COUNT = 2500, 20


def centres(modes: int = MODES, radius: float = RADIUS) -> Tensor:
    angles = torch.arange(modes) * (2 * math.pi / modes)
    return radius * torch.stack([angles.cos(), angles.sin()], 1)


def sample_mixture(n: int, generator: torch.Generator) -> Tensor:
    picks = torch.randint(0, MODES, (n,), generator=generator)
    return centres()[picks] + STD * torch.randn(n, 2, generator=generator)


def mode_coverage(samples: Tensor, min_count: int = MIN_COUNT) -> dict:
    """Modes covered and the share of high-quality samples (within 3 std of their nearest centre)."""
    distances = torch.cdist(samples.double(), centres().double())
    nearest, mode = distances.min(1)
    good = nearest <= 3 * STD
    counts = torch.bincount(mode[good], minlength=MODES)
    return {"modes_covered": int((counts >= min_count).sum()), "high_quality_share": good.double().mean().item(),
            "per_mode": counts.tolist()}


def mlp(inputs: int, outputs: int, width: int = 128, depth: int = 3, spectral_norm: bool = False) -> nn.Sequential:
    norm = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [norm(nn.Linear(inputs if i == 0 else width, width)), nn.ReLU()]
    return nn.Sequential(*layers, norm(nn.Linear(width, outputs)))


@dataclass(frozen=True)
class Setting:
    what: str
    loss: LossConfig = field(default_factory=LossConfig)
    spectral_norm: bool = False  # on D
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.999)


SETTINGS = {
    "plain": Setting("non-saturating GAN, Adam 1e-3, no stabiliser"),
    "minimax": Setting("the saturating minimax loss, no stabiliser", LossConfig(objective="minimax")),
    "r1": Setting("R1 penalty on real data (gamma 1)", LossConfig(r1_weight=1.0)),
    "wgan-gp": Setting("WGAN-GP (lambda 0.1), Adam (0.5, 0.9)", LossConfig(objective="wgan-gp", gp_weight=0.1),
                       betas=(0.5, 0.9)),
    "spectral-norm": Setting("spectral norm on D, hinge loss, D at 4x G's rate (TTUR)",
                             LossConfig(objective="hinge"), spectral_norm=True, lr_g=2.5e-4),
}


def train_toy(setting: Setting, steps: int, seed: int, batch_size: int = 256, z_dim: int = 16) -> Tensor:
    """Train G and D on the mixture; return EVAL_SAMPLES samples of the final G."""
    torch.manual_seed(seed)
    data = torch.Generator().manual_seed(seed + 1)
    G, D = mlp(z_dim, 2), mlp(2, 1, spectral_norm=setting.spectral_norm)
    critic = lambda x: D(x).squeeze(1)  # noqa: E731
    opt_g = torch.optim.Adam(G.parameters(), setting.lr_g, betas=setting.betas)
    opt_d = torch.optim.Adam(D.parameters(), setting.lr_d, betas=setting.betas)
    adversarial = AdversarialLoss(setting.loss, channels=2, total_steps=steps)
    for step in range(steps):
        fake = G(torch.randn(batch_size, z_dim))
        loss_d, _ = adversarial.discriminator_loss(critic, sample_mixture(batch_size, data), fake, step, step)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        D.requires_grad_(False)
        loss_g, _ = adversarial.generator_loss(critic, fake, step)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    with torch.no_grad():
        return G(torch.randn(EVAL_SAMPLES, z_dim, generator=torch.Generator().manual_seed(seed + 2)))


def figure(samples: dict[str, Tensor], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(samples) + 1, figsize=(2.2 * (len(samples) + 1), 2.4), dpi=80)
    real = sample_mixture(EVAL_SAMPLES, torch.Generator().manual_seed(0))
    for ax, (name, points) in zip(axes, [("data", real), *samples.items()]):
        ax.scatter(*points.T.numpy(), s=1, alpha=0.4, c="k" if name == "data" else "tab:blue")
        ax.scatter(*centres().T.numpy(), s=12, marker="x", c="tab:red", linewidths=1)
        coverage = "" if name == "data" else f"\n{mode_coverage(points)['modes_covered']}/8 modes"
        ax.set_title(f"{name}{coverage}", fontsize=8)
        ax.set_xlim(-2.8, 2.8)
        ax.set_ylim(-2.8, 2.8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default=",".join(SETTINGS), help="Comma-separated: " + ", ".join(SETTINGS))
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results.json"))
    parser.add_argument("--figure", type=Path, default=Path("docs/gan/mixture8.png"))
    args = parser.parse_args(argv)
    names = chosen_names(parser, args.settings, SETTINGS, "--settings")
    rows, shown = {}, {}
    for name in names:
        runs = []
        for seed in range(args.seeds):
            start = time.process_time()
            samples = train_toy(SETTINGS[name], args.steps, seed)
            runs.append({"seed": seed, **mode_coverage(samples), "cpu_s": time.process_time() - start})
            shown.setdefault(name, samples)  # the figure shows seed 0
            print(f"{name:14} seed {seed}: {runs[-1]['modes_covered']}/8 modes, "
                  f"{runs[-1]['high_quality_share']:.1%} high quality", flush=True)
        rows[name] = {"what": SETTINGS[name].what, "runs": runs,
                      "mean_modes_covered": sum(r["modes_covered"] for r in runs) / len(runs),
                      "mean_high_quality_share": sum(r["high_quality_share"] for r in runs) / len(runs)}
    result = {"command": "python -m benchmarks.mixture_of_gaussians "
                         + " ".join(argv if argv is not None else []),
              "data": f"{MODES} Gaussians, std {STD}, on a circle of radius {RADIUS}",
              "rule": f"high quality: within 3 std of a centre; covered: >= {MIN_COUNT} of {EVAL_SAMPLES} samples",
              "steps": args.steps, "figure": str(args.figure), "settings": rows}
    figure(shown, args.figure)
    merge_results(args.out, {"mixture_of_gaussians": result})
    for name, row in rows.items():
        print(f"{name:14} modes covered {row['mean_modes_covered']:.1f}/8, "
              f"high quality {row['mean_high_quality_share']:.1%}  ({row['what']})")
    return result


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
