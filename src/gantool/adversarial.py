"""The adversarial part of a recipe's loss, with the discriminator-side stabilisers.

Recipes call `discriminator_loss` and `generator_loss` with a *critic*: a function from the image
being judged to logits (for a conditional D it closes over the condition). This object applies
what every recipe shares: differentiable augmentation and instance noise on D inputs, the chosen
objective with one-sided label smoothing, WGAN-GP's gradient penalty, and lazy R1.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from gantool.augment import DiffAugment
from gantool.config import LossConfig
from gantool.losses import OBJECTIVES, gradient_penalty, r1_penalty

Critic = Callable[[Tensor], Tensor]


class AdversarialLoss:
    def __init__(self, cfg: LossConfig, channels: int, total_steps: int) -> None:
        self.cfg = cfg
        self.objective = OBJECTIVES.get(cfg.objective)
        self.augment = DiffAugment(cfg.augment, channels)
        self.noise_steps = cfg.instance_noise_steps or total_steps

    def noise_std(self, step: int) -> float:
        if self.cfg.instance_noise <= 0:
            return 0.0
        return self.cfg.instance_noise * max(0.0, 1.0 - step / self.noise_steps)

    def prepare(self, images: Tensor, step: int) -> Tensor:
        """What D sees: augmented, then with annealed instance noise (Sonderby et al. 2017)."""
        images = self.augment(images)
        std = self.noise_std(step)
        if std > 0:
            images = images + std * torch.randn_like(images)
        return images

    def discriminator_loss(
        self, critic: Critic, real: Tensor, fake: Tensor, step: int, d_step: int
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """`step` drives the noise schedule; `d_step` (count of D updates) drives lazy R1."""
        cfg = self.cfg
        real_in = self.prepare(real, step)
        fake_in = self.prepare(fake.detach(), step)
        use_r1 = cfg.r1_weight > 0 and d_step % cfg.r1_interval == 0
        if use_r1:
            real_in = real_in.detach().requires_grad_(True)
        real_logits = critic(real_in)
        fake_logits = critic(fake_in)
        loss = self.objective.d_loss(real_logits.float(), fake_logits.float(), cfg.label_smoothing)
        stats = {"loss_d_adv": loss.detach()}
        if cfg.objective == "wgan-gp" and cfg.gp_weight > 0:
            penalty = gradient_penalty(critic, real_in, fake_in)
            loss = loss + cfg.gp_weight * penalty
            stats["gp"] = penalty.detach()
        if use_r1:
            penalty = r1_penalty(real_logits, real_in)
            # lazy regularisation: a stronger penalty less often keeps the same expected strength
            loss = loss + 0.5 * cfg.r1_weight * cfg.r1_interval * penalty
            stats["r1"] = penalty.detach()
        stats.update(self._scores(real_logits, fake_logits))
        return loss, stats

    def generator_loss(self, critic: Critic, fake: Tensor, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        fake_logits = critic(self.prepare(fake, step))
        loss = self.objective.g_loss(fake_logits.float())
        return loss, {"loss_g_adv": loss.detach()}

    def _scores(self, real_logits: Tensor, fake_logits: Tensor) -> dict[str, Tensor]:
        """Mean D(x) and D(G(z)) (probabilities for logistic objectives, raw scores otherwise) and
        D's accuracy at its objective's decision threshold (what the diagnostics watch)."""
        real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
        if self.objective.probabilistic:
            scores = {"d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean()}
        else:
            scores = {"d_real": real_logits.mean(), "d_fake": fake_logits.mean()}
        threshold = self.objective.decision_threshold
        if threshold is not None:
            scores["d_accuracy"] = 0.5 * ((real_logits > threshold).float().mean()
                                          + (fake_logits < threshold).float().mean())
        return scores
