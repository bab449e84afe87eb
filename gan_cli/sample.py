"""`gan sample`: rebuild G from a checkpoint alone and write samples as a PNG (and .npy for 2D)."""

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_cli.checkpoint import find_checkpoint, load_checkpoint
from gan_cli.config import ConfigError, build, resolve_device
from gan_cli.data import load_data
from gan_cli.images import image_grid, save_png, scatter_image
from gan_cli.models import noise


def load_generator(ckpt: dict, device) -> torch.nn.Module:
    """G from the checkpoint's own config and data shape, in eval mode."""
    config = OmegaConf.create(ckpt["config"])
    G = build(config.model.g, shape=tuple(ckpt["data"]["shape"]), z_dim=int(config.model.z_dim))
    G.load_state_dict(ckpt["G"])
    return G.to(device).eval()


def default_out(ckpt_path: Path, seed: int) -> Path:
    """<run dir>/samples/sample_seed<seed>.png for a run's checkpoint, else beside the file."""
    parent = ckpt_path.parent
    run_dir = parent.parent if parent.name == "checkpoints" else parent
    return run_dir / "samples" / f"sample_seed{seed}.png"


def sample(checkpoint, n: int = 64, seed: int = 0, out=None, device: str = "auto") -> list[Path]:
    """Draw n samples with noise seed `seed`; return the paths written."""
    if n < 1:
        raise ConfigError(f"n={n} is not allowed: must be an integer >= 1")
    device = resolve_device(device)
    ckpt_path = find_checkpoint(checkpoint)
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    G = load_generator(ckpt, device)
    z = noise(n, G.z_dim, device, torch.Generator(device).manual_seed(int(seed)))
    with torch.no_grad():
        fake = G(z)
    out = Path(str(out)) if out else default_out(ckpt_path, seed)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"out={out} is not allowed: the output must be a .png file")
    if len(ckpt["data"]["shape"]) == 3:
        return [save_png(image_grid(fake), out)]
    # 2D points: scatter over freshly generated mixture points (no files needed), plus raw .npy.
    real = load_data(OmegaConf.create(ckpt["config"]["data"]), "cpu").x[:2000]
    save_png(scatter_image(fake, real, ckpt["data"]["plot_limit"]), out)
    np.save(out.with_suffix(".npy"), fake.cpu().numpy())
    return [out, out.with_suffix(".npy")]
