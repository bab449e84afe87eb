"""dcgan, progan, stylegan and biggan on MNIST at an equal wall-clock budget (issue 12).

    python benchmarks/bench_generators.py [--minutes 10] [--probe 30] [--models dcgan ...] [-- overrides ...]

For each model: a probe run of --probe steps estimates the seconds per step; train.steps is then
set so that the run fills --minutes (progan's phase_steps so that it reaches the data's size at
60 % of the steps), and the run evaluates the default metrics once, at the end. Prints classifier
FID, precision/recall, classes covered and images/s (results.json) side by side. The models run
one after another on the same machine; note what else was loading it when you quote the figures.
"""

import argparse
import json
import tempfile
from pathlib import Path

from bench_train import compose

from gan_cli.run import train

COLUMNS = ("classifier_fid", "precision", "recall", "classes_covered")
PAPER_LOSS = {"progan": "wgan_gp_drift", "stylegan": "nonsaturating_r1", "biggan": "hinge"}  # dcgan: default


def seconds_per_step(overrides: list[str], steps: int) -> float:
    cfg = compose(overrides + [f"train.steps={steps}", "eval=off", "train.progress=log"])
    with tempfile.TemporaryDirectory() as out:
        return train(cfg, Path(out))["loop_s"] / steps


def budget_run(model: str, minutes: float, probe: int, extra: list[str], out: Path) -> dict:
    base = ["data=mnist", f"model={model}", *([f"loss={PAPER_LOSS[model]}"] if model in PAPER_LOSS else []),
            *extra]
    # progan's probe grows to full size in 4 steps: its cost per step there bounds the whole run's
    # (its 7x7 and 14x14 phases cost less), so the run ends under the budget, not over it
    full_size = ["model.phase_steps=1"] if model == "progan" else []
    steps = max(probe, int(minutes * 60 / seconds_per_step(base + full_size, probe)))
    if model == "progan":  # 7 -> 14 -> 28: five phases; full size from 60 % of the budget
        base.append(f"model.phase_steps={max(1, int(0.6 * steps / 4))}")
    cfg = compose(base + [f"train.steps={steps}", "eval.every=0", "train.progress=log",
                          f"train.ckpt_every={steps}", f"train.sample_every={steps}"])
    results = train(cfg, out / model)
    return {"model": model, "steps": steps, "images_per_s": results["images_per_s"],
            **{k: results["metrics"].get(k) for k in COLUMNS}}  # eval metrics of the final G


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--probe", type=int, default=30)
    parser.add_argument("--models", nargs="+", default=["dcgan", "progan", "stylegan", "biggan"])
    parser.add_argument("--out", default="outputs/bench_generators")
    parser.add_argument("overrides", nargs="*", default=[])
    args = parser.parse_args()
    rows = [budget_run(m, args.minutes, args.probe, args.overrides, Path(args.out)) for m in args.models]
    print(f"\nMNIST, {args.minutes:g} min each, overrides {args.overrides}")
    print(f"{'model':10} {'steps':>7} {'img/s':>8} " + " ".join(f"{c:>15}" for c in COLUMNS))
    for r in rows:
        values = " ".join(f"{r[c]:15.3f}" if r[c] is not None else f"{'-':>15}" for c in COLUMNS)
        print(f"{r['model']:10} {r['steps']:7d} {r['images_per_s']:8.1f} {values}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
