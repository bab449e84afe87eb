"""Architectures: the slides' parameter counts, DCGAN shapes and counts, clear size errors."""

import pytest
import torch
from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    SlidesDiscriminator,
    SlidesGenerator,
    count_params,
)


def test_slides_model_parameter_counts():
    assert count_params(SlidesGenerator((1, 28, 28), z_dim=100)) == 1_164_289
    assert count_params(SlidesDiscriminator((1, 28, 28), z_dim=100)) == 40_705


@pytest.mark.parametrize("channels,g_params,d_params", [(3, 3_576_704, 2_765_568),
                                                        (1, 3_574_656, 2_763_520)])
def test_dcgan_64_matches_pytorch_examples(channels, g_params, d_params):
    shape = (channels, 64, 64)
    assert count_params(DCGANGenerator(shape, z_dim=100, width=64)) == g_params
    assert count_params(DCGANDiscriminator(shape, z_dim=100, width=64)) == d_params


def test_dcgan_hidden_layers_give_infogans_mnist_networks_counted_by_hand():
    """model.g.hidden / model.d.hidden = 1024 at width 64, 28 px, 62 + 12 inputs: G is FC 74x1024 + b,
    BN, FC 1024x6272, BN, ConvT 128->64 4x4, BN, ConvT 64->1 4x4; D is conv 1->64 4x4,
    conv 64->128 4x4, BN, FC 6272x1024, BN, FC 1024x1 + b. 0 (the default) leaves DCGAN as it was."""
    G = DCGANGenerator((1, 28, 28), z_dim=74, width=64, hidden=1024)
    D = DCGANDiscriminator((1, 28, 28), z_dim=74, width=64, hidden=1024)
    g = 74 * 1024 + 1024 + 2048 + 1024 * 6272 + 2 * 6272 + 128 * 64 * 16 + 128 + 64 * 16
    d = 16 * 64 + 64 * 128 * 16 + 256 + 6272 * 1024 + 2048 + 1024 + 1
    assert (count_params(G), count_params(D)) == (g, d) == (6_646_144, 6_557_953)
    assert G(torch.randn(3, 74)).shape == (3, 1, 28, 28) and D(torch.randn(3, 1, 28, 28)).shape == (3,)
    assert [type(m) for m in D.net[-5:]] == [nn.Flatten, nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Linear]
    plain = DCGANGenerator((1, 28, 28), z_dim=74, width=64)
    assert isinstance(plain.net[0], nn.ConvTranspose2d)
    assert count_params(plain) == 74 * 128 * 49 + 256 + 131_072 + 128 + 1024


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan_shapes(size, channels):
    G = DCGANGenerator((channels, size, size), z_dim=16, width=8)
    D = DCGANDiscriminator((channels, size, size), z_dim=16, width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # Tanh
    assert D(x).shape == (5,)  # logits, one per example


def test_dcgan_follows_the_slides_rules():
    G, D = DCGANGenerator((1, 32, 32), 16, 8), DCGANDiscriminator((1, 32, 32), 16, 8)
    g_types = {type(m) for m in G.modules()}
    d_types = {type(m) for m in D.modules()}
    assert nn.ConvTranspose2d in g_types and nn.ReLU in g_types and nn.Tanh in g_types
    assert nn.Conv2d in d_types and nn.LeakyReLU in d_types and nn.BatchNorm2d in d_types
    assert not any(t.__name__.endswith("Pool2d") for t in g_types | d_types)
    assert nn.Sigmoid not in d_types  # D returns logits
    conv = [m.weight for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert abs(torch.cat([w.flatten() for w in conv]).std().item() - 0.02) < 0.002


@pytest.mark.parametrize("size", [20, 30, 48, 7])
def test_dcgan_rejects_sizes_it_cannot_build(size):
    with pytest.raises(ConfigError, match=f"cannot build {size}x{size}"):
        DCGANGenerator((1, size, size), z_dim=8)


def test_slides_model_rejects_other_sizes():
    with pytest.raises(ConfigError, match="28x28 images only"):
        SlidesGenerator((3, 32, 32), z_dim=100)


def test_mlp_for_points_and_images():
    G, D = MLPGenerator((2,), z_dim=2), MLPDiscriminator((2,), z_dim=2)
    assert G(torch.randn(7, 2)).shape == (7, 2) and D(torch.randn(7, 2)).shape == (7,)
    G = MLPGenerator((1, 28, 28), z_dim=10)
    x = G(torch.randn(3, 10))
    assert x.shape == (3, 1, 28, 28) and x.abs().max() <= 1
