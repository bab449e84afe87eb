"""Building blocks shared by progan and stylegan (Karras et al. 2018, 2019, 2020).

Equalised learning rate (ProGAN Sec. 4.1): weights are stored as N(0, 1) and scaled at run time
by He's constant c = gain / sqrt(fan_in), so every weight sees the same effective step size under
Adam. lr_mul additionally scales the stored weight (StyleGAN's mapping network uses 0.01).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

SQRT2 = math.sqrt(2)


def channel_plan(levels: int, width: int, width_max: int = 0) -> list[int]:
    """Channels at each level 0 .. levels (base resolution .. the data's): the papers' rule, fewer
    channels as the images grow (ProGAN: min(base / 2^stage, max); StyleGAN2: min(base / res, max)),
    i.e. `width` at the data's size, doubled per halving, capped at width_max; 0 = width everywhere."""
    if not width_max:
        return [width] * (levels + 1)
    return [min(width_max, width * 2 ** (levels - level)) for level in range(levels + 1)]


class EqualLinear(nn.Module):
    """y = (c W) x + b with W ~ N(0, 1/lr_mul^2) stored, c = lr_mul * gain / sqrt(in)."""

    def __init__(self, n_in: int, n_out: int, gain: float = SQRT2, bias_init: float = 0.0,
                 lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init)))
        self.scale, self.lr_mul = lr_mul * gain / math.sqrt(n_in), lr_mul

    def forward(self, x):  # (B, in) -> (B, out)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class EqualConv2d(nn.Module):
    """A same-padded k x k convolution with an equalised learning rate (fan_in = in * k * k)."""

    def __init__(self, n_in: int, n_out: int, kernel: int, gain: float = SQRT2, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
        self.scale, self.pad = gain / math.sqrt(n_in * kernel * kernel), kernel // 2

    def forward(self, x):  # (B, in, H, W) -> (B, out, H, W)
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """ProGAN Sec. 4.2: each pixel's feature vector divided by its RMS over channels (dim 1)."""
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + eps)


def minibatch_std(x: torch.Tensor) -> torch.Tensor:
    """ProGAN Sec. 3: the std of each feature at each pixel over the minibatch, averaged to one
    number, appended as a constant channel: (B, C, H, W) -> (B, C + 1, H, W)."""
    s = x.std(0, unbiased=False).mean() if len(x) > 1 else x.new_zeros(())
    return torch.cat([x, s.expand(len(x), 1, *x.shape[2:])], 1)


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def down(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling (odd sizes floor, like the data's 7*2^n plans never need)."""
    return F.avg_pool2d(x, 2)


def up(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling (ProGAN)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")
