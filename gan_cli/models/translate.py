"""Image-to-image networks for two-domain methods (gan_cli/methods/translate.py).

- CycleGAN (Zhu et al. 2017; junyanz/pytorch-CycleGAN-and-pix2pix): a ResNet generator
  (reflection pad, 7x7 conv, two stride-2 downsamples, residual blocks, two transposed-conv
  upsamples, 7x7 conv, Tanh) and a PatchGAN discriminator (4x4 convs, LeakyReLU 0.2, no norm
  on the first layer), both with instance norm without affine and N(0, 0.02) init.
- DiscoGAN (Kim et al. 2017): an encoder-decoder G (stride-2 convs down, transposed convs up,
  batchnorm) and a conv D of the encoder's shape ending in one logit per image.

Every G maps (B, C_in, S, S) -> (B, C_out, S, S) in [-1, 1]; every D returns logits: a (B, P)
map of patch logits (PatchGAN) or (B, 1). Sizes and channels come from the data.
"""

from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models.dcgan import dcgan_init
from gan_cli.options import Count


def _divisible(size: int, times: int, what: str) -> None:
    if size % 2**times:
        raise ConfigError(f"{what} cannot build {size}x{size} images: the size must be divisible by "
                          f"{2**times} (resize the data, e.g. data.image_size)")


def _norm(channels: int) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=False)  # CycleGAN's choice: no affine, no running stats


class ResidualBlock(nn.Module):
    """x + [pad, conv3, IN, ReLU, pad, conv3, IN](x), channels unchanged."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(channels))

    def forward(self, x):
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """(B, C_in, S, S) -> 7x7 conv w -> conv s2 2w -> conv s2 4w (S/4) -> blocks x [residual 4w]
    -> convT s2 2w -> convT s2 w -> 7x7 conv C_out -> Tanh. The paper: w = 64, 6 blocks at 128 px,
    9 at 256 px; S must be divisible by 4."""

    def __init__(self, shape, out_channels: int, width: Count = 64, blocks: Count = 6):
        super().__init__()
        channels, size = shape[0], shape[-1]
        _divisible(size, 2, "model=resnet_patchgan")
        w = width
        layers = [nn.ReflectionPad2d(3), nn.Conv2d(channels, w, 7), _norm(w), nn.ReLU(True)]
        for a, b in ((w, 2 * w), (2 * w, 4 * w)):                 # S -> S/2 -> S/4
            layers += [nn.Conv2d(a, b, 3, 2, 1), _norm(b), nn.ReLU(True)]
        layers += [ResidualBlock(4 * w) for _ in range(blocks)]
        for a, b in ((4 * w, 2 * w), (2 * w, w)):                 # S/4 -> S/2 -> S
            layers += [nn.ConvTranspose2d(a, b, 3, 2, 1, output_padding=1), _norm(b), nn.ReLU(True)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(w, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: conv4 s2 w, LReLU -> (layers - 1) x [conv4 s2, IN, LReLU] -> conv4 s1, IN, LReLU
    -> conv4 s1 -> 1: a map of logits, each judging one patch. With layers = 3 and w = 64 this is
    the paper's 70x70 PatchGAN; each added stride-2 layer about doubles the patch side
    (layers 1: 16 px, 2: 34 px, 3: 70 px)."""

    def __init__(self, shape, width: Count = 64, layers: Count = 3):
        super().__init__()
        channels, size = shape[0], shape[-1]
        if size // 2**layers < 3:  # the two stride-1 4x4 convs need a 3x3 map to leave a 1x1 one
            deepest = max((n for n in range(1, 12) if size // 2**n >= 3), default=0)
            allowed = f"use layers <= {deepest}" if deepest else "PatchGAN needs images of at least 6x6"
            raise ConfigError(f"model.d.layers={layers} is too deep for {size}x{size} images: {allowed}")
        widths = [width * 2 ** min(i, 3) for i in range(layers + 1)]  # channels capped at 8w
        body = [nn.Conv2d(channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2, True)]
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            body += [nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1), _norm(widths[i]),
                     nn.LeakyReLU(0.2, True)]
        body += [nn.Conv2d(widths[-1], 1, 4, 1, 1)]
        self.net = nn.Sequential(*body)
        self.apply(dcgan_init)

    def forward(self, x):  # (B, C, S, S) -> (B, P) patch logits
        return self.net(x).flatten(1)


class EncoderDecoderGenerator(nn.Module):
    """DiscoGAN's G: depth x [conv4 s2, BN (not first), LReLU 0.2] down to S / 2^depth, then
    depth x [convT4 s2, BN, ReLU] back up, the last to C_out with Tanh. Width doubles per level,
    capped at 8w. The paper: w = 64, depth 4 at 64 px; S must be divisible by 2^depth."""

    def __init__(self, shape, out_channels: int, width: Count = 64, depth: Count = 2):
        super().__init__()
        channels, size = shape[0], shape[-1]
        _divisible(size, depth, f"model=discogan with model.g.depth={depth}")
        widths = [width * 2 ** min(i, 3) for i in range(depth)]
        down, previous = [], channels
        for i, w in enumerate(widths):
            down += [nn.Conv2d(previous, w, 4, 2, 1, bias=False)]
            down += [nn.BatchNorm2d(w)] if i else []
            down += [nn.LeakyReLU(0.2, True)]
            previous = w
        up = []
        for a, b in zip(reversed(widths), list(reversed(widths))[1:]):
            up += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        up += [nn.ConvTranspose2d(widths[0], out_channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*down, *up)
        self.apply(dcgan_init)

    def forward(self, x):
        return self.net(x)


class EncoderDiscriminator(nn.Module):
    """DiscoGAN's D: the encoder (depth x [conv4 s2, BN (not first), LReLU 0.2]) then one conv over
    the whole S / 2^depth map -> (B, 1) logit (the paper's sigmoid lives in the loss)."""

    def __init__(self, shape, width: Count = 64, depth: Count = 2):
        super().__init__()
        channels, size = shape[0], shape[-1]
        _divisible(size, depth, f"model=discogan with model.d.depth={depth}")
        layers, previous = [], channels
        for i in range(depth):
            w = width * 2 ** min(i, 3)
            layers += [nn.Conv2d(previous, w, 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(w)] if i else []
            layers += [nn.LeakyReLU(0.2, True)]
            previous = w
        layers += [nn.Conv2d(previous, 1, size // 2**depth)]  # (B, 1, 1, 1)
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x):  # (B, C, S, S) -> (B, 1)
        return self.net(x).flatten(1)
