"""`gan sample` for the newer generators: the truncation trick (stylegan: towards the mean w;
biggan: resampling |z| above a threshold), StyleGAN's style-mixing grid and interpolation in W.

A G that supports truncation has a `psi` attribute (1 = none) read by its forward; a G with
`w_space` (stylegan) exposes map(z) -> w, truncate(ws, psi), synthesize(ws) and num_ws.
"""

import torch

from gan_cli.errors import ConfigError
from gan_cli.images import image_grid, png_path, save_png
from gan_cli.latent import interpolation_codes, seed_z


def _model(ckpt: dict) -> str:
    return ckpt["config"]["model"]["name"]


def _wrapped(ckpt: dict) -> str:
    """A conditional stylegan's G is wrapped (one-hot label into z): it has no W-space tools."""
    return " with model.conditional=true" if ckpt["config"]["model"].get("conditional") else ""


def set_truncation(G, psi: float, ckpt: dict) -> None:
    """G draws with truncation psi from now on; psi < 1 on a G without the trick is refused."""
    if psi < 1 and not hasattr(G, "psi"):
        raise ConfigError(f"truncation={psi} needs model=stylegan or model=biggan; this checkpoint's model "
                          f"is {_model(ckpt)}{_wrapped(ckpt)}: use truncation=1")
    if hasattr(G, "psi"):
        G.psi = float(psi)


def w_space(G) -> bool:
    return getattr(G, "w_space", False)


@torch.no_grad()
def w_interpolation(G, seeds, steps: int, device) -> torch.Tensor:
    """StyleGAN's interpolation in W (Karras et al. 2019, Sec. 4.2): each seed's w (truncated),
    then for each neighbouring pair a linear and a spherical strip between the two w's."""
    w = G.truncate(G.map(seed_z(seeds, G.z_dim, device)), G.psi)            # (seeds, w_dim)
    codes = interpolation_codes(w, steps)                                  # (pairs*2*steps, w_dim)
    return G.synthesize(codes[:, None].expand(-1, G.num_ws, -1))


@torch.no_grad()
def style_mix_grid(G, rows, columns, device) -> torch.Tensor:
    """Karras et al. 2019, Fig. 3: the top row draws the column seeds, the left column the row
    seeds; cell (i, j) takes the coarse styles (ws[:num_ws // 2], the lowest resolutions) from row
    seed i and the fine ones from column seed j. (1 + rows) x (1 + columns) images."""
    w_r = G.truncate(G.map(seed_z(rows, G.z_dim, device)), G.psi)          # (R, w_dim)
    w_c = G.truncate(G.map(seed_z(columns, G.z_dim, device)), G.psi)       # (C, w_dim)
    n, cut = G.num_ws, G.num_ws // 2
    coarse = w_r[:, None, None].expand(-1, len(columns), cut, -1)          # (R, C, cut, w_dim)
    fine = w_c[None, :, None].expand(len(rows), -1, n - cut, -1)           # (R, C, n - cut, w_dim)
    cells = G.synthesize(torch.cat([coarse, fine], 2).flatten(0, 1))      # (R*C, ch, H, W)
    sources_r = G.synthesize(w_r[:, None].expand(-1, n, -1))
    sources_c = G.synthesize(w_c[:, None].expand(-1, n, -1))
    blank = torch.ones_like(cells[:1])
    grid = [torch.cat([blank, sources_c])]
    for i in range(len(rows)):
        grid.append(torch.cat([sources_r[i:i + 1], cells[i * len(columns):(i + 1) * len(columns)]]))
    return image_grid(torch.cat(grid), nrow=len(columns) + 1)


def style_mix_mode(method, nets, ckpt, o: dict, out) -> list:
    """gan sample mode=style_mix: rows from `seeds` (coarse styles), columns from `mix_seeds` (fine)."""
    G = nets["G"]
    if not w_space(G):
        raise ConfigError(f"mode=style_mix needs model=stylegan; this checkpoint's model is "
                          f"{_model(ckpt)}{_wrapped(ckpt)}")
    return [save_png(style_mix_grid(G, o["seeds"], o["mix_seeds"], o["device"]), png_path(out))]
