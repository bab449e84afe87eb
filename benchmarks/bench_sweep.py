"""Wall time of a 4-job ring8 sweep with Hydra's basic launcher (one job after another) and with
the joblib launcher (jobs in parallel, torch threads shared out by train.threads=auto).

    python benchmarks/bench_sweep.py [--steps 1500]
"""

import argparse
import subprocess
import sys
import tempfile
import time


def sweep_seconds(launcher_args: list[str], steps: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-c", "from gan_cli.cli import main; main()", "train", "-m",
               *launcher_args, "model=mlp", "data=ring8", f"train.steps={steps}",
               "train.batch_size=256", "train.log_every=100", "train.progress=log", "eval.every=0",
               "eval.n_samples=1000", "seed=0,1,2,3", f"hydra.sweep.dir={out}"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    basic = sweep_seconds([], args.steps)
    joblib = sweep_seconds(["hydra/launcher=joblib"], args.steps)
    print(f"4-job ring8 sweep, {args.steps} steps a job")
    print(f"basic launcher : {basic:6.1f} s")
    print(f"joblib launcher: {joblib:6.1f} s")
    print(f"ratio          : {joblib / basic:.2f} (joblib / basic; below 1 is faster)")


if __name__ == "__main__":
    main()
