"""Latent-space tools for `gan sample`: interpolation, vector arithmetic, nearest neighbours."""

import torch


def seed_z(seeds, z_dim: int, device) -> torch.Tensor:
    """One z ~ N(0, I) per seed, (len(seeds), z_dim), the same on every device."""
    return torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(int(s)))
                        for s in seeds]).to(device)


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, z_dim) on the straight line from z0 to z1, endpoints included."""
    t = torch.linspace(0, 1, steps, device=z0.device)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, z_dim) on the great circle from z0 to z1 (White 2016), endpoints included:
    sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1 with cos(w) = z0.z1 / (|z0| |z1|)."""
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm())
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-6:  # (anti)parallel codes: the arc degenerates to the line
        return lerp(z0, z1, steps)
    t = torch.linspace(0, 1, steps, device=z0.device)[:, None]
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def interpolation_codes(z: torch.Tensor, steps: int) -> torch.Tensor:
    """For each neighbouring pair of codes, a linear strip then a spherical one: (pairs*2*steps, z_dim)."""
    strips = []
    for z0, z1 in zip(z, z[1:]):
        strips += [lerp(z0, z1, steps), slerp(z0, z1, steps)]
    return torch.cat(strips)


def arithmetic_code(za: torch.Tensor, zb: torch.Tensor, zc: torch.Tensor) -> torch.Tensor:
    """DCGAN's vector arithmetic on averaged codes: mean(z_a) - mean(z_b) + mean(z_c), (z_dim,)."""
    return za.mean(0) - zb.mean(0) + zc.mean(0)


@torch.no_grad()
def nearest(query: torch.Tensor, bank: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Indices (Q, k) of each query row's k nearest bank rows (Euclidean), searched in chunks."""
    query, best_d, best_i = query.flatten(1).float(), None, None
    for start in range(0, len(bank), chunk):
        d = torch.cdist(query, bank[start:start + chunk].flatten(1).float())
        i = torch.arange(start, start + d.shape[1], device=d.device).expand_as(d)
        if best_d is not None:
            d, i = torch.cat([best_d, d], 1), torch.cat([best_i, i], 1)
        best_d, pos = d.topk(min(k, d.shape[1]), dim=1, largest=False)
        best_i = i.gather(1, pos)
    return best_i
