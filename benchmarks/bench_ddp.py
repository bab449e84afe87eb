"""On one machine: 2 gloo processes of 1 thread (torchrun) against 1 process of 2 threads.

    python benchmarks/bench_ddp.py [--steps 300] [--rounds 3] [overrides ...]

The same effective batch on both sides: 2 ranks x batch/2 against 1 process x batch. Each
side is a real `gan train` (evaluation off); images/s come from results.json (all ranks
together). Runs alternate so that drift hits both alike.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], out: Path, nproc: int, threads: int) -> float:
    torchrun = ["-m", "torch.distributed.run", f"--nproc_per_node={nproc}", f"--master_port={free_port()}"]
    launch = [sys.executable, *(torchrun if nproc > 1 else []), "-m", "gan_cli"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run([*launch, "train", *args, f"train.threads={threads}", f"hydra.run.dir={out}"],
                   check=True, env=env, capture_output=True)
    return json.loads((out / "results.json").read_text())["images_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    args = parser.parse_args()
    common = [*args.overrides, f"train.steps={args.steps}", "eval=off", "train.progress=log",
              "train.sample_every=100000", "train.ckpt_every=100000"]
    two, one = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            two.append(run(common + [f"train.batch_size={args.batch // 2}"], Path(tmp) / f"ddp{r}", 2, 1))
            one.append(run(common + [f"train.batch_size={args.batch}"], Path(tmp) / f"one{r}", 1, 2))
            print(f"round {r + 1}: 2 gloo x 1 thread {two[-1]:.1f} | 1 process x 2 threads "
                  f"{one[-1]:.1f} images/s", flush=True)
    ratios = [a / b for a, b in zip(two, one)]
    print(f"\n{' '.join(args.overrides)} | effective batch {args.batch} | {args.steps} steps")
    print(f"2 gloo processes x 1 thread: {statistics.median(two):.1f} images/s (median)")
    print(f"1 process x 2 threads      : {statistics.median(one):.1f} images/s (median)")
    print(f"ratio: {statistics.median(ratios):.2f} ({', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
