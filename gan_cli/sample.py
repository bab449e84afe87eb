"""`gan sample`: rebuild G from a checkpoint alone and write one PNG: a grid of samples (and .npy
for 2D), interpolations, latent vector arithmetic, or nearest training neighbours."""

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_cli.checkpoint import find_checkpoint, load_checkpoint
from gan_cli.config import ConfigError, resolve_device
from gan_cli.data import load_data
from gan_cli.images import image_grid, save_png, scatter_image
from gan_cli.latent import arithmetic_code, interpolation_codes, nearest, seed_z
from gan_cli.models import build_generator, class_labels, load_weights, noise


def load_generator(ckpt: dict, device) -> torch.nn.Module:
    """G from the checkpoint's own config and data shape, in eval mode; its EMA weights if any."""
    config = OmegaConf.create(ckpt["config"])
    G = build_generator(config.model, ckpt["data"]["shape"], ckpt["data"]["num_classes"])
    load_weights(G, ckpt.get("G_ema", ckpt["G"]), "checkpoint")
    if not all(torch.isfinite(p).all() for p in G.parameters()):
        raise ConfigError("checkpoint: G's weights hold NaN or Inf (the run diverged?): "
                          "nothing to sample from")
    return G.to(device).eval()


def default_out(ckpt_path: Path, seed: int, mode: str = "grid") -> Path:
    """<run dir>/samples/<sample|mode>_seed<seed>.png for a run's checkpoint, else beside the file."""
    parent = ckpt_path.parent
    run_dir = parent.parent if parent.name == "checkpoints" else parent
    return run_dir / "samples" / f"{'sample' if mode == 'grid' else mode}_seed{seed}.png"


def grid_samples(G, n: int, seed: int, device, label=None) -> tuple[torch.Tensor, int | None]:
    """n samples and the grid's row length: a conditional G without a label draws one row per
    class (n // K samples each); with a label, n samples of that class."""
    k = getattr(G, "num_classes", None)
    if k and label is None:
        per_class = max(1, n // k)
        y = torch.arange(k, device=device).repeat_interleave(per_class)
        z = noise(len(y), G.z_dim, device, torch.Generator(device).manual_seed(int(seed)))
        with torch.no_grad():
            return G(z, y), per_class
    return _images(G, noise(n, G.z_dim, device, torch.Generator(device).manual_seed(int(seed))), label), None


def _images(G, z: torch.Tensor, label=None) -> torch.Tensor:
    """G(z); a conditional G draws class `label` (default 0)."""
    with torch.no_grad():
        return G(z, class_labels(G, len(z), z.device, 0 if label is None else label))


def interpolate_grid(G, seeds, steps: int, device, label=None) -> torch.Tensor:
    """Rows: for each neighbouring pair of seeds, a linear strip and a spherical strip."""
    if len(seeds) < 2 or steps < 2:
        raise ConfigError(f"seeds={list(seeds)}, steps={steps}: interpolate needs >= 2 seeds and >= 2 steps")
    z = interpolation_codes(seed_z(seeds, G.z_dim, device), steps)
    return image_grid(_images(G, z, label), nrow=steps)


def arithmetic_grid(G, groups: dict, device, label=None) -> torch.Tensor:
    """Rows a, b, c: each group's samples and, last, G(mean z); then G(z_a - z_b + z_c)."""
    codes = {name: seed_z(groups[name], G.z_dim, device) for name in ("a", "b", "c")}
    width = max(len(z) for z in codes.values()) + 1
    blank = torch.ones(1, *_images(G, codes["a"][:1]).shape[1:], device=device)  # white cells
    rows = []
    for z in codes.values():
        x = _images(G, torch.cat([z, z.mean(0, keepdim=True)]), label)
        rows.append(torch.cat([x[:-1], blank.repeat(width - len(x), 1, 1, 1), x[-1:]]))
    result = _images(G, arithmetic_code(*codes.values())[None], label)
    rows.append(torch.cat([blank.repeat(width - 1, 1, 1, 1), result]))
    return image_grid(torch.cat(rows), nrow=width)


def nearest_grid(G, ckpt: dict, n: int, k: int, seed: int, data_dir, device, label=None) -> torch.Tensor:
    """Each sample, then its k nearest training images in pixel space, then (labelled data) in
    the classifier's feature space: Goodfellow et al. 2014's check that G does not memorise."""
    from gan_cli.features import feature_space

    config = OmegaConf.create(ckpt["config"])
    if "root" in config.data:
        config.data.root = str(data_dir)
    data = load_data(config.data, device)
    real = data.batch(torch.arange(len(data.x), device=device))
    fake = _images(G, noise(n, G.z_dim, device, torch.Generator(device).manual_seed(int(seed))), label)
    columns = [fake[:, None], real[nearest(fake, real, k)]]  # (n, 1, C, H, W), (n, k, C, H, W)
    if data.labels is not None:
        space = feature_space(data, Path(str(data_dir)) / "gan_cli_features", epochs=16)
        columns.append(real[nearest(space.embed(fake), space.embed(real), k)])
    rows = torch.cat(columns, 1)
    return image_grid(rows.flatten(0, 1), nrow=rows.shape[1])


def sample(checkpoint, n: int = 64, seed: int = 0, out=None, device: str = "auto", mode: str = "grid",
           options: dict | None = None) -> list[Path]:
    """Write one PNG (grid, interpolate, arithmetic or nearest; 2D data: grid only, plus .npy)."""
    options = options or {}
    device = resolve_device(device)
    ckpt_path = find_checkpoint(checkpoint)
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    G = load_generator(ckpt, device)
    out = Path(str(out)) if out else default_out(ckpt_path, seed, mode)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"out={out} is not allowed: the output must be a .png file")
    is_image = len(ckpt["data"]["shape"]) == 3
    if mode != "grid" and not is_image:
        raise ConfigError(f"mode={mode} draws images; this checkpoint's data is 2D points: use mode=grid")
    label = options.get("label")
    if label is not None and not hasattr(G, "num_classes"):
        raise ConfigError(f"label={label} needs a conditional model (model.conditional=true); "
                          "this checkpoint's G is unconditional")
    if mode == "interpolate":
        return [save_png(interpolate_grid(G, options["seeds"], options["steps"], device, label), out)]
    if mode == "arithmetic":
        return [save_png(arithmetic_grid(G, options["arithmetic"], device, label), out)]
    if mode == "nearest":
        grid = nearest_grid(G, ckpt, n, options["k"], seed, options["data_dir"], device, label)
        return [save_png(grid, out)]
    fake, nrow = grid_samples(G, n, seed, device, label)
    if is_image:
        return [save_png(image_grid(fake, nrow=nrow), out)]
    # 2D points: scatter over freshly generated mixture points (no files needed), plus raw .npy.
    real = load_data(OmegaConf.create(ckpt["config"]["data"]), "cpu").x[:2000]
    save_png(scatter_image(fake, real, ckpt["data"]["plot_limit"]), out)
    np.save(out.with_suffix(".npy"), fake.cpu().numpy())
    return [out, out.with_suffix(".npy")]
