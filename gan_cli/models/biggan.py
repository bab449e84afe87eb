"""A small class-conditional BigGAN (Brock et al. 2019), for 28-64 px labelled images.

G: z is split into n + 1 chunks (n doublings) (hierarchical latent): the first feeds the dense layer to
base x base, each residual up-block's conditional batchnorm reads [shared class embedding, its
chunk]. One self-attention block (SAGAN, Zhang et al. 2019) at a
configurable resolution; spectral norm on G's convs and linears (model.g.spectral_norm) and on
D's (model.spectral_norm, on in conf/model/biggan.yaml). D: residual down-blocks, the same
attention, ReLU, sum pooling, and the projection head (Miyato & Koyama 2018):
    D(x, y) = psi(h) + <embed(y), h>,  h = sum-pooled features.
Orthogonal regularisation (BigGAN Sec. 3.1) is an optional gradient term on G's weights,
beta * 2 (W W^T * (1 - I)) W, i.e. the gradient of beta/2 ||W W^T * (1 - I)||_F^2, added as the
gradient is computed (a hook), so the gan method's G step needs no change.
"""

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gan_cli.errors import ConfigError
from gan_cli.models.conditional import spectral_norm_
from gan_cli.models.progan import resolution_plan
from gan_cli.options import Count, NonNegative, NonNegativeInt, Range

Resolution = Annotated[int, Range(0)]
Width = Annotated[int, Range(8)]  # attention's theta and phi have width // 8 channels


def attention_size(attention: int, size: int, sizes: list, key: str) -> int:
    """The resolution of the attention block: 0 = half the data's size; else one of `sizes`."""
    attention = attention or size // 2
    if attention not in sizes:
        raise ConfigError(f"{key}.attention={attention} is not allowed for {size}x{size} data: one of "
                          f"{', '.join(map(str, sizes))}, or 0 for {size // 2}")
    return attention


class ConditionalBatchNorm(nn.Module):
    """BN without its own affine; gain 1 + L_g(c) and bias L_b(c) from the conditioning vector c."""

    def __init__(self, channels: int, cond_dim: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain, self.bias = nn.Linear(cond_dim, channels), nn.Linear(cond_dim, channels)

    def forward(self, x, c):  # (B, C, H, W), (B, cond_dim)
        return self.bn(x) * (1 + self.gain(c))[:, :, None, None] + self.bias(c)[:, :, None, None]


class UpBlock(nn.Module):
    """CBN, ReLU, up x2, conv3, CBN, ReLU, conv3; skip: up x2, conv1."""

    def __init__(self, width: int, cond_dim: int):
        super().__init__()
        self.bn1, self.bn2 = ConditionalBatchNorm(width, cond_dim), ConditionalBatchNorm(width, cond_dim)
        self.conv1, self.conv2 = nn.Conv2d(width, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)
        self.skip = nn.Conv2d(width, width, 1)

    def forward(self, x, c):
        h = self.conv1(F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2))
        return self.conv2(F.relu(self.bn2(h, c))) + self.skip(F.interpolate(x, scale_factor=2))


