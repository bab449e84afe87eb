"""The run directory's layout, named once, and rebuilding a run from its checkpoint (torch is
imported only for that, so the CLI can name paths without it).

    <run dir>/checkpoints/last.pt   every network, optimizer, RNG state, the config and data record
    <run dir>/results.json          how the run ended and what it measured
    <run dir>/eval.json             `gan eval`'s figures
    <run dir>/config.yaml           the resolved config, plus data.source
    <run dir>/samples/              sample grids (training) and `gan sample`'s images
    <run dir>/.lock                 held (flock) by the `gan train` writing the run; holds its pid
"""

import copy
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from omegaconf import OmegaConf

from gan_cli.errors import ConfigError

CHECKPOINT = Path("checkpoints") / "last.pt"
RESULTS, EVAL, CONFIG, SAMPLES = "results.json", "eval.json", "config.yaml", "samples"
LOCK = ".lock"


_held: set[Path] = set()  # the run directories this process has locked


def launcher_rank() -> int:
    """This process's rank as torchrun, SLURM or submitit's local executor numbers it (0 when
    alone), read from the environment before torch is imported."""
    for key in ("RANK", "SLURM_PROCID", "SUBMITIT_LOCAL_GLOBALID"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    return 0


@contextmanager
def locked(run_dir):
    """Hold an exclusive lock on the run directory while a run writes it; another process's
    `gan train` (or resume) into the same directory is refused. Re-entrant within a process
    (the CLI locks before importing torch, train() again). The kernel releases the lock when the
    process ends, however it ends (kill -9 too), so a stale lock file never blocks a resume."""
    key = Path(run_dir).resolve()
    if key in _held or launcher_rank() != 0:  # under torchrun or SLURM, rank 0 holds it for all
        yield
        return
    key.mkdir(parents=True, exist_ok=True)
    fd = os.open(key / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ConfigError(f"run directory {run_dir} is in use by another gan train (pid {pid}): "
                              "wait for it to end, or choose another hydra.run.dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        _held.add(key)
        try:
            yield
        finally:
            _held.discard(key)
    finally:
        os.close(fd)  # releases the lock


def checkpoint_file(run_dir) -> Path:
    return Path(run_dir) / CHECKPOINT


def run_dir_of(ckpt_path) -> Path:
    """The run directory a checkpoint file belongs to (its folder when it is not in checkpoints/)."""
    parent = Path(ckpt_path).parent
    return parent.parent if parent.name == CHECKPOINT.parent.name else parent


def latest_run(output_dir) -> Path:
    """train.resume=latest: the run under output_dir whose checkpoints/last.pt was written last
    (sweep jobs, under <output_dir>/multirun/, are not runs to continue on their own)."""
    root = Path(str(output_dir))
    found = [p for p in root.rglob(CHECKPOINT.name) if p.parent.name == CHECKPOINT.parent.name
             and p.relative_to(root).parts[0] != "multirun"] if root.is_dir() else []
    if not found:
        raise ConfigError(f"train.resume=latest: no run with {CHECKPOINT} under {root} (paths.output_dir); "
                          "give a run directory instead")
    return run_dir_of(max(found, key=lambda p: p.stat().st_mtime_ns))


def read_checkpoint(path, map_location="cpu") -> dict:
    """The checkpoint of a .pt file or of a run directory (its checkpoints/last.pt), checked."""
    from gan_cli.checkpoint import load_checkpoint  # torch: not for the CLI's path naming

    return load_checkpoint(find_checkpoint(path), map_location=map_location)


def find_checkpoint(path) -> Path:
    """A checkpoint file, or a run directory's checkpoints/last.pt."""
    path = Path(str(path))
    if path.is_dir():
        path = checkpoint_file(path)
    if not path.is_file():
        raise ConfigError(f"checkpoint {path} does not exist: give a .pt file or a run directory "
                          f"that holds {CHECKPOINT}")
    return path


def load_state(method, ckpt: dict, what: str, averaged: dict | None = None) -> None:
    """Every net's and optimizer's stored state into the method (and the averaged copies)."""
    from gan_cli.models import load_weights

    for group, have in (("nets", method.nets), ("opts", method.opts)):
        if set(ckpt[group]) != set(have):
            raise ConfigError(f"{what}: the checkpoint holds {group} {sorted(ckpt[group])}, this method "
                              f"has {sorted(have)}")
    for name, net in method.nets.items():
        load_weights(net, ckpt["nets"][name], what)
    for name, opt in method.opts.items():
        opt.load_state_dict(ckpt["opts"][name])
        like_params(opt)
    for name, net in (averaged or {}).items():  # a run without an average starts it from the net
        load_weights(net, ckpt["averaged"].get(name, ckpt["nets"][name]), what)


def like_params(opt) -> None:
    """Each optimizer state (Adam's moments) in its parameter's memory layout: a run saved in NCHW
    and resumed with train.channels_last (or the reverse) keeps the saved strides otherwise, and
    CUDA's fused Adam refuses parameters and states whose layouts differ."""
    import torch

    for group in opt.param_groups:
        for p in group["params"]:
            state = opt.state.get(p, {})
            for key, value in state.items():
                if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                    state[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)  # p's strides


def rebuild(ckpt: dict, device, what: str = "checkpoint"):
    """The method of a checkpoint with its weights, and the nets to draw from (averaged where
    there is an average), in eval mode and checked finite. One place for sample and eval."""
    import torch

    from gan_cli.methods import method_class

    config = OmegaConf.create(ckpt["config"])
    try:
        method = method_class(config.get("method"))(config, ckpt["data"], device)
    except ConfigError as e:  # the file's own config and data record disagree, not the user's input
        raise ConfigError(f"{what} is inconsistent: its config and data record cannot rebuild its "
                          f"networks ({str(e).splitlines()[0]})") from None
    load_state(method, ckpt, f"{what} is inconsistent")
    nets = {**method.nets, **{name: _averaged_copy(method.nets[name], ckpt["averaged"][name], what)
                              for name in method.averaged if name in ckpt["averaged"]}}
    for name, net in nets.items():
        if not all(torch.isfinite(p).all() for p in net.parameters()):
            raise ConfigError(f"{what}: {name}'s weights hold NaN or Inf (the run diverged?): "
                              "nothing to sample from")
        net.eval()
    return method, nets


def _averaged_copy(net, state: dict, what: str):
    """A copy of net holding the moving average's weights."""
    from gan_cli.models import load_weights

    return load_weights(copy.deepcopy(net), state, what)
