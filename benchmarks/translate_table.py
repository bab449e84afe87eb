"""A Markdown table of two-domain runs' final metrics and wall times, from their results.json files.

    python benchmarks/translate_table.py outputs/bench_translate/*/results.json
"""

import json
import sys
from pathlib import Path

COLUMNS = ("label_acc_a2b", "label_acc_b2a", "classifier_fid_a2b", "classifier_fid_b2a",
           "cycle_l1_a", "cycle_l1_b", "true_l1_a2b", "true_l1_b2a")


def row(path: Path) -> str:
    r = json.loads(path.read_text())
    m = r["metrics"]
    cells = [f"{m[k]:.3f}" if k in m else "-" for k in COLUMNS]
    minutes = f"{r['loop_s'] / 60:.1f} | {r['wall_time_s'] / 60:.1f}"  # the loop (with evaluations), the run
    return f"| {path.parent.name} | {r['steps_done']} | " + " | ".join(cells) + f" | {minutes} |"


def main(paths) -> None:
    print("| run | steps | " + " | ".join(COLUMNS) + " | loop min | wall min |")
    print("|" + "---|" * (len(COLUMNS) + 4))
    for path in paths:
        print(row(Path(path)))


if __name__ == "__main__":
    main(sys.argv[1:])