class SelfAttention(nn.Module):
    """SAGAN: x + gamma * o(g(x) softmax(theta(x)^T phi(x))), phi and g max-pooled 2x2, gamma from 0."""

    def __init__(self, width: int):
        super().__init__()
        self.theta = nn.Conv2d(width, width // 8, 1, bias=False)
        self.phi = nn.Conv2d(width, width // 8, 1, bias=False)
        self.g = nn.Conv2d(width, width // 2, 1, bias=False)
        self.o = nn.Conv2d(width // 2, width, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x):  # (B, C, H, W) -> same
        b, _, h, w = x.shape
        theta = self.theta(x).flatten(2)                                 # (B, C/8, HW)
        phi, g = F.max_pool2d(self.phi(x), 2).flatten(2), F.max_pool2d(self.g(x), 2).flatten(2)
        beta = torch.softmax(theta.transpose(1, 2) @ phi, -1)            # (B, HW, HW/4)
        return x + self.gamma * self.o((g @ beta.transpose(1, 2)).view(b, -1, h, w))


def ortho_hooks(G: nn.Module, beta: float) -> None:
    """BigGAN's orthogonal regularisation as a gradient hook on every conv/linear weight of G."""
    def add(grad, p):
        w = p.detach().flatten(1)
        off = (w @ w.T) * (1 - torch.eye(len(w), device=w.device))
        return grad + beta * 2 * (off @ w).view_as(p)

    for m in G.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            p = m.parametrizations.weight.original if parametrize.is_parametrized(m, "weight") else m.weight
            p.register_hook(lambda grad, p=p: add(grad, p))


def truncated_normal(z: torch.Tensor, psi: float) -> torch.Tensor:
    """BigGAN's truncation trick: entries with |z| > t redrawn until inside, t = sqrt(2) erfinv(psi)
    (a share psi of N(0, 1) lies within +-t; psi = 1: no truncation). Deterministic given z."""
    if psi >= 1:
        return z
    t, z, gen = math.sqrt(2) * torch.erfinv(torch.tensor(psi)).item(), z.clone(), torch.Generator(z.device)
    gen.manual_seed(0)
    for _ in range(10000):
        outside = z.abs() > t
        if not outside.any():
            break
        z[outside] = torch.randn(int(outside.sum()), device=z.device, generator=gen)
    return z.clamp(-t, t)


class BigGANGenerator(nn.Module):
    """[z_0] -> dense -> (width, base, base) -> UpBlock per doubling (+ attention) -> BN, ReLU, conv3,
    tanh."""

    conditional = True  # build_generator sets it (and num_classes) explicitly as well
    biggan_truncation = True  # gan sample truncation=psi resamples |z| above a threshold

    def __init__(self, shape, z_dim: int, num_classes: int, width: Width = 64, embed_dim: Count = 32,
                 attention: Resolution = 0, spectral_norm: bool = True, ortho: NonNegative = 0.0):
        super().__init__()
        size = shape[-1]
        base, n = resolution_plan(size, "biggan")
        if z_dim < n + 1:
            raise ConfigError(f"model.z_dim={z_dim} is not allowed for model=biggan at {size}x{size}: "
                              f">= {n + 1} (a chunk for the dense layer and one per block)")
        self.z_dim, self.width, self.base, self.psi = z_dim, width, base, 1.0
        self.chunks = [len(c) for c in torch.arange(z_dim).tensor_split(n + 1)]
        self.shared = nn.Embedding(num_classes, embed_dim)
        self.dense = nn.Linear(self.chunks[0], width * base * base)
        self.blocks = nn.ModuleList([UpBlock(width, embed_dim + c) for c in self.chunks[1:]])
        self.attention_at = attention_size(attention, size, [base * 2**i for i in range(n + 1)],
                                           "model.g")
        self.attention = SelfAttention(width)
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, shape[0], 3, padding=1),
                                 nn.Tanh())
        if spectral_norm:
            spectral_norm_(self, embeddings=False)  # the shared class embedding stays plain
        if ortho:
            ortho_hooks(self, ortho)

    def forward(self, z, y):  # (B, z_dim), (B,) -> (B, C, size, size)
        zs, e = truncated_normal(z, self.psi).split(self.chunks, 1), self.shared(y)
        h = self.dense(zs[0]).view(-1, self.width, self.base, self.base)
        h = self.attention(h) if self.attention_at == self.base else h
        for block, chunk in zip(self.blocks, zs[1:]):
            h = block(h, torch.cat([e, chunk], 1))
            h = self.attention(h) if h.shape[-1] == self.attention_at else h
        return self.out(h)


class DownBlock(nn.Module):
    """(ReLU,) conv3, ReLU, conv3, avg-pool; skip: conv1, avg-pool (BigGAN's D block). Without
    `down`: no pooling, and the skip is the identity (BigGAN-PyTorch's D_arch[32], last 2 blocks)."""

    def __init__(self, n_in: int, width: int, preact: bool, down: bool = True):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(n_in, width, 3, padding=1), nn.Conv2d(width, width, 3, padding=1)
        self.skip = nn.Conv2d(n_in, width, 1) if down or n_in != width else nn.Identity()
        self.preact, self.down = preact, down

    def forward(self, x):
        h = self.conv2(F.relu(self.conv1(F.relu(x) if self.preact else x))) + self.skip(x)
        return F.avg_pool2d(h, 2) if self.down else h  # pooling is linear: pool(a) + pool(b) = pool(a + b)


class BigGANDiscriminator(nn.Module):
    """x -> DownBlock per halving to base (+ attention) -> `extra_blocks` more at base -> ReLU -> sum
    pool h -> linear(h) + <embed(y), h>."""

    def __init__(self, shape, z_dim: int, num_classes: int, width: Width = 64, attention: Resolution = 0,
                 extra_blocks: NonNegativeInt = 0):
        super().__init__()
        size = shape[-1]
        base, n = resolution_plan(size, "biggan")
        self.attention_at = attention_size(attention, size, [base * 2**i for i in range(n)], "model.d")
        self.blocks = nn.ModuleList([DownBlock(shape[0] if i == 0 else width, width, i > 0, down=i < n)
                                     for i in range(n + extra_blocks)])
        self.attention = SelfAttention(width)
        self.linear, self.embed = nn.Linear(width, 1), nn.Embedding(num_classes, width)

    def forward(self, x, y):  # (B, C, size, size), (B,) -> (B,)
        h = x
        for block in self.blocks:
            h = block(h)
            h = self.attention(h) if h.shape[-1] == self.attention_at else h
        h = F.relu(h).sum((2, 3))                                        # (B, width)
        return self.linear(h).flatten() + (self.embed(y) * h).sum(1)
