"""Goodfellow et al. 2014-style fully connected G and D, for 2D points and flattened images."""

import math

from torch import nn

from gan_cli.options import Count


def is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3  # (C, H, W); 2D points have shape (2,)


class MLPGenerator(nn.Module):
    """z -> [Linear, ReLU] x layers -> Linear -> data; Tanh for images (data in [-1, 1])."""

    conditional, num_classes = False, 0  # build_generator sets them for a conditional G

    def __init__(self, shape, z_dim: int, hidden: Count = 128, layers: Count = 3):
        super().__init__()
        self.shape, self.z_dim = tuple(shape), z_dim
        dims = [z_dim] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        out = [nn.Tanh()] if is_image(self.shape) else []
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], math.prod(self.shape)), *out)

    def forward(self, z, y=None):  # (B, z_dim) -> (B, *shape); y: unused (unconditional)
        return self.net(z).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    """data -> flatten -> [Linear, LeakyReLU(0.2)] x layers -> Linear -> logit."""

    def __init__(self, shape, z_dim: int, hidden: Count = 128, layers: Count = 3):
        super().__init__()
        dims = [math.prod(shape)] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))]
        self.net = nn.Sequential(nn.Flatten(), *blocks, nn.Linear(dims[-1], 1))

    def forward(self, x, y=None):  # (B, *shape) -> (B,)
        return self.net(x).squeeze(1)
