"""A small StyleGAN2-style pair (Karras et al. 2019, 2020), for 28-64 px images.

G = mapping network z -> w (pixelnorm, `mapping_layers` equalised dense layers, lr x 0.01) and a
synthesis network from a learned constant (base x base, base 4 or 7) through modulated,
demodulated 3x3 convolutions, each followed by per-pixel noise (a learned strength per layer),
a bias and LReLU; RGB outputs summed over resolutions (StyleGAN2's skip generator). Each conv
and each toRGB reads its own row of ws (B, num_ws, w_dim); toRGB shares the next conv's index,
as in StyleGAN2. While training, `mixing` of the samples take their ws from two z's cut at a
random layer (style-mixing regularisation), and w_avg tracks the mean w for the truncation trick.
Noise is fresh while training and fixed (a buffer) in eval mode, so samples are reproducible.
D: residual blocks with equalised learning rate, minibatch std, dense head (StyleGAN2's resnet D).
"""

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.models.equalized import (
    SQRT2,
    EqualConv2d,
    EqualLinear,
    channel_plan,
    down,
    lrelu,
    minibatch_std,
    pixel_norm,
)
from gan_cli.models.progan import resolution_plan
from gan_cli.options import Count, Fraction, NonNegativeInt, Range

Probability = Annotated[float, Range(0, 1)]


class ModulatedConv(nn.Module):
    """StyleGAN2 Sec. 2.2: w'_ijk = s_i w_ijk (style s = affine(w), one scale per input channel),
    then demodulated w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps); a grouped conv, one group per sample."""

    def __init__(self, n_in: int, n_out: int, kernel: int, w_dim: int, demodulate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, kernel, kernel))
        self.scale, self.demodulate = 1 / math.sqrt(n_in * kernel * kernel), demodulate
        self.affine = EqualLinear(w_dim, n_in, gain=1, bias_init=1.0)  # styles start at 1

    def forward(self, x, w):  # (B, in, H, W), (B, w_dim) -> (B, out, H, W)
        """Scale the input by the styles, convolve with the shared weight, scale the output by the
        demodulation: equal to convolving with w''_ijk per sample (StyleGAN2's fused_modconv=False),
        and one plain conv instead of a grouped one, much faster on CPUs."""
        style = self.affine(w)                                        # (B, in)
        weight = self.scale * self.weight                             # (out, in, k, k)
        out = F.conv2d(x * style[:, :, None, None], weight, padding=weight.shape[-1] // 2)
        if self.demodulate:  # sum_ik (s_i w_ijk)^2 = s^2 . sum_k w_ijk^2
            demod = torch.rsqrt(style.square() @ weight.square().sum((2, 3)).T + 1e-8)  # (B, out)
            out = out * demod[:, :, None, None]
        return out


class StyleLayer(nn.Module):
    """(upsample x2, bilinear) -> modulated conv 3x3 -> + strength * noise -> + bias -> LReLU * sqrt 2."""

    def __init__(self, n_in: int, n_out: int, w_dim: int, size: int, upsample: bool = False):
        super().__init__()
        self.conv, self.upsample = ModulatedConv(n_in, n_out, 3, w_dim), upsample
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(n_out))
        fixed = torch.randn(1, 1, size, size, generator=torch.Generator().manual_seed(size))
        self.register_buffer("noise_const", fixed)

    def forward(self, x, w):
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = self.conv(x, w)
        noise = torch.randn_like(x[:, :1]) if self.training else self.noise_const
        return lrelu(x + self.noise_strength * noise + self.bias[None, :, None, None]) * SQRT2


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus a bias: the features' RGB at one resolution."""

    def __init__(self, n_in: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv(n_in, channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x, w):
        return self.conv(x, w) + self.bias[None, :, None, None]


class StyleGANGenerator(nn.Module):
    """z -> mapping -> w -> ws (B, num_ws, w_dim) -> synthesis from a constant -> image."""

    conditional, num_classes = False, 0
    w_space = True          # gan sample: interpolate in W, truncate towards w_avg, mode=style_mix

    def __init__(self, shape, z_dim: int, width: Count = 64, w_dim: Count = 128,
                 mapping_layers: Count = 8, mixing: Probability = 0.9, w_avg_beta: Fraction = 0.995,
                 width_max: NonNegativeInt = 0):
        super().__init__()
        base, n = resolution_plan(shape[-1], "stylegan")
        ch = channel_plan(n, width, width_max)  # ch[i]: channels at resolution base * 2^i
        self.z_dim, self.mixing, self.beta, self.psi = z_dim, mixing, w_avg_beta, 1.0
        self.mapping = nn.ModuleList([EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=0.01)
                                      for i in range(mapping_layers)])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.const = nn.Parameter(torch.randn(1, ch[0], base, base))
        self.layers = nn.ModuleList([StyleLayer(ch[0], ch[0], w_dim, base)])
        for i in range(1, n + 1):
            self.layers.extend([StyleLayer(ch[i - 1], ch[i], w_dim, base * 2**i, upsample=True),
                                StyleLayer(ch[i], ch[i], w_dim, base * 2**i)])
        self.rgbs = nn.ModuleList([ToRGB(c, shape[0], w_dim) for c in ch])
        self.num_ws = len(self.layers) + 1

    def map(self, z):  # (B, z_dim) -> (B, w_dim)
        w = pixel_norm(z)
        for layer in self.mapping:
            w = lrelu(layer(w))
        return w

    def styles(self, z):
        """ws (B, num_ws, w_dim); in training, mixed from a second z beyond a random cut, and w_avg
        updated."""
        w = self.map(z)
        ws = w[:, None].repeat(1, self.num_ws, 1)
        if self.training:
            with torch.no_grad():
                # w is bf16/fp16 under autocast; the average stays fp32
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1 - self.beta)
            if self.mixing > 0:
                cut = torch.randint(1, self.num_ws, (len(z), 1), device=z.device)
                cut = torch.where(torch.rand(len(z), 1, device=z.device) < self.mixing, cut, self.num_ws)
                later = torch.arange(self.num_ws, device=z.device)[None] >= cut  # (B, num_ws)
                ws = torch.where(later[..., None], self.map(torch.randn_like(z))[:, None], ws)
        return ws

    def truncate(self, ws, psi: float):
        """The truncation trick in W: w_avg + psi (w - w_avg) (psi = 1: unchanged)."""
        return torch.lerp(self.w_avg.expand_as(ws), ws, psi) if psi < 1 else ws

    def synthesize(self, ws):  # (B, num_ws, w_dim) -> (B, C, size, size)
        x = self.layers[0](self.const.expand(len(ws), -1, -1, -1), ws[:, 0])
        rgb = self.rgbs[0](x, ws[:, 1])
        for i in range(1, len(self.rgbs)):
            x = self.layers[2 * i](self.layers[2 * i - 1](x, ws[:, 2 * i - 1]), ws[:, 2 * i])
            rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = rgb + self.rgbs[i](x, ws[:, 2 * i + 1])
        return rgb

    def forward(self, z, y=None):  # (B, z_dim) -> (B, C, size, size)
        return self.synthesize(self.truncate(self.styles(z), self.psi))


