"""InfoGAN's networks (Chen et al. 2016): G fed [z, c], and D with a Q head on D's body.

Every registered D is `net = Sequential(body..., last layer)` with the last layer mapping the
body's features to one logit; Q shares the body and reads the same features.
"""

import math

import torch
from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.options import Count


class InfoGenerator(nn.Module):
    """G(z, c) = G'([z, c]): G' is any registered G built for z_dim + code_dim inputs; c holds the
    codes as one vector (one-hots of the categorical codes, then the continuous values)."""

    conditional, num_classes = False, 0  # labels never reach InfoGAN's G

    def __init__(self, G: nn.Module, z_dim: int, code_dim: int):
        super().__init__()
        self.G, self.z_dim, self.code_dim = G, z_dim, code_dim

    def forward(self, z, c):  # (B, z_dim), (B, code_dim) -> (B, *shape)
        return self.G(torch.cat([z, c], 1))


def body_features(D: nn.Module) -> int:
    """Number of features D's body hands its last (logit) layer: Q reads as many."""
    last = getattr(D, "net", [None])[-1]
    if isinstance(last, nn.Linear):
        return last.in_features
    if isinstance(last, nn.Conv2d):  # DCGAN: a base x base convolution over (C, base, base)
        return last.in_channels * math.prod(last.kernel_size)
    raise ConfigError(f"{type(D).__name__} has no body/logit split for InfoGAN's Q head")


class InfoDiscriminator(nn.Module):
    """D and Q sharing D's body: x -> body -> h; D's last layer: h -> logit; Q: h -> Linear(hidden),
    LeakyReLU(0.2), Linear(outputs). (The paper's Q also has batchnorm; none here, so that every
    batch size works.) Q is part of this module: D's optimizer trains it."""

    conditional = False

    def __init__(self, D: nn.Module, outputs: int, hidden: Count = 128):
        super().__init__()
        self.D = D
        self.Q = nn.Sequential(nn.Flatten(), nn.Linear(body_features(D), hidden), nn.LeakyReLU(0.2),
                               nn.Linear(hidden, outputs))

    def forward(self, x, y=None):  # (B, *shape) -> (B,) logits; y: unused (no labels)
        return self.D(x)

    def heads(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        """One pass of the body for both heads: logits (B,), Q's outputs (B, outputs)."""
        h = self.D.net[:-1](x)
        return self.D.net[-1](h).flatten(), self.Q(h)
