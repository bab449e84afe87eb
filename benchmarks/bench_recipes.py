"""The datasets' recipes against issue 10's goals: `gan train data=<name>` with nothing else (plus
the seed, one torch thread and a final evaluation at eval.n_samples), one run per seed.

    python benchmarks/bench_recipes.py [--data ring8 grid25] [--seeds 0 1 2 3 4] [--n 2000]
    python benchmarks/bench_recipes.py --data mnist --seeds 0     # classifier FID against wall time
    python benchmarks/bench_recipes.py --data mnist --seeds 0 -- train.ema=0.999   # overrides after --

2D mixtures: modes by both rules (modes_hit: the papers' >= 1 high-quality sample; modes_captured:
this project's >= 10% of a fair share), high-quality %, PacGAN's reverse KL and mode_score.
Images: classifier FID, precision and recall at every evaluation, against the wall time so far.
Prints a markdown table per dataset and writes the raw results to --out (JSON).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

MIXTURE = ("modes_hit", "modes_captured", "high_quality_pct", "modes_kl", "mode_score", "precision", "recall")
GOALS = {"ring8": (8, 98.5), "grid25": (25, 96.0)}  # all modes and this HQ %, in every seed


def run(data: str, seed: int, n: int, out: Path, extra: list[str]) -> dict:
    """One `gan train data=<data>` in a fresh run directory; its results.json."""
    run_dir = out / f"{data}_seed{seed}"
    cmd = [sys.executable, "-c", "from gan_cli.cli import main; main()", "train", f"data={data}",
           f"seed={seed}", "train.threads=1", "train.progress=log", f"eval.n_samples={n}",
           f"hydra.run.dir={run_dir}", *extra]
    subprocess.run(cmd, check=True, capture_output=True)
    return json.loads((run_dir / "results.json").read_text())


def evals_over_time(run_dir: Path) -> list[tuple[int, float, dict]]:
    """(step, wall seconds, metrics) of every evaluation, from the run's TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={SCALARS: 0})
    acc.Reload()
    tags = [t for t in acc.Tags()["scalars"] if t.startswith("metrics/")]
    t0 = min(e.wall_time for e in acc.Scalars("loss/d"))
    rows = {}
    for tag in tags:
        for e in acc.Scalars(tag):
            rows.setdefault(e.step, [e.wall_time - t0, {}])[1][tag[len("metrics/"):]] = e.value
    return [(step, wall, metrics) for step, (wall, metrics) in sorted(rows.items())]


def mixture_table(data: str, results: dict) -> list[str]:
    modes, hq = GOALS[data]
    lines = [f"### {data} (goal: {modes} modes and >= {hq}% high quality in every seed)", "",
             "| seed | " + " | ".join(MIXTURE) + " | verdict | wall s |",
             "| --- " * (len(MIXTURE) + 3) + "|"]
    for seed, r in results.items():
        m = r["metrics"]
        lines.append(f"| {seed} | " + " | ".join(f"{m.get(k, float('nan')):.4g}" for k in MIXTURE)
                     + f" | {', '.join(f['verdict'] for f in r['health'])} | {r['wall_time_s']:.0f} |")
    met = sum(r["metrics"].get("modes_hit") == modes and r["metrics"].get("high_quality_pct", 0) >= hq
              for r in results.values())
    return lines + ["", f"goal met in {met} of {len(results)} seeds", ""]


def image_table(data: str, run_dir: Path) -> list[str]:
    lines = [f"### {data}: classifier FID against wall time", "",
             "| step | wall s | classifier FID | precision | recall |", "| --- | --- | --- | --- | --- |"]
    for step, wall, m in evals_over_time(run_dir):
        lines.append(f"| {step} | {wall:.0f} | {m.get('classifier_fid', float('nan')):.1f} | "
                     f"{m.get('precision', float('nan')):.3f} | {m.get('recall', float('nan')):.3f} |")
    return lines + [""]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--n", type=int, default=2000, help="samples per evaluation")
    parser.add_argument("--out", default="bench_recipes.json")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run at once (each one torch thread)")
    parser.add_argument("extra", nargs="*", help="further overrides, e.g. train.steps=8000")
    args = parser.parse_args()
    report, lines = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for data in args.data:
            with ThreadPoolExecutor(args.jobs) as pool:  # each run is its own process
                futures = {seed: pool.submit(run, data, seed, args.n, Path(tmp), args.extra)
                           for seed in args.seeds}
                results = {seed: f.result() for seed, f in futures.items()}
            report[data] = results
            if data in GOALS:
                lines += mixture_table(data, results)
            else:
                for seed in args.seeds:
                    lines += image_table(data, Path(tmp) / f"{data}_seed{seed}")
    print("\n".join(lines))
    Path(args.out).write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
