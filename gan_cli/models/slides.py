"""The lecture slides' MNIST model (seed 001): G 1,164,289 and D 40,705 parameters; 28x28 only."""

from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models.mlp import is_image
from gan_cli.options import Fraction


def _require_28(shape) -> None:
    if not is_image(shape) or tuple(shape[1:]) != (28, 28):
        raise ConfigError(f"model=slides_mnist builds 28x28 images only, got data of shape {tuple(shape)}")


class SlidesGenerator(nn.Module):
    """The slides' G (seed 001): Dense 7*7*128, two 4x4 stride-2 ConvT(128), 7x7 Conv -> Tanh."""

    conditional, num_classes = False, 0  # build_generator sets them for a conditional G

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

    def __init__(self, shape, z_dim: int = 100, dropout: Fraction = 0.4):
        super().__init__()
        _require_28(shape)
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], 64, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout),  # (B, 64, 14, 14)
            nn.Conv2d(64, 64, 3, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(dropout),        # (B, 64, 7, 7)
            nn.Flatten(), nn.Linear(64 * 7 * 7, 1),
        )

    def forward(self, x, y=None):  # (B, C, 28, 28) -> (B,)
        return self.net(x).squeeze(1)
