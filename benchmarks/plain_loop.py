"""A plain PyTorch GAN loop with no logging, samples or checkpoints: the benchmark's baseline.

Same models (built by gan-cli from the same config), same data tensor, same batch size,
same optimizers and the same Algorithm 1 as `gan train`, written out by hand.
"""

import time

import torch
import torch.nn.functional as F


def plain_train(G, D, x, *, steps: int, batch_size: int, d_steps: int, lr=2e-4, betas=(0.5, 0.999)):
    """Train for `steps` generator updates; return real images per second seen by D."""
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    ones = torch.ones(batch_size, device=x.device)
    zeros = torch.zeros(batch_size, device=x.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        for _ in range(d_steps):
            real = x[torch.randint(len(x), (batch_size,), device=x.device)].float() / 127.5 - 1
            with torch.no_grad():
                fake = G(torch.randn(batch_size, G.z_dim, device=x.device))
            loss_d = 0.5 * (F.binary_cross_entropy_with_logits(D(real), ones)
                            + F.binary_cross_entropy_with_logits(D(fake), zeros))
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        D.requires_grad_(False)
        fake = G(torch.randn(batch_size, G.z_dim, device=x.device))
        loss_g = 0.5 * F.binary_cross_entropy_with_logits(D(fake), ones)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        D.requires_grad_(True)
    loss_g.item()  # wait for queued GPU work before stopping the clock
    return steps * d_steps * batch_size / (time.perf_counter() - t0)
