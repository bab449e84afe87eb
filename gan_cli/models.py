"""Generators and discriminators. D returns logits; G's output matches the data's shape.

Every constructor takes the data shape (from the dataset, at the call site) and
z_dim, plus the keyword arguments of its YAML file in conf/model/.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.config import ConfigError, build


def _is_image(shape: tuple[int, ...]) -> bool:
    return len(shape) == 3  # (C, H, W); 2D points have shape (2,)


class MLPGenerator(nn.Module):
    """z -> [Linear, ReLU] x layers -> Linear -> data; Tanh for images (data in [-1, 1])."""

    def __init__(self, shape, z_dim: int, hidden: int = 128, layers: int = 3):
        super().__init__()
        self.shape, self.z_dim = tuple(shape), z_dim
        dims = [z_dim] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
        out = [nn.Tanh()] if _is_image(self.shape) else []
        self.net = nn.Sequential(*blocks, nn.Linear(dims[-1], math.prod(self.shape)), *out)

    def forward(self, z, y=None):  # (B, z_dim) -> (B, *shape); y: unused (unconditional)
        return self.net(z).view(-1, *self.shape)


class MLPDiscriminator(nn.Module):
    """data -> flatten -> [Linear, LeakyReLU(0.2)] x layers -> Linear -> logit."""

    def __init__(self, shape, z_dim: int, hidden: int = 128, layers: int = 3):
        super().__init__()
        dims = [math.prod(shape)] + [hidden] * layers
        blocks = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.LeakyReLU(0.2))]
        self.net = nn.Sequential(nn.Flatten(), *blocks, nn.Linear(dims[-1], 1))

    def forward(self, x, y=None):  # (B, *shape) -> (B,)
        return self.net(x).squeeze(1)


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
    """z -> ConvT(base x base) -> [ConvT stride 2, BN, ReLU] ... -> ConvT stride 2 -> Tanh."""

    def __init__(self, shape, z_dim: int, width: int = 64):
        super().__init__()
        channels, size = shape[0], shape[-1]
        base, n = dcgan_plan(size)
        self.z_dim = z_dim
        widths = [width * 2**i for i in reversed(range(n))]  # e.g. 64px: [512, 256, 128, 64]
        layers = [nn.ConvTranspose2d(z_dim, widths[0], base, 1, 0, bias=False),
                  nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z, y=None):  # (B, z_dim) -> (B, C, size, size)
        return self.net(z[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """x -> Conv stride 2, LReLU -> [Conv stride 2, BN, LReLU] ... -> Conv(base x base) -> logit."""

    def __init__(self, shape, z_dim: int, width: int = 64):
        super().__init__()
        channels, size = shape[0], shape[-1]
        base, n = dcgan_plan(size)
        widths = [width * 2**i for i in range(n)]  # e.g. 64px: [64, 128, 256, 512]
        layers = [nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, base, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x, y=None):  # (B, C, size, size) -> (B,)
        return self.net(x).flatten()


def _require_28(shape) -> None:
    if not _is_image(shape) or tuple(shape[1:]) != (28, 28):
        raise ConfigError(f"model=slides_mnist builds 28x28 images only, got data of shape {tuple(shape)}")


class SlidesGenerator(nn.Module):
    """The slides' G (seed 001): Dense 7*7*128, two 4x4 stride-2 ConvT(128), 7x7 Conv -> Tanh."""

    def __init__(self, shape, z_dim: int = 100):
        super().__init__()
        _require_28(shape)
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, 7 * 7 * 128), nn.LeakyReLU(0.2),
            nn.Unflatten(1, (128, 7, 7)),                              # (B, 128, 7, 7)
            nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2),  # (B, 128, 14, 14)
            nn.ConvTranspose2d(128, 128, 4, 2, 1), nn.LeakyReLU(0.2),  # (B, 128, 28, 28)
            nn.Conv2d(128, shape[0], 7, padding=3), nn.Tanh(),         # (B, C, 28, 28)
        )

    def forward(self, z, y=None):
        return self.net(z)


