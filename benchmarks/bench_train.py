"""Throughput of `gan train` against a plain PyTorch loop, for each speed option.

Evaluation is off here; benchmarks/bench_eval.py measures its cost.

    python benchmarks/bench_train.py [--steps 300] [--rounds 5] [--options fp32,bf16,...] [overrides ...]

Options: fp32 | bf16 | fp16 | channels_last | compile | all (bf16 + channels_last + compile),
each run by `gan train` (train.precision / train.channels_last / train.compile) and by the plain
loop with the same settings. Runs alternate so that drift in the machine's speed hits both alike.
Prints images/s per round, the medians, and the median of the per-round ratios (the figure least
moved by drift). Compiling is warmed up in a first, untimed round.
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

OPTIONS = {"fp32": [], "bf16": ["train.precision=bf16"], "fp16": ["train.precision=fp16"],
           "channels_last": ["train.channels_last=true"], "compile": ["train.compile=true"],
           "all": ["train.precision=bf16", "train.channels_last=true", "train.compile=true"]}


def compose(overrides):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from gan_cli.cli import conf_dir

    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return hydra_compose("train", overrides=overrides)


def one_round(cfg, data, device, steps: int, seed: int) -> tuple[float, float]:
    """images/s of gan train, then of the plain loop, with cfg's speed options."""
    with tempfile.TemporaryDirectory() as out:
        ours = train(cfg, out)["images_per_s"]
    torch.manual_seed(seed)
    G, D = build_models(cfg.model, data.shape, device)
    t = cfg.train
    plain = plain_train(G, D, data.x, steps=steps, batch_size=t.batch_size, d_steps=t.d_steps,
                        precision=t.precision, channels_last=t.channels_last, compile=t.compile)
    return ours, plain


def bench(option: str, args, device) -> dict:
    # train.ema=0: the plain loop keeps no moving average (MNIST's recipe does); put it back with
    # train.ema=0.999 among the overrides to time it
    cfg = compose(["train.ema=0", *args.overrides, *OPTIONS[option], f"train.steps={args.steps}",
                   "train.progress=log", "eval=off"])
    data = load_data(cfg.data, device)
    if cfg.train.compile:
        one_round(cfg, data, device, args.steps, -1)  # compile once, untimed
    runner, plain = [], []
    for r in range(args.rounds):
        ours, theirs = one_round(cfg, data, device, args.steps, r)
        runner.append(ours)
        plain.append(theirs)
        print(f"{option} round {r + 1}: gan train {ours:.1f} | plain loop {theirs:.1f} images/s", flush=True)
    ratios = [a / b for a, b in zip(runner, plain)]
    return {"option": option, "gan": statistics.median(runner), "plain": statistics.median(plain),
            "ratio": statistics.median(ratios), "rounds": ratios}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--options", default="fp32", help="comma-separated: " + ", ".join(OPTIONS))
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    args = parser.parse_args()
    device = resolve_device(compose(args.overrides).device)
    rows = [bench(option, args, device) for option in args.options.split(",")]
    print(f"\n{' '.join(args.overrides)} | {args.steps} steps x {args.rounds} rounds | device {device} "
          f"({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}) | "
          f"{torch.get_num_threads()} threads")
    print(f"{'option':<14}{'gan train':>12}{'plain loop':>12}{'ratio':>8}  rounds")
    for row in rows:
        print(f"{row['option']:<14}{row['gan']:>12.1f}{row['plain']:>12.1f}{row['ratio']:>8.3f}  "
              + ", ".join(f"{r:.2f}" for r in row["rounds"]))


if __name__ == "__main__":
    main()
