"""Loss functions as pure functions of discriminator logits (or images).

Every GAN objective is a pair (discriminator loss, generator loss) written on logits with
softplus, which is log(1 + e^x) computed without overflow: log D(x) = -softplus(-x) and
log(1 - D(x)) = -softplus(x) for D(x) = sigmoid(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from gantool.registry import Registry


@dataclass(frozen=True)
class Objective:
    d_loss: Callable[[Tensor, Tensor, float], Tensor]  # (real logits, fake logits, smoothing)
    g_loss: Callable[[Tensor], Tensor]  # fake logits
    probabilistic: bool  # logits are log-odds of "real" (sigmoid gives D(x))
    # score above which D calls an image real (for D accuracy); None where the scale is free (WGAN)
    decision_threshold: float | None = 0.0


OBJECTIVES: Registry[Objective] = Registry("GAN objective")


def _logistic_d_loss(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    # -[t log D(x) + (1 - t) log(1 - D(x))] with t = 1 - smoothing for reals (one-sided), 0 for fakes
    target = 1.0 - smoothing
    real_term = target * F.softplus(-real) + (1.0 - target) * F.softplus(real)
    return real_term.mean() + F.softplus(fake).mean()


def minimax_value(real: Tensor, fake: Tensor) -> Tensor:
    """V(D, G) = E log D(x) + E log(1 - D(G(z))) of Goodfellow et al. (2014); D maximises it."""
    return -_logistic_d_loss(real, fake)


def minimax_g_loss(fake: Tensor) -> Tensor:
    """The saturating original: G minimises log(1 - D(G(z))) = -softplus(logit)."""
    return -F.softplus(fake).mean()


def nonsaturating_g_loss(fake: Tensor) -> Tensor:
    """G minimises -log D(G(z)): strong gradients early, when D rejects fakes confidently."""
    return F.softplus(-fake).mean()


def lsgan_d_loss(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    return ((real - (1.0 - smoothing)) ** 2).mean() + (fake**2).mean()


def lsgan_g_loss(fake: Tensor) -> Tensor:
    return ((fake - 1.0) ** 2).mean()


def hinge_d_loss(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    return F.relu(1.0 - smoothing - real).mean() + F.relu(1.0 + fake).mean()


def wasserstein_d_loss(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
    """Critic loss E[D(G(z))] - E[D(x)]; add `gradient_penalty` for WGAN-GP. No smoothing."""
    return fake.mean() - real.mean()


def critic_g_loss(fake: Tensor) -> Tensor:
    """-E[D(G(z))]: the generator loss of hinge and Wasserstein objectives."""
    return -fake.mean()


OBJECTIVES.register("minimax")(Objective(_logistic_d_loss, minimax_g_loss, True))
OBJECTIVES.register("nonsaturating")(Objective(_logistic_d_loss, nonsaturating_g_loss, True))
OBJECTIVES.register("lsgan")(Objective(lsgan_d_loss, lsgan_g_loss, False, decision_threshold=0.5))
OBJECTIVES.register("hinge")(Objective(hinge_d_loss, critic_g_loss, False))
OBJECTIVES.register("wgan-gp")(Objective(wasserstein_d_loss, critic_g_loss, False, decision_threshold=None))


# ---------------------------------------------------------------------------------------------
# f-GAN (Nowozin, Cseke & Tomioka 2016): D maximises E_P[g(v)] - E_Q[f*(g(v))] over its raw output
# v, where g is the divergence's output activation (it keeps g(v) inside the domain of the convex
# conjugate f*); at the optimum the value is the f-divergence D_f(P || Q). G maximises E_Q[g(v)]
# (the paper's non-saturating choice). Each pair below is written directly in v, with the
# exponentials' arguments bounded so that no logit overflows float32.
_EXP_BOUND = 30.0


def _bounded(v: Tensor) -> Tensor:
    return v.clamp(-_EXP_BOUND, _EXP_BOUND)


@dataclass(frozen=True)
class FDivergence:
    activation: Callable[[Tensor], Tensor]  # g(v): what D's critic says about a sample of P
    conjugate_of_activation: Callable[[Tensor], Tensor]  # f*(g(v)), simplified in v
    optimal_at_equality: float  # v where p = q (f'(1) through g): the decision threshold

    def value(self, real: Tensor, fake: Tensor) -> Tensor:
        """The variational lower bound E_P[g(v)] - E_Q[f*(g(v))] of D_f(P || Q)."""
        return self.activation(real).mean() - self.conjugate_of_activation(fake).mean()


F_DIVERGENCES: dict[str, FDivergence] = {
    # KL(P||Q): g(v) = v, f*(t) = exp(t - 1)
    "kl": FDivergence(lambda v: v, lambda v: torch.exp(_bounded(v) - 1.0), 1.0),
    # KL(Q||P): g(v) = -exp(-v), f*(t) = -1 - log(-t) = v - 1
    "reverse-kl": FDivergence(lambda v: -torch.exp(-_bounded(v)), lambda v: v - 1.0, 0.0),
    # Pearson chi^2: g(v) = v, f*(t) = t^2 / 4 + t
    "pearson": FDivergence(lambda v: v, lambda v: 0.25 * v**2 + v, 0.0),
    # squared Hellinger: g(v) = 1 - exp(-v), f*(t) = t / (1 - t) = exp(v) - 1
    "squared-hellinger": FDivergence(lambda v: 1.0 - torch.exp(-_bounded(v)),
                                     lambda v: torch.exp(_bounded(v)) - 1.0, 0.0),
    # Jensen-Shannon: the paper's pair g(v) = log 2 - softplus(-v), f*(t) = -log(2 - exp(t)) =
    # softplus(v) - log 2 bounds f(u) = u log u - (u + 1) log((u + 1) / 2), whose D_f is 2 JS; halving
    # both makes the bound JS itself. v is the log-odds of "real", as in the logistic objectives
    "js": FDivergence(lambda v: 0.5 * (math.log(2.0) - F.softplus(-v)),
                      lambda v: 0.5 * (F.softplus(v) - math.log(2.0)), 0.0),
}


def _f_objective(divergence: FDivergence) -> Objective:
    def d_loss(real: Tensor, fake: Tensor, smoothing: float = 0.0) -> Tensor:
        return -divergence.value(real, fake)  # label smoothing has no meaning for an f-divergence critic

    def g_loss(fake: Tensor) -> Tensor:
        return -divergence.activation(fake).mean()

    return Objective(d_loss, g_loss, probabilistic=divergence is F_DIVERGENCES["js"],
                     decision_threshold=divergence.optimal_at_equality)


for _name, _divergence in F_DIVERGENCES.items():
    OBJECTIVES.register(_name)(_f_objective(_divergence))


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E[(||grad_x D(x_hat)||_2 - 1)^2] on random interpolates."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


def r1_penalty(real_logits: Tensor, real: Tensor) -> Tensor:
    """E[||grad_x D(x)||^2] on real data (Mescheder et al. 2018); `real` must require grad."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()


def l1_loss(prediction: Tensor, target: Tensor) -> Tensor:
    return (prediction - target).abs().mean()
