"""`gan sample`: rebuild a run's method from its checkpoint alone and write images.

The modes belong to the method (its `sample_modes`; the `gan` method's are in gan_modes.py). Each
mode is fn(method, nets, ckpt, options, out) -> paths written.
"""

from pathlib import Path

from gan_cli import rundir
from gan_cli.checkpoint import load_checkpoint
from gan_cli.config import resolve_device
from gan_cli.errors import ConfigError
from gan_cli.styles import set_truncation


def default_out(ckpt_path: Path, seed: int, mode: str = "grid", suffix: str = ".png") -> Path:
    """<run dir>/samples/<sample|mode>_seed<seed>.png for a run's checkpoint, else beside the file."""
    name = f"{'sample' if mode == 'grid' else mode}_seed{seed}{suffix}"
    return rundir.run_dir_of(ckpt_path) / rundir.SAMPLES / name


def sample(checkpoint, n: int = 64, seed: int = 0, out=None, device: str = "auto", mode: str = "grid",
           options: dict | None = None) -> list[Path]:
    """Rebuild the checkpoint's method and run one of its sample modes; returns the paths written."""
    device = resolve_device(device)
    ckpt_path = rundir.find_checkpoint(checkpoint)
    ckpt = load_checkpoint(ckpt_path, map_location=device)
    method, nets = rundir.rebuild(ckpt, device, f"checkpoint {ckpt_path}")
    modes = method.sample_modes
    if mode not in modes:
        raise ConfigError(f"mode={mode} is not allowed for method={ckpt['config']['method']['name']}: "
                          f"one of {', '.join(modes)}")
    options = {**(options or {}), "n": n, "seed": seed, "device": device}
    set_truncation(nets.get("G"), options.get("truncation", 1.0), ckpt)  # two-domain methods: no G
    out = Path(str(out)) if out else default_out(ckpt_path, seed, mode)
    try:
        return modes[mode](method, nets, ckpt, options, out)
    except OSError as e:  # a read-only or missing folder, a full disk
        raise ConfigError(f"out={out}: cannot write ({e.strerror or e})") from None
