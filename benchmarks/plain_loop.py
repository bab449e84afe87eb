"""Plain PyTorch GAN loops with no logging, samples or checkpoints: the benchmarks' baselines.

`plain_train`: the same models (built by gan-cli from the same config), the same in-memory data
tensor, batch size, optimizers and Algorithm 1 as `gan train`, written out by hand, with the
same speed options (bf16 autocast, channels_last, torch.compile) where asked.

`examples_train`: the way pytorch/examples' dcgan/main.py feeds the same loop: a DataLoader
over a torchvision ImageFolder with PIL transforms and workers, one host-to-device copy per batch.
"""

import contextlib
import time

import torch
import torch.nn.functional as F


def _options(G, D, precision: str, channels_last: bool, compile: bool):
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    if compile:
        G.compile()
        D.compile()
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    device = next(G.parameters()).device.type
    return lambda: (torch.autocast(device, dtype=dtype) if dtype else contextlib.nullcontext())


def _scaler(G, precision: str):
    """fp16 needs a loss scaler, as gan train's (one per loop, updated once per iteration)."""
    return torch.amp.GradScaler(next(G.parameters()).device.type, enabled=precision == "fp16")


def _iteration(G, D, opt_g, opt_d, real, batch_size, cast, scaler):
    """One D step on real + G(z), one G step: the non-saturating game from logits."""
    ones = torch.ones(batch_size, device=real.device)
    zeros = torch.zeros(batch_size, device=real.device)
    with torch.no_grad(), cast():
        fake = G(torch.randn(batch_size, G.z_dim, device=real.device))
    with cast():
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(D(real).float(), ones)
                        + F.binary_cross_entropy_with_logits(D(fake).float(), zeros))
    opt_d.zero_grad(set_to_none=True)
    scaler.scale(loss_d).backward()
    scaler.step(opt_d)
    D.requires_grad_(False)
    with cast():
        fake = G(torch.randn(batch_size, G.z_dim, device=real.device))
        loss_g = 0.5 * F.binary_cross_entropy_with_logits(D(fake).float(), ones)
    opt_g.zero_grad(set_to_none=True)
    scaler.scale(loss_g).backward()
    scaler.step(opt_g)
    scaler.update()
    D.requires_grad_(True)
    return loss_g


def _adams(G, D, lr=2e-4, betas=(0.5, 0.999)):
    fused = True if next(G.parameters()).is_cuda else None
    return (torch.optim.Adam(G.parameters(), lr=lr, betas=betas, fused=fused),
            torch.optim.Adam(D.parameters(), lr=lr, betas=betas, fused=fused))


def plain_train(G, D, x, *, steps: int, batch_size: int, d_steps: int = 1, precision: str = "fp32",
                channels_last: bool = False, compile: bool = False):
    """Train for `steps` generator updates on the uint8 tensor x; return real images/s seen by D."""
    cast = _options(G, D, precision, channels_last, compile)
    opt_g, opt_d = _adams(G, D)
    scaler = _scaler(G, precision)
    t0 = time.perf_counter()
    for _ in range(steps * d_steps):
        real = x[torch.randint(len(x), (batch_size,), device=x.device)].float() / 127.5 - 1
        loss_g = _iteration(G, D, opt_g, opt_d, real, batch_size, cast, scaler)
    loss_g.item()  # wait for queued GPU work before stopping the clock
    return steps * d_steps * batch_size / (time.perf_counter() - t0)


def examples_train(G, D, loader, *, steps: int, device, precision: str = "fp32"):
    """pytorch/examples' feeding: batches from a DataLoader, copied to the device one by one."""
    cast = _options(G, D, precision, False, False)
    opt_g, opt_d = _adams(G, D)
    scaler = _scaler(G, precision)
    done, t0 = 0, time.perf_counter()
    while done < steps:
        for real, _ in loader:
            real = real.to(device, non_blocking=True)
            loss_g = _iteration(G, D, opt_g, opt_d, real, real.shape[0], cast, scaler)
            done += 1
            if done == steps:
                break
    loss_g.item()
    return steps * loader.batch_size / (time.perf_counter() - t0)
