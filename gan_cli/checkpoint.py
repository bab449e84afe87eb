"""Self-describing checkpoints, written atomically and loaded without executing code.

A checkpoint is a plain dict: G, D, both optimizers, the step, the RNG states,
the resolved config and the data's shape. `torch.load(weights_only=True)`
refuses anything but tensors and plain containers, so loading runs no code, and
the stored config is data: networks and optimizers are rebuilt from registries of
names, and a config that names code (`_target_`) is refused unless it is one of the
strings gan-cli 0.1 wrote for its own classes.
"""

from pathlib import Path

import torch

from gan_cli.errors import ConfigError
from gan_cli.files import atomic_write

FORMAT = "gan-cli/2"      # every network and optimizer by name (nets, opts, averaged)
LEGACY_FORMAT = "gan-cli/1"  # gan-cli 0.1: one G, one D (G, D, opt_g, opt_d, G_ema)
KEYS = ("format", "step", "nets", "opts", "rng", "config", "data")


def rng_state() -> dict:
    """torch's CPU RNG and, when present, every CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """RNG states are CPU byte tensors whatever map_location moved them to; CUDA states are set
    for the devices both the checkpoint and this machine have (fewer GPUs visible: the first ones)."""
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        for i, s in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s.cpu(), i)


def checkpoint_dict(*, step: int, nets: dict, opts: dict, config: dict, data: dict,
                    averaged: dict | None = None, scaler: dict | None = None,
                    rng_ranks: list | None = None) -> dict:
    """Everything `gan sample`, `gan eval` and resuming need: the state of every network and
    optimizer by name, and of the moving averages (train.ema) of some nets. The tensors are the
    live ones (copy.deepcopy it to keep a snapshot)."""
    return {
        "format": FORMAT, "step": int(step),
        "nets": {name: net.state_dict() for name, net in nets.items()},
        "opts": {name: opt.state_dict() for name, opt in opts.items()},
        "averaged": {name: net.state_dict() for name, net in (averaged or {}).items()},
        "rng": rng_state(), "config": config, "data": data,
        "scaler": scaler or {},  # train.precision=fp16: the loss scale, for exact resume
        "rng_ranks": rng_ranks or [],  # under torchrun: every rank's RNG state, in rank order
    }


def write_checkpoint(path: Path, ckpt: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def _from_legacy(ckpt: dict) -> dict:
    """A gan-cli 0.1 checkpoint (one G, one D) in today's layout, for the `gan` method."""
    if not all(k in ckpt for k in ("G", "D", "opt_g", "opt_d")):
        return ckpt
    averaged = {"G": ckpt["G_ema"]} if "G_ema" in ckpt else {}
    return {**{k: v for k, v in ckpt.items() if k not in ("G", "D", "opt_g", "opt_d", "G_ema")},
            "format": FORMAT, "nets": {"G": ckpt["G"], "D": ckpt["D"]},
            "opts": {"g": ckpt["opt_g"], "d": ckpt["opt_d"]}, "averaged": averaged}


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load and check a gan-cli checkpoint file (rundir.read_checkpoint also takes a run directory);
    one-line ConfigError when it is not one."""
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle refused by weights_only, not a torch file
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ConfigError(f"checkpoint {path} is unreadable or corrupt ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") not in (FORMAT, LEGACY_FORMAT):
        raise ConfigError(f"checkpoint {path} is not a gan-cli checkpoint (expected format {FORMAT})")
    if ckpt["format"] == LEGACY_FORMAT:
        ckpt = _from_legacy(ckpt)
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise ConfigError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    if not isinstance(ckpt["step"], int) or isinstance(ckpt["step"], bool) or ckpt["step"] < 0:
        raise ConfigError(f"checkpoint {path} is corrupt: its step is {ckpt['step']!r}, not a count")
    if not isinstance(ckpt["config"], dict) or not isinstance(ckpt["data"], dict):
        raise ConfigError(f"checkpoint {path} is corrupt: its config or data record is not a mapping")
    ckpt["config"] = upgrade_config(ckpt["config"], path)
    ckpt["config"].setdefault("method", {"name": "gan"})  # gan-cli 0.1 knew one method
    if isinstance(ckpt["config"].get("model"), dict):
        from gan_cli.models import with_added_keys
        ckpt["config"]["model"] = with_added_keys(ckpt["config"]["model"])
    ckpt.setdefault("averaged", {})
    return ckpt


def _targets(node, prefix=""):
    """(dotted key, value) of every `_target_` anywhere in a nested config."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_target_":
                yield path, value
            yield from _targets(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _targets(value, f"{prefix}[{i}]")


def upgrade_config(config: dict, path) -> dict:
    """A stored config as data for the registries: gan-cli 0.1's own `_target_` strings become
    names; any other `_target_` (a config that would choose code) is refused."""
    from gan_cli.models import LEGACY_TARGETS as NETS
    from gan_cli.optimizers import LEGACY_TARGETS as OPTIMIZERS

    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    for key, target in list(_targets(config)):
        net = key.split(".")[1] if key.count(".") == 2 else None
        if key in ("model.g._target_", "model.d._target_") and NETS.get(target) == (model.get("name"), net):
            del config["model"][net]["_target_"]
        elif key in ("optim.g._target_", "optim.d._target_") and target in OPTIMIZERS:
            node = config["optim"][net]
            del node["_target_"]
            config["optim"][net] = {"name": OPTIMIZERS[target], **node}
        else:
            raise ConfigError(f"checkpoint {path} is refused: its config sets {key}={str(target)[:80]}, "
                              "and gan-cli rebuilds networks from registered names only")
    return config
