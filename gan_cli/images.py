"""Pictures of samples: image grids for image data, scatter plots for 2D points."""

import math
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import make_grid, save_image

from gan_cli.errors import ConfigError

REAL_RGB = (0.55, 0.70, 0.95)   # real points: light blue
FAKE_RGB = (0.85, 0.10, 0.10)   # generated points: red


def image_grid(x: torch.Tensor, nrow: int | None = None) -> torch.Tensor:
    """(B, C, H, W) in [-1, 1] -> (3, H', W') in [0, 1], a near-square grid."""
    nrow = nrow or max(1, int(math.sqrt(len(x))))
    return make_grid(x.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1),
                     pad_value=1.0)


def _plot(img: np.ndarray, pts: np.ndarray, lim: float, rgb, radius: int) -> None:
    """Draw (N, 2) points as squares of side 2*radius+1 into img (H, W, 3), y axis up."""
    size = img.shape[0]
    pix = np.round((pts / lim + 1) / 2 * (size - 1)).astype(int)  # [-lim, lim] -> [0, size-1]
    cols, rows = pix[:, 0], size - 1 - pix[:, 1]
    keep = (cols >= 0) & (cols < size) & (rows >= 0) & (rows < size)
    for dr in range(-radius, radius + 1):
        for dc in range(-radius, radius + 1):
            r, c = np.clip(rows[keep] + dr, 0, size - 1), np.clip(cols[keep] + dc, 0, size - 1)
            img[r, c] = rgb


def scatter_image(fake: torch.Tensor, real: torch.Tensor, lim: float, size: int = 400):
    """Generated points (red) over real ones (blue) on [-lim, lim]^2 -> (3, size, size) in [0, 1]."""
    img = np.ones((size, size, 3), dtype=np.float32)
    mid = size // 2
    img[mid, :], img[:, mid] = 0.85, 0.85  # axes through the origin
    _plot(img, real.detach().cpu().numpy(), lim, REAL_RGB, radius=1)
    _plot(img, fake.detach().cpu().numpy(), lim, FAKE_RGB, radius=1)
    return torch.from_numpy(img).permute(2, 0, 1)


def png_path(out: Path) -> Path:
    """out, if it names a .png file (one-line ConfigError otherwise)."""
    if out.suffix.lower() != ".png":
        raise ConfigError(f"out={out} is not allowed: the output must be a .png file")
    return out


def save_png(img: torch.Tensor, path: Path) -> Path:
    """Write a (3, H, W) image in [0, 1] as PNG, creating the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(img, path)
    return path


def plot_limit(real: torch.Tensor) -> float:
    """Half-width of the scatter plot: the data's extent plus a margin."""
    return float(real.abs().max()) * 1.25
