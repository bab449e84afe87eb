"""Optimizers by name: a closed registry, built from plain config values (optim.g, optim.d).

Each entry's annotated signature is its schema: unknown keys, wrong types and values out of
range are refused with one line before anything is built.
"""

import inspect

import torch

from gan_cli.errors import ConfigError
from gan_cli.options import Betas, Fraction, NonNegative, Rate, check_options, plain


def adam(params, lr: Rate = 2e-4, betas: Betas = (0.9, 0.999), weight_decay: NonNegative = 0.0):
    """Adam (Kingma & Ba 2015); on CUDA the fused kernel (one launch per step for all tensors)."""
    params = list(params)
    fused = True if params and params[0].is_cuda else None  # None: torch's default (foreach on CUDA)
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused)


def sgd(params, lr: Rate = 0.01, momentum: Fraction = 0.0, weight_decay: NonNegative = 0.0):
    """SGD with (heavy-ball) momentum."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def rmsprop(params, lr: Rate = 5e-5, alpha: Fraction = 0.99, weight_decay: NonNegative = 0.0):
    """RMSprop, as in the WGAN paper."""
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, weight_decay=weight_decay)


OPTIMIZERS = {"adam": adam, "sgd": sgd, "rmsprop": rmsprop}

# gan-cli 0.1 stored `_target_` strings; these (and only these) are recognised in old checkpoints.
LEGACY_TARGETS = {"torch.optim.Adam": "adam", "torch.optim.SGD": "sgd", "torch.optim.RMSprop": "rmsprop"}


def optimizer_options(node, key: str) -> tuple:
    """The registry function for node.name and its checked options."""
    options = plain(node)
    name = options.pop("name", None)
    if name not in OPTIMIZERS:
        raise ConfigError(f"{key}.name={name} is not allowed: one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name], check_options(OPTIMIZERS[name], options, key)


def build_optimizer(node, params, key: str, lazy_every: int = 1) -> torch.optim.Optimizer:
    """The optimizer optim.<net> names, over params. A net regularised lazily, on every k-th step
    at k times the weight (lazy R1), takes StyleGAN2's correction: lr x c and each beta^c with
    c = k / (k + 1), so that its k + 1 updates per k steps move it as k plain updates would."""
    fn, options = optimizer_options(node, key)
    if lazy_every > 1:
        c = lazy_every / (lazy_every + 1)
        options["lr"] = options.get("lr", inspect.signature(fn).parameters["lr"].default) * c
        if "betas" in inspect.signature(fn).parameters:
            betas = options.get("betas", inspect.signature(fn).parameters["betas"].default)
            options["betas"] = tuple(b**c for b in betas)
    return fn(params, **options)


def lr_factor(step: int, total: int, decay_from: float) -> float:
    """The learning rate's multiplier at (1-based) step: 1 for the first round(decay_from * total)
    steps, then linear towards 0, (total - step + 1) / (total - constant + 1). With 200 epochs and
    decay_from 0.5 this is CycleGAN's rule, 1 - max(0, e + 1 - 100) / 101 for epoch e = step - 1."""
    constant = round(decay_from * total)
    return 1.0 if step <= constant else (total - step + 1) / (total - constant + 1)


def scale_lr(opts: dict, base_lr: dict, factor: float) -> None:
    """Every optimizer's groups at factor x their configured rates (base_lr: name -> rate per group).
    Recomputed from the step each time, so that a resumed run follows the same schedule."""
    for name, opt in opts.items():
        for group, base in zip(opt.param_groups, base_lr[name]):
            group["lr"] = base * factor
