"""A second `gan train` beside a first on this machine: train.threads=auto (as many threads as
the load average leaves idle cores) against a fixed thread count of all cores.

    python benchmarks/bench_threads.py [--steps 150] [--wait 45] [overrides ...]

A first run with all cores' threads is started and left `--wait` seconds to raise the load
average; then the second run is timed with train.threads=auto and with train.threads=<cores>,
one after the other, while the first keeps running. Prints steps/s (results.json's images/s
over the batch size) and the threads auto chose (its log). (An earlier version compared
OMP_WAIT_POLICY=ACTIVE with PASSIVE: see README "Threads".)
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def gan(args, out: Path, **kw):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return subprocess.Popen([sys.executable, "-m", "gan_cli", "train", *args, f"hydra.run.dir={out}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def timed(args, out: Path, batch: int) -> tuple[float, str]:
    log = gan(args, out).communicate()[0]
    chose = re.search(r"torch threads: (\d+)", log)
    rate = json.loads((out / "results.json").read_text())["images_per_s"] / batch
    return rate, chose.group(1) if chose else "all"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--wait", type=float, default=45)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    a = parser.parse_args()
    cores = os.cpu_count() or 1
    common = [*a.overrides, f"train.batch_size={a.batch}", "eval=off", "train.progress=log"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        first = gan(common + ["train.steps=100000", f"train.threads={cores}"], tmp / "first")
        time.sleep(a.wait)
        print(f"load average before the second run: {os.getloadavg()[0]:.2f} on {cores} cores", flush=True)
        for threads in ("auto", str(cores)):
            rate, chose = timed(common + [f"train.steps={a.steps}", f"train.threads={threads}"],
                                tmp / f"second_{threads}", a.batch)
            print(f"second run, train.threads={threads:4s}: {rate:6.2f} steps/s ({chose} threads)",
                  flush=True)
        first.send_signal(signal.SIGTERM)
        first.communicate()


if __name__ == "__main__":
    main()
