"""How much of a run's figures is the draw of its samples: `gan eval` of one checkpoint at several
noise seeds (seed 0 gives the figures the run itself logged at that step), with each metric's
mean and range. docs/recipes.md's "How much of it is the draw of samples" table.

    python benchmarks/sample_seeds.py <run dir or checkpoint> [...] [--seeds 6]
"""

import argparse
import contextlib
import io
import json
import statistics
import tempfile
from pathlib import Path

from gan_cli import api

SHOWN = ("classifier_fid", "precision", "recall")


def figures(checkpoint: str, seed: int, scratch: Path) -> dict:
    """One `gan eval checkpoint=<checkpoint> seed=<seed>`, written to scratch (not the run's eval.json)."""
    out = scratch / f"eval-{seed}.json"
    with contextlib.redirect_stdout(io.StringIO()):  # gan eval's tables: only ours is printed
        api.evaluate(checkpoint, [f"seed={seed}", f"out={out}"])
    return json.loads(out.read_text())["metrics"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run directories or checkpoints")
    parser.add_argument("--seeds", type=int, default=6, help="noise seeds 0..N-1")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for run in args.runs:
            per_seed = [figures(run, s, Path(scratch)) for s in range(args.seeds)]
            for key in SHOWN:
                values = [m[key] for m in per_seed if key in m]
                if values:
                    rows.append((run, key, values))
    print("| run | metric | " + " | ".join(f"seed {s}" for s in range(args.seeds)) + " | mean | range |")
    print("| --- | --- | " + " | ".join("---" for _ in range(args.seeds)) + " | --- | --- |")
    for run, key, values in rows:
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {run} | {key} | {cells} | {statistics.mean(values):.3f} | "
              f"{min(values):.3f}-{max(values):.3f} |")


if __name__ == "__main__":
    main()
