"""DCGAN (Radford et al. 2016): strided convs in D, transposed convs in G, batchnorm, N(0, 0.02) init.

Any image size 4*2^n or 7*2^n and any channel count; both come from the data.
"""

from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.options import Count, NonNegativeInt


def dcgan_plan(size: int) -> tuple[int, int]:
    """Split an image size into (base, n) with size = base * 2**n, base in {4, 7}, n >= 1."""
    base, n = size, 0
    while base % 2 == 0 and base > 7:
        base, n = base // 2, n + 1
    if base not in (4, 7) or n < 1:
        raise ConfigError(
            f"model=dcgan cannot build {size}x{size} images: sizes must be 4*2^n or 7*2^n "
            "(8, 14, 16, 28, 32, 56, 64, 128, ...)"
        )
    return base, n


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batchnorm gamma ~ N(1, 0.02), beta = 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(nn.Module):
    """z -> ConvT(base x base) -> [ConvT stride 2, BN, ReLU] ... -> ConvT stride 2 -> Tanh; with
    `hidden`, two fully connected layers replace the first ConvT (InfoGAN's MNIST G)."""

    conditional, num_classes = False, 0  # build_generator sets them for a conditional G

    def __init__(self, shape, z_dim: int, width: Count = 64, hidden: NonNegativeInt = 0):
        super().__init__()
        channels, size = shape[0], shape[-1]
        base, n = dcgan_plan(size)
        self.z_dim, self.hidden = z_dim, hidden
        widths = [width * 2**i for i in reversed(range(n))]  # e.g. 64px: [512, 256, 128, 64]
        first = widths[0] * base * base
        if hidden:  # InfoGAN's MNIST G: z -> FC hidden -> FC to (widths[0], base, base), BN per unit, ReLU
            layers = [nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
                      nn.Linear(hidden, first, bias=False), nn.BatchNorm1d(first), nn.ReLU(True),
                      nn.Unflatten(1, (widths[0], base, base))]
        else:  # DCGAN: z as a 1x1 image (forward) -> ConvT(base x base)
            layers = [nn.ConvTranspose2d(z_dim, widths[0], base, 1, 0, bias=False),
                      nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z, y=None):  # (B, z_dim) -> (B, C, size, size)
        return self.net(z if self.hidden else z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """x -> Conv stride 2, LReLU -> [Conv stride 2, BN, LReLU] ... -> Conv(base x base) -> logit; with
    `hidden`, a fully connected layer and a linear logit replace the last Conv (InfoGAN's MNIST D)."""

    def __init__(self, shape, z_dim: int, width: Count = 64, hidden: NonNegativeInt = 0):
        super().__init__()
        channels, size = shape[0], shape[-1]
        base, n = dcgan_plan(size)
        widths = [width * 2**i for i in range(n)]  # e.g. 64px: [64, 128, 256, 512]
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        if hidden:  # InfoGAN's MNIST D: -> FC hidden, BN, LReLU -> the logit (Q reads the hidden units)
            layers += [nn.Flatten(), nn.Linear(widths[-1] * base * base, hidden, bias=False),
                       nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, 1)]
        else:  # DCGAN: one base x base convolution to the logit
            layers += [nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x, y=None):  # (B, C, size, size) -> (B,)
        return self.net(x).flatten()
