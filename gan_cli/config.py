"""Config checks and construction from `_target_` nodes, with one-line errors for bad input."""

from omegaconf import DictConfig, OmegaConf

DEVICES = ("auto", "cpu", "cuda")
PROGRESS = ("auto", "bar", "log")


class ConfigError(ValueError):
    """Bad user input: printed as one line, without a traceback, and the run exits non-zero."""


def build(node: DictConfig, **call_site):
    """Call node._target_ with the node's other keys plus call-site arguments (data shape, params)."""
    from hydra.utils import get_object

    kwargs = OmegaConf.to_container(node, resolve=True)
    target = kwargs.pop("_target_")
    return get_object(target)(**kwargs, **call_site)


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is not allowed: {allowed}")


def validate_train(cfg: DictConfig) -> None:
    """Check the values that Hydra's schema cannot: ranges and enumerations."""
    t = cfg.train
    _check(t.steps >= 1, "train.steps", t.steps, "must be an integer >= 1")
    _check(t.batch_size >= 1, "train.batch_size", t.batch_size, "must be an integer >= 1")
    _check(t.d_steps >= 1, "train.d_steps", t.d_steps, "must be an integer >= 1 (k in Algorithm 1)")
    for key in ("log_every", "sample_every", "ckpt_every", "n_samples"):
        _check(t[key] >= 1, f"train.{key}", t[key], "must be an integer >= 1")
    _check(0 <= t.ema < 1, "train.ema", t.ema, "a decay in [0, 1), e.g. 0.999; 0 turns the EMA off")
    _check(t.progress in PROGRESS, "train.progress", t.progress, f"one of {', '.join(PROGRESS)}")
    _check(cfg.device in DEVICES, "device", cfg.device, f"one of {', '.join(DEVICES)}")
    check_networks(cfg)
    loss = cfg.loss
    _check(0 <= loss.get("label_smoothing", 0) < 1, "loss.label_smoothing", loss.get("label_smoothing"),
           "must be in [0, 1)")
    for key in ("gp_weight", "r1_gamma", "clip"):
        _check(loss.get(key, 0) >= 0, f"loss.{key}", loss.get(key), "must be >= 0")


def check_networks(cfg: DictConfig) -> None:
    """model.* and optim.{g,d}.* against the registries' annotated constructors (names, types, ranges)."""
    from gan_cli.models import check_model
    from gan_cli.optimizers import optimizer_options

    check_model(cfg.model)
    for net in ("g", "d"):
        optimizer_options(cfg.optim[net], f"optim.{net}")


def resolve_device(name: str):
    """auto -> cuda when available, else cpu; asking for cuda without one is an error."""
    import torch

    _check(name in DEVICES, "device", name, f"one of {', '.join(DEVICES)}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available: use device=auto or device=cpu")
    return torch.device(name)
