"""gan-cli from Python (a notebook, a script): the same configs, checks and code as `gan`.

    from gan_cli import api
    results = api.train(["data=ring8", "train.steps=500"], "runs/ring")  # results.json, as a dict
    paths = api.sample("runs/ring", ["n=16", "seed=3"])                  # the PNGs written
    metrics = api.evaluate("runs/ring", ["eval.n_samples=500"])          # eval.json, as a dict
    cfg = api.config("train", ["data=mnist"])                            # what a run would use

Overrides are the command line's, as a list. Bad input raises gan_cli.config.ConfigError with
the same one-line message the CLI prints; log lines (progress, metrics) go to stdout.
"""

import logging
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

import gan_cli.schema  # noqa: F401  (registers the config schemas)
from gan_cli.cli import CONFIGS, conf_dir, sample_options
from gan_cli.config import validate_evaluate, validate_sample, validate_train
from gan_cli.papers import with_paper


def config(command: str = "train", overrides=()):
    """The composed, typed config that `gan <command> <overrides>` would run with."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(CONFIGS[command], overrides=list(overrides))


def _log_to_stdout() -> None:
    """gan-cli's log lines on stdout, once per process (Hydra sets this up for the CLI)."""
    from gan_cli.progress import console_handler

    logger = logging.getLogger("gan_cli")
    if not any(getattr(h, "gan_cli_api", False) for h in logger.handlers):
        handler = console_handler()
        handler.gan_cli_api = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def train(overrides=(), out_dir=None) -> dict:
    """Train as `gan train <overrides>` would, into out_dir (default: a dated directory under
    paths.output_dir); returns results.json's content."""
    overrides = with_paper(list(overrides))
    cfg = config("train", overrides)
    if cfg.train.resume:  # the run's own settings, and on top the overrides given (as the CLI)
        from gan_cli.resuming import resumed_config

        cfg = resumed_config(cfg, overrides)
    validate_train(cfg)
    import torch

    from gan_cli import distributed
    from gan_cli.run import train as run_train

    if cfg.train.threads != "auto":
        torch.set_num_threads(int(cfg.train.threads))
    distributed.init()  # under torchrun: join the process group, as `gan train` does (else a no-op)
    stamp = distributed.broadcast(time.strftime("%Y-%m-%d/%H-%M-%S"))  # rank 0's clock names the run
    out = Path(out_dir) if out_dir else Path(cfg.paths.output_dir) / stamp
    if distributed.is_main():
        _log_to_stdout()
    try:
        return run_train(cfg, out)
    finally:
        distributed.finish()


def sample(checkpoint, overrides=()) -> list[Path]:
    """`gan sample checkpoint=<checkpoint> <overrides>`; returns the paths written."""
    cfg = config("sample", [f"checkpoint={checkpoint}", *overrides])
    validate_sample(cfg)
    from gan_cli.sample import sample as run_sample

    return run_sample(cfg.checkpoint, n=cfg.n, seed=cfg.seed, out=cfg.out, device=cfg.device,
                      mode=cfg.mode, options=sample_options(cfg))


def evaluate(checkpoint, overrides=()) -> dict:
    """`gan eval checkpoint=<checkpoint> <overrides>`; returns eval.json's content."""
    cfg = config("eval", [f"checkpoint={checkpoint}", *overrides])
    validate_evaluate(cfg)
    from gan_cli.evaluate_cmd import evaluate_checkpoint

    _log_to_stdout()
    return evaluate_checkpoint(cfg.checkpoint, cfg.eval, cfg.paths.data_dir, seed=cfg.seed,
                               device=cfg.device, out=cfg.out)