class SlidesDiscriminator(nn.Module):
    """The slides' D (seed 001): two 3x3 stride-2 Conv(64) with LeakyReLU and dropout, dense logit."""

    def __init__(self, shape, z_dim: int = 100, dropout: float = 0.4):
        super().__init__()
        _require_28(shape)
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], 64, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout),  # (B, 64, 14, 14)
            nn.Conv2d(64, 64, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout),        # (B, 64, 7, 7)
            nn.Flatten(), nn.Linear(64 * 7 * 7, 1),
        )

    def forward(self, x, y=None):  # (B, C, 28, 28) -> (B,)
        return self.net(x).squeeze(1)


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def spectral_norm_(D: nn.Module) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv and linear weight of D, in place."""
    from torch.nn.utils.parametrizations import spectral_norm

    for module in [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]:
        spectral_norm(module)
    return D


class ConditionalGenerator(nn.Module):
    """Conditional G (Mirza & Osindero 2014): G(z, y) = G'([z, onehot(y)]), G' built for z_dim + K."""

    def __init__(self, G: nn.Module, z_dim: int, num_classes: int):
        super().__init__()
        self.G, self.z_dim, self.num_classes = G, z_dim, num_classes

    def forward(self, z, y):  # (B, z_dim), (B,) -> (B, *shape)
        return self.G(torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1))


class ConditionalDiscriminator(nn.Module):
    """Conditional D: D(x, y) = D'([x, onehot(y)]), the one-hot as K extra features (images: K
    constant channels), D' built for the wider input."""

    def __init__(self, D: nn.Module, num_classes: int):
        super().__init__()
        self.D, self.num_classes = D, num_classes

    def forward(self, x, y):  # (B, *shape), (B,) -> (B,)
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)  # (B, K)
        if x.dim() == 4:
            onehot = onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])  # (B, K, H, W)
        return self.D(torch.cat([x, onehot], 1))


def _classes(model_cfg, num_classes) -> int:
    """K when model.conditional, else 0; conditioning needs labelled data."""
    if not model_cfg.get("conditional", False):
        return 0
    if not num_classes:
        raise ConfigError("model.conditional=true needs labelled data (mnist, fashion_mnist, cifar10, "
                          "ring8, grid25); this data has no labels")
    return int(num_classes)


def build_generator(model_cfg, shape, num_classes=None) -> nn.Module:
    """G from conf/model/<name>.yaml; conditional on the class when model.conditional."""
    k, z_dim = _classes(model_cfg, num_classes), int(model_cfg.z_dim)
    G = build(model_cfg.g, shape=tuple(shape), z_dim=z_dim + k)
    return ConditionalGenerator(G, z_dim, k) if k else G


def build_discriminator(model_cfg, shape, num_classes=None) -> nn.Module:
    """D from conf/model/<name>.yaml, with spectral normalisation when model.spectral_norm, and
    conditional on the class when model.conditional."""
    k = _classes(model_cfg, num_classes)
    D = build(model_cfg.d, shape=(shape[0] + k, *shape[1:]), z_dim=int(model_cfg.z_dim))
    D = spectral_norm_(D) if model_cfg.get("spectral_norm", False) else D
    return ConditionalDiscriminator(D, k) if k else D


def build_models(model_cfg, shape, device, num_classes=None) -> tuple[nn.Module, nn.Module]:
    """Instantiate G and D from conf/model/<name>.yaml, passing the data shape and z_dim."""
    G = build_generator(model_cfg, shape, num_classes)
    return G.to(device), build_discriminator(model_cfg, shape, num_classes).to(device)


def class_labels(G, n: int, device, label=None) -> torch.Tensor | None:
    """Labels for n samples of a conditional G (all `label`, or cycling 0..K-1); None otherwise."""
    k = getattr(G, "num_classes", None)
    if k is None:
        return None
    if label is not None and not 0 <= int(label) < k:
        raise ConfigError(f"label={label} is not allowed: a class in 0..{k - 1}")
    labels = torch.arange(n, device=device) % k
    return labels if label is None else torch.full_like(labels, int(label))


def noise(n: int, z_dim: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I), shape (n, z_dim)."""
    return torch.randn(n, z_dim, device=device, generator=generator)
