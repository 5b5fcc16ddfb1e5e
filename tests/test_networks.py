import pytest
import torch

from gantool.errors import GantoolError
from gantool.networks import DISCRIMINATORS, GENERATORS


@pytest.mark.parametrize("name", GENERATORS.names())
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_shapes(name, size, channels):
    net = GENERATORS.get(name)(channels=channels, image_size=size, num_classes=10)
    out = net(*net.example_inputs(3))
    assert out.shape == (3, channels, size, size)
    assert out.abs().max() <= 1.0  # tanh output range


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_discriminator_shapes(name, size, channels):
    net = DISCRIMINATORS.get(name)(channels=channels, image_size=size, num_classes=10)
    out = net(*net.example_inputs(3))
    assert out.shape == (3,)


@pytest.mark.parametrize("conditioning", ["cbn", "concat"])
def test_conditioning_changes_generator_output(conditioning):
    torch.manual_seed(0)
    net = GENERATORS.get("dcgan_conditional")(conditioning=conditioning).eval()
    with torch.no_grad():
        # perturb the class parameters away from their neutral init so classes differ at init
        for name, p in net.named_parameters():
            if "scale" in name or "shift" in name or "embed" in name:
                p.add_(torch.randn_like(p) * 0.5)
        z = torch.randn(1, net.z_dim).repeat(2, 1)
        out = net(z, torch.tensor([3, 7]))
    assert (out[0] - out[1]).abs().mean() > 1e-3


@pytest.mark.parametrize("name", DISCRIMINATORS.names())
def test_conditioning_changes_discriminator_output(name):
    torch.manual_seed(0)
    net = DISCRIMINATORS.get(name)()
    images = torch.randn(1, 1, 28, 28).repeat(2, 1, 1, 1)
    out = net(images, torch.tensor([3, 7]))
    assert (out[0] - out[1]).abs() > 1e-4


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(GantoolError, match="image size 30"):
        GENERATORS.get("dcgan_conditional")(image_size=30)


def test_unknown_network_lists_valid_names():
    with pytest.raises(GantoolError, match="valid: dcgan_conditional"):
        GENERATORS.get("nope")
