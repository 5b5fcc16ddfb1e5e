import math

import pytest
import torch

from gantool.losses import (
    OBJECTIVES,
    gradient_penalty,
    minimax_g_loss,
    minimax_value,
    nonsaturating_g_loss,
    r1_penalty,
)

ZERO = torch.zeros(8)  # logit 0 everywhere: D = 1/2


def test_minimax_value_at_equilibrium_is_minus_log4():
    assert minimax_value(ZERO, ZERO).item() == pytest.approx(-math.log(4))
    assert OBJECTIVES.get("minimax").d_loss(ZERO, ZERO, 0.0).item() == pytest.approx(math.log(4))


def test_generator_losses_at_equilibrium():
    assert minimax_g_loss(ZERO).item() == pytest.approx(-math.log(2))  # log(1 - 1/2)
    assert nonsaturating_g_loss(ZERO).item() == pytest.approx(math.log(2))  # -log(1/2)
    assert OBJECTIVES.get("lsgan").g_loss(ZERO).item() == pytest.approx(1.0)
    assert OBJECTIVES.get("hinge").d_loss(ZERO, ZERO, 0.0).item() == pytest.approx(2.0)
    assert OBJECTIVES.get("wgan-gp").d_loss(ZERO, ZERO, 0.0).item() == pytest.approx(0.0)


def test_logistic_losses_are_stable_at_extreme_logits():
    big = torch.full((4,), 1e4)
    for name in ("minimax", "nonsaturating"):
        obj = OBJECTIVES.get(name)
        assert torch.isfinite(obj.d_loss(big, -big, 0.0))
        assert torch.isfinite(obj.d_loss(-big, big, 0.0))
        assert torch.isfinite(obj.g_loss(-big)) and torch.isfinite(obj.g_loss(big))


@pytest.mark.parametrize("name", OBJECTIVES.names())
def test_gradient_directions(name):
    """D pushes real scores up and fake scores down; G pushes fake scores up."""
    obj = OBJECTIVES.get(name)
    real = torch.zeros(4, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)  # lsgan's fake target is 0, so not at 0
    obj.d_loss(real, fake, 0.0).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake_g = torch.zeros(4, requires_grad=True)
    obj.g_loss(fake_g).backward()
    assert (fake_g.grad < 0).all()


def test_saturation_of_minimax_versus_nonsaturating():
    """When D confidently rejects fakes, log(1 - D) gives a vanishing gradient; -log D does not."""
    rejected = torch.full((4,), -10.0, requires_grad=True)
    minimax_g_loss(rejected).backward()
    saturating = rejected.grad.abs().sum().item()
    rejected.grad = None
    nonsaturating_g_loss(rejected).backward()
    assert rejected.grad.abs().sum().item() > 1000 * saturating


def test_one_sided_label_smoothing_moves_only_real_target():
    obj = OBJECTIVES.get("nonsaturating")
    real = torch.zeros(4, requires_grad=True)
    fake = torch.full((4,), -30.0)
    logit = torch.full((4,), math.log(0.9 / 0.1), requires_grad=True)  # D(x) = 0.9
    obj.d_loss(logit, fake, 0.1).backward()
    assert logit.grad.abs().max().item() < 1e-6  # optimum is D(x) = 1 - s
    obj.d_loss(real, fake, 0.0).backward()
    assert (real.grad < 0).all()


def test_gradient_penalty_of_a_unit_slope_critic_is_zero():
    w = torch.zeros(1, 3, 4, 4)
    w.view(-1)[0] = 1.0  # linear critic with ||grad|| = 1
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(5, 3, 4, 4), torch.randn(5, 3, 4, 4)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)
    critic2 = lambda x: 3 * (x * w).flatten(1).sum(1)  # noqa: E731
    assert gradient_penalty(critic2, real, fake).item() == pytest.approx(4.0)


def test_r1_penalty_is_squared_gradient_norm():
    x = torch.randn(6, 2, requires_grad=True)
    logits = (x * torch.tensor([3.0, 4.0])).sum(1)
    assert r1_penalty(logits, x).item() == pytest.approx(25.0)
