"""Augmentation of every image D sees (train.augment), for small datasets.

    none         D sees the images as they are
    diffaugment  Zhao et al. 2020: the same differentiable transforms on every image D sees, real and
                 generated, in D's step and in G's step, so that G's gradient passes through them
    ada          Karras et al. 2020: each transform applied to each image with probability p; every
                 ADA_INTERVAL D steps p moves towards the overfitting signal's target,
                 r_t = E[sign(D(x_real))] > target: up, below: down, at a speed that takes p from 0
                 to 1 over ADA_KIMG thousand real images

The transforms (train.augment_ops) follow DiffAugment's reference code (images in [-1, 1]):
    translation  shift by up to 1/8 of the size in x and y, the uncovered border 0
    cutout       a square of half the size, at a random centre, set to 0
    color        brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5)
None changes a digit's class (no flips, no 90-degree turns). Samples and metrics never see them.
The state (ADA's p and its running signal) is a buffer of an nn.Module kept among the method's
nets, so checkpoints keep it and a resume is exact; the draws come from torch's RNG (checkpointed).

warp (not a train.augment_ops name) is InfoGAN's method.q_warp: the small changes of slant, size and
stroke width that Q's categorical code is to be invariant to (as IMSAT's and IIC's clustering codes).
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.config import AUGMENT_OPS

ADA_INTERVAL = 4      # D steps between adjustments of p (StyleGAN2-ADA's ada_interval)
ADA_KIMG = 500        # thousands of real images for p to go from 0 to 1 (StyleGAN2-ADA's ada_kimg)


def _uniform(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, dtype=x.dtype, device=x.device)  # one draw per image


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_uniform(x) - 0.5)                                      # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x) * 2) + mean                         # saturation (a no-op for 1 channel)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x) + 0.5) + mean                    # contrast


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """(B, C, H, W): each image shifted by integers in [-ratio*H, ratio*H] x [-ratio*W, ratio*W]."""
    B, _, H, W = x.shape
    sh, sw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (B, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (B, 1, 1), device=x.device)
    b, gy, gx = torch.meshgrid(torch.arange(B, device=x.device), torch.arange(H, device=x.device),
                               torch.arange(W, device=x.device), indexing="ij")
    gy = torch.clamp(gy + dy + 1, 0, H + 1)   # +1: index into the zero-padded image
    gx = torch.clamp(gx + dx + 1, 0, W + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    return padded.permute(0, 2, 3, 1)[b, gy, gx].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """(B, C, H, W): a (ratio*H, ratio*W) square at a random centre of each image set to 0."""
    B, _, H, W = x.shape
    ch, cw = int(H * ratio + 0.5), int(W * ratio + 0.5)
    oy = torch.randint(0, H + (1 - ch % 2), (B, 1, 1), device=x.device)
    ox = torch.randint(0, W + (1 - cw % 2), (B, 1, 1), device=x.device)
    b, gy, gx = torch.meshgrid(torch.arange(B, device=x.device), torch.arange(ch, device=x.device),
                               torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy + oy - ch // 2, 0, H - 1)
    gx = torch.clamp(gx + ox - cw // 2, 0, W - 1)
    mask = torch.ones(B, H, W, dtype=x.dtype, device=x.device)
    mask[b, gy, gx] = 0
    return x * mask[:, None]


def warp(x: torch.Tensor, strength: float) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1]: each image turned by up to 15 degrees, sheared by up to 0.3 and scaled
    by up to 10% (times strength, each uniform), the border's value filling in; then its strokes
    thickened or thinned by up to half of a 3x3 dilation or erosion (a blend: differentiable)."""
    B = x.shape[0]

    def u() -> torch.Tensor:  # (B,) uniform in [-1, 1]
        return torch.rand(B, device=x.device, dtype=x.dtype) * 2 - 1

    angle, shear, scale = u() * strength * math.radians(15), u() * strength * 0.3, 1 + u() * strength * 0.1
    theta = torch.zeros(B, 2, 3, device=x.device, dtype=x.dtype)  # output -> input coordinates
    theta[:, 0, 0], theta[:, 0, 1] = scale * torch.cos(angle), -scale * torch.sin(angle) + shear
    theta[:, 1, 0], theta[:, 1, 1] = scale * torch.sin(angle), scale * torch.cos(angle)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    t = u().view(B, 1, 1, 1) * strength                            # > 0: thicker, < 0: thinner
    dilated, eroded = F.max_pool2d(x, 3, 1, 1), -F.max_pool2d(-x, 3, 1, 1)
    return torch.where(t > 0, x + 0.5 * t * (dilated - x), x - 0.5 * t * (eroded - x))


OPS = {"translation": translation, "cutout": cutout, "color": color}
assert tuple(OPS) == AUGMENT_OPS  # config.py checks names without importing torch


class Augment(nn.Module):
    """x -> the augmented x that D sees; ADA's p and signal as buffers. Called on reals in D's step
    (then observe(real_logits)), and on fakes in D's and G's steps."""

    def __init__(self, kind: str, ops, batch_size: int, target: float = 0.6):
        super().__init__()
        self.kind, self.ops, self.target = kind, [OPS[name] for name in ops], target
        self.speed = batch_size * ADA_INTERVAL / (ADA_KIMG * 1000)  # p's change per adjustment
        self.register_buffer("p", torch.zeros(()))              # ADA's probability (1 for diffaugment)
        self.register_buffer("signal", torch.zeros(()))         # last r_t = E[sign(D(x_real))]
        self.register_buffer("acc", torch.zeros(2))             # sum of sign(D(x_real)) and count
        if kind == "diffaugment":
            self.p.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            if self.kind == "diffaugment":
                x = op(x)
            else:  # ada: per image with probability p (no read back of p: a tensor comparison)
                apply = torch.rand(x.shape[0], 1, 1, 1, device=x.device) < self.p
                x = torch.where(apply, op(x), x)
        return x

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor, d_index: int) -> None:
        """ADA: add sign(D(x_real)) to the running sum; every ADA_INTERVAL D steps move p."""
        if self.kind != "ada":
            return
        self.acc[0] += real_logits.sign().sum()
        self.acc[1] += real_logits.numel()
        if (d_index + 1) % ADA_INTERVAL == 0:
            self.signal.copy_(self.acc[0] / self.acc[1])
            self.p.copy_((self.p + torch.sign(self.signal - self.target) * self.speed).clamp(0, 1))
            self.acc.zero_()

    def stats(self) -> dict:
        return {"augment_p": self.p.detach().clone(), "augment_signal": self.signal.detach().clone()}


def seen(augment: Augment | None, x: torch.Tensor) -> torch.Tensor:
    """x as D sees it: augmented, or as it is when augmentation is off."""
    return x if augment is None else augment(x)


def build_augment(t) -> Augment | None:
    """The train config's augmentation, or None for train.augment=none."""
    kind = t.get("augment", "none")
    if kind == "none":
        return None
    return Augment(kind, list(t.augment_ops), int(t.batch_size), float(t.ada_target))
