"""The `gan` method's sample modes (`gan sample mode=...`): a grid of samples (and .npy for 2D),
interpolations, latent vector arithmetic, nearest training neighbours, and StyleGAN's style mixing.
Each mode is fn(method, nets, ckpt, options, out) -> paths written; the method lists them, and
the sample command asks the method, so this module looks at no command and no run directory.
"""

from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

from gan_cli.data import data_of, load_data
from gan_cli.errors import ConfigError
from gan_cli.images import image_grid, png_path, save_png, scatter_image
from gan_cli.latent import arithmetic_code, interpolation_codes, nearest, seed_z
from gan_cli.models import class_labels, noise
from gan_cli.styles import style_mix_mode, w_interpolation, w_space


def grid_samples(G, n: int, seed: int, device, label=None) -> tuple[torch.Tensor, int | None]:
    """n samples and the grid's row length: a conditional G without a label draws one row per
    class (n // K samples each); with a label, n samples of that class."""
    k = G.num_classes
    if G.conditional and label is None:
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
    if w_space(G):  # stylegan: the path runs through W, the space its styles are drawn from
        return image_grid(w_interpolation(G, seeds, steps, device), nrow=steps)
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

    data = data_of(ckpt, data_dir, device)
    real = data.batch(torch.arange(len(data.x), device=device))
    fake = _images(G, noise(n, G.z_dim, device, torch.Generator(device).manual_seed(int(seed))), label)
    columns = [fake[:, None], real[nearest(fake, real, k)]]  # (n, 1, C, H, W), (n, k, C, H, W)
    if data.labels is not None:
        epochs = int(ckpt["config"].get("eval", {}).get("classifier_epochs", 16))  # the run's own
        space = feature_space(data, Path(str(data_dir)) / "gan_cli_features", epochs=epochs)
        columns.append(real[nearest(space.embed(fake), space.embed(real), k)])
    rows = torch.cat(columns, 1)
    return image_grid(rows.flatten(0, 1), nrow=rows.shape[1])


def _generator(nets: dict, ckpt: dict, options: dict, mode: str):
    """G, and the class label asked for (which needs a conditional G); images only except grid."""
    G, label = nets["G"], options.get("label")
    if mode != "grid" and len(ckpt["data"]["shape"]) != 3:
        raise ConfigError(f"mode={mode} draws images; this checkpoint's data is 2D points: use mode=grid")
    if label is not None and not G.conditional:
        raise ConfigError(f"label={label} needs a conditional model (model.conditional=true); "
                          "this checkpoint's G is unconditional")
    return G, label


def grid_mode(method, nets, ckpt, o: dict, out: Path) -> list[Path]:
    """A grid of n samples (conditional: a row per class); 2D data: a scatter plot and the .npy."""
    G, label = _generator(nets, ckpt, o, "grid")
    fake, nrow = grid_samples(G, o["n"], o["seed"], o["device"], label)
    if len(ckpt["data"]["shape"]) == 3:
        return [save_png(image_grid(fake, nrow=nrow), png_path(out))]
    # 2D points: scatter over freshly generated mixture points (no files needed), plus raw .npy.
    real = load_data(OmegaConf.create(ckpt["config"]["data"]), "cpu").x[:2000]
    save_png(scatter_image(fake, real, ckpt["data"]["plot_limit"]), png_path(out))
    np.save(out.with_suffix(".npy"), fake.cpu().numpy())
    return [out, out.with_suffix(".npy")]


def interpolate_mode(method, nets, ckpt, o: dict, out: Path) -> list[Path]:
    G, label = _generator(nets, ckpt, o, "interpolate")
    return [save_png(interpolate_grid(G, o["seeds"], o["steps"], o["device"], label), png_path(out))]


def arithmetic_mode(method, nets, ckpt, o: dict, out: Path) -> list[Path]:
    G, label = _generator(nets, ckpt, o, "arithmetic")
    return [save_png(arithmetic_grid(G, o["arithmetic"], o["device"], label), png_path(out))]


def nearest_mode(method, nets, ckpt, o: dict, out: Path) -> list[Path]:
    G, label = _generator(nets, ckpt, o, "nearest")
    grid = nearest_grid(G, ckpt, o["n"], o["k"], o["seed"], o["data_dir"], o["device"], label)
    return [save_png(grid, png_path(out))]


GAN_MODES = {"grid": grid_mode, "interpolate": interpolate_mode, "arithmetic": arithmetic_mode,
             "nearest": nearest_mode, "style_mix": style_mix_mode}
