"""Remedies for mode collapse that change what D sees, for any D in the registry.

- Packing (PacGAN, Lin et al. 2018): D judges m samples at once, all real or all fake, so a G
  whose samples are too alike is easy to spot. The m samples of a pack are concatenated along
  the channel (images) or feature (2D points) axis; D is built for the m-times-wider input and
  returns one logit per pack. Batch sizes must be multiples of m.
- Minibatch standard deviation (Karras et al. 2018, ProGAN): before D's last layer, the standard
  deviation of each feature over the minibatch, averaged to one number, is appended as an extra
  feature (or constant channel), so D can see a batch with too little variety.
"""

import torch
from torch import nn

from gan_cli.errors import ConfigError


def packed_shape(shape: tuple[int, ...], pack: int) -> tuple[int, ...]:
    """The shape D is built for when it judges `pack` samples at once: channels (or features) x m."""
    return (shape[0] * pack, *shape[1:])


class Packed(nn.Module):
    """D(x) on packs: (B, C, ...) -> (B // m, m*C, ...) -> D -> (B // m,) logits. A batch that
    is not a multiple of m (only in evaluation snapshots) drops its last B mod m samples."""

    def __init__(self, D: nn.Module, pack: int):
        super().__init__()
        self.D, self.pack = D, pack

    def forward(self, x, y=None):  # y: unused (a conditional D wraps this one)
        b = x.shape[0] // self.pack * self.pack
        if b == 0:
            raise ConfigError(f"model.pack={self.pack}: D needs batches of at least {self.pack} samples")
        x = x[:b].reshape(b // self.pack, self.pack * x.shape[1], *x.shape[2:])
        return self.D(x)


class MinibatchStd(nn.Module):
    """(B, F) -> (B, F + 1) or (B, C, H, W) -> (B, C + 1, H, W): the mean over features of the
    per-feature standard deviation over the batch, as one extra feature for every example."""

    def forward(self, x):
        std = (x.var(0, unbiased=False) + 1e-8).sqrt().mean()  # one scalar for the batch
        return torch.cat([x, std.expand(x.shape[0], 1, *x.shape[2:])], 1)


def add_minibatch_std(D: nn.Module, what: str) -> nn.Module:
    """Insert MinibatchStd before the last layer of D.net (a Linear or a Conv2d), which is rebuilt
    one input wider. D's other layers are unchanged."""
    net = getattr(D, "net", None)
    last = net[-1] if isinstance(net, nn.Sequential) else None
    if isinstance(last, nn.Linear):
        wider = nn.Linear(last.in_features + 1, last.out_features, bias=last.bias is not None)
    elif isinstance(last, nn.Conv2d):
        wider = nn.Conv2d(last.in_channels + 1, last.out_channels, last.kernel_size, last.stride,
                          last.padding, bias=last.bias is not None)
        nn.init.normal_(wider.weight, 0.0, 0.02)
    else:
        raise ConfigError(f"model.minibatch_std=true does not apply to {what}: its D does not end in a "
                          "linear or convolution layer")
    D.net = nn.Sequential(*net[:-1], MinibatchStd(), wider)
    return D
