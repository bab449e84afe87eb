"""Quality against steps and wall time: one `gan train` per row, its FID curve read back from
TensorBoard's event file with TensorBoard's own reader.

    python benchmarks/bench_quality.py [--steps 10000 | --minutes 60] [--every 1000] [--threads 1]
                                       [--seeds 0] [--runs-dir DIR] -- <overrides> [-- <overrides> ...]
    python benchmarks/bench_quality.py --read DIR [DIR ...]   # tables of finished runs only

Each `--`-separated group of overrides is one configuration (on top of `model=dcgan data=mnist`);
it is trained once per seed, one run at a time, with evaluation every `--every` steps. Prints, per
run, classifier FID, precision and recall at each evaluation with the step and the seconds since
the run's first event, as Markdown. With --minutes, each run trains until that wall-clock budget
and is then stopped with SIGTERM (it saves its checkpoint and results.json as `interrupted`): FID
against wall time at a fixed budget.
"""

import argparse
import subprocess
import sys
import time
from pathlib import Path

TAGS = ("metrics/classifier_fid", "metrics/precision", "metrics/recall")


def curve(run: Path) -> list[tuple[int, float, list[float]]]:
    """(step, seconds since the first event, [fid, precision, recall]) per evaluation of a run."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(run), size_guidance={SCALARS: 0})
    events.Reload()
    tags = events.Tags()["scalars"]
    if TAGS[0] not in tags:
        return []
    start = min(events.Scalars(t)[0].wall_time for t in tags)
    series = [events.Scalars(t) if t in tags else [] for t in TAGS]
    return [(e.step, e.wall_time - start, [s[i].value if i < len(s) else float("nan") for s in series])
            for i, e in enumerate(series[0])]


def table(run: Path, title: str) -> str:
    rows = curve(run)
    lines = [f"**{title}** (`{run}`)", "", "| step | seconds | classifier FID | precision | recall |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {step:,} | {sec:.0f} | {fid:.1f} | {p:.3f} | {r:.3f} |" for step, sec, (fid, p, r) in rows]
    return "\n".join(lines) + "\n"


def groups(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """Our options before the first --, then one override list per -- group."""
    parts, current = [], []
    for arg in argv:
        if arg == "--":
            parts.append(current)
            current = []
        else:
            current.append(arg)
    parts.append(current)
    return parts[0], parts[1:] or [[]]


def run(cmd: list[str], minutes: float | None) -> None:
    """One training; with a budget, SIGTERM when it is spent (the run stops at the step's end)."""
    job = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        job.wait(timeout=minutes * 60 if minutes else None)
    except subprocess.TimeoutExpired:
        job.terminate()
        job.wait()
    if job.returncode not in (0, -15, 143):
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {job.returncode}")


def main():
    ours, configs = groups(sys.argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--minutes", type=float, help="a wall-clock budget per run instead of --steps")
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--runs-dir", default="outputs/bench_quality")
    parser.add_argument("--read", nargs="*", help="only print the tables of these run directories")
    args = parser.parse_args(ours)
    if args.read:
        for run_dir in args.read:
            print(table(Path(run_dir), Path(run_dir).name))
        return
    for overrides in configs:
        for seed in args.seeds.split(","):
            out = Path(args.runs_dir) / time.strftime("%Y-%m-%d_%H-%M-%S")
            steps = 10**6 if args.minutes else args.steps
            cmd = [sys.executable, "-m", "gan_cli", "train", "model=dcgan", "data=mnist", *overrides,
                   f"seed={seed}", f"train.steps={steps}", f"eval.every={args.every}",
                   f"train.threads={args.threads}", "train.progress=log", f"hydra.run.dir={out}"]
            t0 = time.perf_counter()
            run(cmd, args.minutes)
            wall = time.perf_counter() - t0
            title = f"{' '.join(overrides) or 'recipe'}, seed {seed}, {wall:.0f} s end to end"
            print(table(out, title), flush=True)


if __name__ == "__main__":
    main()
