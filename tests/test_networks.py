import pytest
import torch

from gantool.errors import GantoolError
from gantool.networks import DISCRIMINATORS, GENERATORS
from gantool.networks.patchgan import receptive_field


def _family(registry, family):
    return [name for name in registry.names() if registry.get(name).family == family]


def test_every_registered_network_has_a_tested_family():
    for registry in (GENERATORS, DISCRIMINATORS):
        for name in registry.names():
            assert registry.get(name).family in ("conditional", "translation", "unconditional"), name


CONDITIONAL = [(GENERATORS, n) for n in _family(GENERATORS, "conditional")] + \
              [(DISCRIMINATORS, n) for n in _family(DISCRIMINATORS, "conditional")]


@pytest.mark.parametrize("registry, name", CONDITIONAL, ids=[n for _, n in CONDITIONAL])
@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_conditional_network_shapes(registry, name, size, channels):
    net = registry.get(name)(channels=channels, image_size=size, num_classes=10)
    out = net(*net.example_inputs(3))
    if registry is GENERATORS:
        assert out.shape == (3, channels, size, size)
        assert out.abs().max() <= 1.0  # tanh output range
    else:
        assert out.shape == (3,)  # one logit per image


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


@pytest.mark.parametrize("name", _family(DISCRIMINATORS, "conditional"))
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
    with pytest.raises(GantoolError, match=r"unknown generator 'nope'; valid: .*dcgan_conditional"):
        GENERATORS.get("nope")


@pytest.mark.parametrize("name", _family(GENERATORS, "translation"))
@pytest.mark.parametrize("in_ch, out_ch", [(3, 3), (1, 3), (3, 1)])
def test_translation_generator_shapes(name, in_ch, out_ch):
    net = GENERATORS.get(name)(in_channels=in_ch, out_channels=out_ch, ngf=4).eval()
    m = max(net.size_multiple, 8)
    for h, w in [(m, m), (m, 2 * m), (2 * m, m)]:
        out = net(torch.randn(1, in_ch, h, w))
        assert out.shape == (1, out_ch, h, w)


@pytest.mark.parametrize("name, multiple", [("unet_128", 128), ("unet_256", 256)])
def test_unet_depth_and_size_error(name, multiple):
    net = GENERATORS.get(name)(ngf=4)
    assert net.size_multiple == multiple
    with pytest.raises(GantoolError, match=f"multiples of {multiple}"):
        net(torch.randn(1, 3, multiple + 8, multiple))


def test_unet_skip_connections_carry_input_detail():
    """Changing one input pixel changes the output near it through the outermost skip."""
    torch.manual_seed(0)
    net = GENERATORS.get("unet_128")(ngf=4, norm="none", dropout=0.0).eval()
    x = torch.randn(1, 3, 128, 128)
    y = x.clone()
    y[0, :, 64, 64] += 5.0
    diff = (net(x) - net(y)).abs()[0].sum(0)
    assert diff[62:67, 62:67].sum() > 0
    assert diff[62:67, 62:67].sum() > diff[:16, :16].sum()


def test_unet_dropout_sits_in_the_inner_decoder_blocks():
    for name, expected in (("unet_256", 3), ("unet_128", 2)):
        net = GENERATORS.get(name)(ngf=4)
        assert sum(isinstance(m, torch.nn.Dropout) for m in net.modules()) == expected


@pytest.mark.parametrize("name", _family(DISCRIMINATORS, "translation"))
def test_translation_discriminator_gives_a_grid_of_logits(name):
    net = DISCRIMINATORS.get(name)(in_channels=6, ndf=8)
    out = net(*net.example_inputs(2))
    assert out.dim() == 4 and out.shape[:2] == (2, 1)


def test_patchgan_receptive_field_is_70_pixels():
    assert receptive_field(3) == 70
    net = DISCRIMINATORS.get("patchgan")(in_channels=3, ndf=4, norm="none").eval()
    for p in net.parameters():
        torch.nn.init.constant_(p, 0.01)
    x = torch.zeros(1, 3, 140, 140, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0].abs().sum(0).sum(1).nonzero()
    assert rows.max() - rows.min() + 1 == 70
