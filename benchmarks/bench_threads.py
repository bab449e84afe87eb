"""Two `gan train` runs at once on this machine, torch threads at `auto`: OpenMP threads that
spin while they wait (OMP_WAIT_POLICY=ACTIVE, GNU OpenMP's default behaviour for a while) against
threads that sleep (PASSIVE, what `gan` sets unless told). One run alone as the yardstick.

    python benchmarks/bench_threads.py [--steps 200] [overrides ...]

Prints steps/s of each run (from results.json: images/s / batch size).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def start(args, out: Path, policy: str):
    env = {**os.environ, "OMP_WAIT_POLICY": policy}
    env.pop("OMP_NUM_THREADS", None)
    return subprocess.Popen([sys.executable, "-m", "gan_cli", "train", *args, f"hydra.run.dir={out}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def rate(out: Path, batch: int) -> float:
    return json.loads((out / "results.json").read_text())["images_per_s"] / batch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    a = parser.parse_args()
    args = [*a.overrides, f"train.steps={a.steps}", f"train.batch_size={a.batch}", "eval=off",
            "train.progress=log", "train.threads=auto"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for policy in ("PASSIVE", "ACTIVE"):
            alone = tmp / f"alone_{policy}"
            start(args, alone, policy).wait()
            pair = [tmp / f"{policy}_{i}" for i in range(2)]
            for p in [start(args, out, policy) for out in pair]:
                p.wait()
            print(f"{policy:8s} alone {rate(alone, a.batch):7.2f} steps/s | two at once "
                  f"{rate(pair[0], a.batch):7.2f} and {rate(pair[1], a.batch):7.2f} steps/s", flush=True)


if __name__ == "__main__":
    main()