class ResidualDown(nn.Module):
    """StyleGAN2's resnet D block: (conv, LReLU, conv, LReLU, pool) + 1x1 skip of the pooled input,
    over sqrt 2."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.conv1, self.conv2 = EqualConv2d(n_in, n_in, 3), EqualConv2d(n_in, n_out, 3)
        self.skip = EqualConv2d(n_in, n_out, 1, gain=1, bias=False)

    def forward(self, x):
        return (down(lrelu(self.conv2(lrelu(self.conv1(x))))) + self.skip(down(x))) / SQRT2


class StyleGANDiscriminator(nn.Module):
    """x -> fromRGB -> residual blocks down to base x base -> minibatch std -> conv -> dense -> logit."""

    def __init__(self, shape, z_dim: int, width: Count = 64, width_max: NonNegativeInt = 0):
        super().__init__()
        base, n = resolution_plan(shape[-1], "stylegan")
        ch = channel_plan(n, width, width_max)
        self.from_rgb = EqualConv2d(shape[0], ch[n], 1)
        self.blocks = nn.Sequential(*[ResidualDown(ch[i], ch[i - 1]) for i in range(n, 0, -1)])
        self.final_conv = EqualConv2d(ch[0] + 1, ch[0], 3)
        self.final_dense = EqualLinear(ch[0] * base * base, ch[0])
        self.out = EqualLinear(ch[0], 1, gain=1)

    def forward(self, x, y=None):  # (B, C, size, size) -> (B,)
        h = self.blocks(lrelu(self.from_rgb(x)))
        h = lrelu(self.final_conv(minibatch_std(h)))
        return self.out(lrelu(self.final_dense(h.flatten(1)))).flatten()
