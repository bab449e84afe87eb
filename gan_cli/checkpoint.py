"""Self-describing checkpoints, written atomically and loaded without executing code.

A checkpoint is a plain dict: G, D, both optimizers, the step, the RNG states,
the resolved config and the data's shape. `torch.load(weights_only=True)`
refuses anything but tensors and plain containers, so loading runs no code.
"""

import json
import os
from pathlib import Path

import torch

from gan_cli.config import ConfigError

FORMAT = "gan-cli/1"
KEYS = ("format", "step", "G", "D", "opt_g", "opt_d", "rng", "config", "data")


def atomic_write(path: Path, write) -> None:
    """write(tmp_path), fsync, then rename over path: readers see the old file or the new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: dict) -> None:
    """Atomically write obj as indented JSON."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(json.dumps(obj, indent=2) + "\n"))


def rng_state() -> dict:
    """torch's CPU RNG and, when present, every CUDA device's."""
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, *, step, G, D, opt_g, opt_d, config: dict, data: dict,
                    G_ema=None) -> None:
    """Write everything `gan sample` and resuming need into one file (G_ema: G's moving average)."""
    ckpt = {
        "format": FORMAT, "step": step,
        "G": G.state_dict(), "D": D.state_dict(),
        "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
        "rng": rng_state(), "config": config, "data": data,
    }
    if G_ema is not None:
        ckpt["G_ema"] = G_ema.state_dict()
    atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def find_checkpoint(path) -> Path:
    """A checkpoint file, or a run directory's checkpoints/last.pt."""
    path = Path(str(path))
    if path.is_dir():
        path = path / "checkpoints" / "last.pt"
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist: give a .pt file or a run directory "
                          "that holds checkpoints/last.pt")
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Load and check a gan-cli checkpoint; one-line ConfigError when it is not one."""
    path = find_checkpoint(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, pickle refused by weights_only, not a torch file
        reason = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
        raise ConfigError(f"checkpoint {path} is unreadable or corrupt ({reason})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ConfigError(f"checkpoint {path} is not a gan-cli checkpoint (expected format {FORMAT})")
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise ConfigError(f"checkpoint {path} is incomplete: missing {', '.join(missing)}")
    return ckpt
