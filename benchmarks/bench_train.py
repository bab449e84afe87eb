"""Throughput of `gan train` (at the default logging intervals) against a plain PyTorch loop.

Evaluation is off here; benchmarks/bench_eval.py measures its cost.

    python benchmarks/bench_train.py [--steps 300] [--rounds 5] [overrides ...]

Both train the same model with the same batch size on the same device; runs alternate
so that drift in the machine's speed hits both alike. Prints images/s per round, the
medians, and the median of the per-round ratios (the figure least moved by drift).
"""

import argparse
import statistics
import tempfile

import torch
from plain_loop import plain_train

from gan_cli.config import resolve_device
from gan_cli.data import load_data
from gan_cli.models import build_models
from gan_cli.run import train


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from gan_cli.cli import conf_dir

    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    args = parser.parse_args()
    # Evaluation is measured apart (bench_eval.py): here, logging, diagnostics, samples, checkpoints.
    cfg = compose(args.overrides + [f"train.steps={args.steps}", "train.progress=log", "eval=off"])
    device = resolve_device(cfg.device)
    data = load_data(cfg.data, device)
    runner, plain = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as out:
            runner.append(train(cfg, out)["images_per_s"])
        torch.manual_seed(r)
        G, D = build_models(cfg.model, data.shape, device)
        plain.append(plain_train(G, D, data.x, steps=args.steps, batch_size=cfg.train.batch_size,
                                 d_steps=cfg.train.d_steps))
        print(f"round {r + 1}: gan train {runner[-1]:.1f} images/s | plain loop {plain[-1]:.1f} images/s",
              flush=True)
    a, b = statistics.median(runner), statistics.median(plain)
    print(f"\n{' '.join(args.overrides)} | {args.steps} steps x {args.rounds} rounds | device {device} "
          f"| {torch.get_num_threads()} threads")
    print(f"gan train : {a:9.1f} images/s (median)")
    print(f"plain loop: {b:9.1f} images/s (median)")
    ratios = [r / p for r, p in zip(runner, plain)]
    print(f"ratio     : {statistics.median(ratios):.3f} median of rounds "
          f"({', '.join(f'{r:.3f}' for r in ratios)}); goal >= 0.97")


if __name__ == "__main__":
    main()
