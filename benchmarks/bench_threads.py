"""train.threads=auto in four cases on this machine, against a fixed count of all cores.

    python benchmarks/bench_threads.py [--cases after,quiet,beside,together] [--steps 150]
                                       [--wait 45] [overrides ...]

auto counts the cores idle now (a short /proc/stat sample; gan_cli/cli.py idle_cores). Cases:
  after     a lone run started right after a first one (all cores, `--wait` s) has ended: the
            1-minute load average still counts the first; the idle cores do not
  quiet     a lone run on a quiet machine
  beside    a second run while a first (all cores) keeps running
  together  two auto runs started at the same moment
Each case prints steps/s (results.json's images/s over the batch size) and the threads auto chose
(its log; "all" when it kept every core), with train.threads=<cores> beside it where that applies.
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


def lone(common, steps, tmp: Path, name: str, batch: int, cores: int) -> str:
    rates = [timed(common + [f"train.steps={steps}", f"train.threads={t}"], tmp / f"{name}_{t}", batch)
             for t in ("auto", str(cores))]
    return " | ".join(f"threads={t}: {r:6.2f} steps/s ({c} threads)"
                      for t, (r, c) in zip(("auto", cores), rates))


def case(name: str, a, common, tmp: Path, cores: int) -> str:
    steps = [f"train.steps={a.steps}"]
    if name == "quiet":
        return lone(common, a.steps, tmp, name, a.batch, cores)
    if name == "together":
        runs = [gan(common + steps + ["train.threads=auto"], tmp / f"together_{i}") for i in (0, 1)]
        logs = [run.communicate()[0] for run in runs]
        out = []
        for i, log in enumerate(logs):
            chose = re.search(r"torch threads: (\d+)", log)
            rate = json.loads((tmp / f"together_{i}" / "results.json").read_text())["images_per_s"] / a.batch
            out.append(f"run {i}: {rate:6.2f} steps/s ({chose.group(1) if chose else 'all'} threads)")
        return " | ".join(out)
    first = gan(common + ["train.steps=100000", f"train.threads={cores}"], tmp / f"{name}_first")
    time.sleep(a.wait)
    load = f"load average {os.getloadavg()[0]:.2f}; "
    if name == "after":
        first.send_signal(signal.SIGTERM)
        first.communicate()
        return load + lone(common, a.steps, tmp, name, a.batch, cores)
    result = load + lone(common, a.steps, tmp, name, a.batch, cores)
    first.send_signal(signal.SIGTERM)
    first.communicate()
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="after,quiet,beside,together")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--wait", type=float, default=45)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    a = parser.parse_args()
    cores = os.cpu_count() or 1
    common = [*a.overrides, f"train.batch_size={a.batch}", "eval=off", "train.progress=log"]
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.cases.split(","):
            print(f"{name:9s} {case(name, a, common, Path(tmp), cores)}", flush=True)


if __name__ == "__main__":
    main()
