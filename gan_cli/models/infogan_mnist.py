"""InfoGAN's MNIST networks (Chen et al. 2016, appendix Table 1; openai/InfoGAN): DCGAN-like convs
with a fully connected layer of 1,024 units on each side. Any image size divisible by 4, any
channel count; both come from the data.

    G: z (B, z_dim) -> FC 1024, BN, ReLU -> FC 128 * (S/4)^2, BN, ReLU
       -> 4x4 ConvT 64 stride 2, BN, ReLU -> 4x4 ConvT C stride 2 -> Tanh        (B, C, S, S)
    D: x -> 4x4 conv 64 stride 2, LReLU -> 4x4 conv 128 stride 2, BN, LReLU
       -> FC 1024, BN, LReLU -> FC 1 (the logit)

With method=infogan, Q reads D's 1,024 features (the paper's Q: FC 128, then the codes).
"""

from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models.dcgan import dcgan_init
from gan_cli.options import Count


def _quarter(shape) -> int:
    if len(shape) != 3 or shape[-1] % 4 or shape[-1] != shape[-2]:
        raise ConfigError(f"model=infogan_mnist builds square images whose size is a multiple of 4 "
                          f"(MNIST: 28); this data's shape is {tuple(shape)}")
    return shape[-1] // 4


class InfoGANMnistGenerator(nn.Module):
    conditional, num_classes = False, 0  # build_generator sets them for a conditional G

    def __init__(self, shape, z_dim: int, width: Count = 64, hidden: Count = 1024):
        super().__init__()
        s, w = _quarter(shape), width
        self.z_dim = z_dim
        self.net = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * w * s * s), nn.BatchNorm1d(2 * w * s * s), nn.ReLU(True),
            nn.Unflatten(1, (2 * w, s, s)),                                     # (B, 2w, S/4, S/4)
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True),  # S/2
            nn.ConvTranspose2d(w, shape[0], 4, 2, 1), nn.Tanh(),                # (B, C, S, S)
        )
        self.apply(dcgan_init)

    def forward(self, z, y=None):
        return self.net(z)


class InfoGANMnistDiscriminator(nn.Module):
    def __init__(self, shape, z_dim: int, width: Count = 64, hidden: Count = 1024):
        super().__init__()
        s, w = _quarter(shape), width
        self.net = nn.Sequential(
            nn.Conv2d(shape[0], w, 4, 2, 1), nn.LeakyReLU(0.1, True),           # (B, w, S/2, S/2)
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.1, True),  # S/4
            nn.Flatten(), nn.Linear(2 * w * s * s, hidden, bias=False), nn.BatchNorm1d(hidden),
            nn.LeakyReLU(0.1, True),                                                            # (B, hidden)
            nn.Linear(hidden, 1),
        )
        self.apply(dcgan_init)

    def forward(self, x, y=None):  # (B, C, S, S) -> (B,) logits
        return self.net(x).squeeze(1)
