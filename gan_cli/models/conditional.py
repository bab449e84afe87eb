"""Conditional wrappers (Mirza & Osindero 2014) and spectral normalisation for D."""

import torch
import torch.nn.functional as F
from torch import nn


def spectral_norm_(D: nn.Module, embeddings: bool = True) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) on every conv, linear and embedding weight of D,
    in place. A projection D's class embedding included (BigGAN-PyTorch's SNEmbedding): a plain
    N(0, 1) embedding makes <embed(y), h> a random offset per class about 1,000x the linear term.
    BigGAN's G keeps its shared class embedding plain (embeddings=False), as the reference code."""
    from torch.nn.utils.parametrizations import spectral_norm

    kinds = (nn.Conv2d, nn.Linear, nn.Embedding) if embeddings else (nn.Conv2d, nn.Linear)
    for module in [m for m in D.modules() if isinstance(m, kinds)]:
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
