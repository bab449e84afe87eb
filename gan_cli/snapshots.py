"""Checkpoints beside last.pt: periodic snapshots, and the best by the run's headline metric.

    checkpoints/last.pt           the newest state (run.py writes it every train.ckpt_every steps)
    checkpoints/step_NNNNNN.pt    the newest train.keep_snapshots of those states (hard links to
                                  what last.pt held then: no second copy on disk where links work)
    checkpoints/best.pt           the state at the evaluation with the best headline metric
                                  (gan_cli/headline.py: classifier FID, or modes captured on 2D)
    checkpoints/best.json         which metric, its value and step, so a resumed run compares on
"""

import json
import math
import os
import shutil
from pathlib import Path

from gan_cli import rundir
from gan_cli.headline import headline_metric

BEST, BEST_RECORD = "best.pt", "best.json"


class Keeper:
    def __init__(self, run_dir, keep: int, writes: bool = True):
        self.last = rundir.checkpoint_file(run_dir)
        self.dir, self.keep = self.last.parent, int(keep)
        self.writes = writes  # False on torchrun's ranks other than 0: they track the best, unwritten
        record = self.dir / BEST_RECORD
        self.best = json.loads(record.read_text()) if record.is_file() else None

    @property
    def best_file(self) -> Path:
        return self.dir / BEST

    def snapshot(self, step: int) -> None:
        """Keep what last.pt holds now as step_NNNNNN.pt; drop all but the newest `keep`."""
        if self.keep <= 0:
            return
        target = self.dir / f"step_{step:06d}.pt"
        target.unlink(missing_ok=True)
        try:
            os.link(self.last, target)  # last.pt is later replaced by a new file, never rewritten
        except OSError:
            shutil.copy2(self.last, target)
        for old in sorted(self.dir.glob("step_*.pt"))[:-self.keep]:
            old.unlink()

    def better(self, metrics: dict) -> tuple[str, float] | None:
        """(metric, value) when this evaluation beats the best so far on the headline metric."""
        name, direction = headline_metric(metrics)
        value = metrics.get(name) if name else None
        if value is None or not math.isfinite(value):
            return None
        best = self.best if self.best and self.best["metric"] == name else None
        if best is None or (value < best["value"] if direction is min else value > best["value"]):
            return name, float(value)
        return None

    def consider(self, step: int, metrics: dict, save) -> None:
        """After an evaluation: save(step, best.pt) when it is the best so far, and note it."""
        found = self.better(metrics)
        if found and save(step, self.best_file):
            self.best = {"metric": found[0], "value": found[1], "step": step}
            if not self.writes:
                return
            self.dir.mkdir(parents=True, exist_ok=True)
            (self.dir / BEST_RECORD).write_text(json.dumps(self.best, indent=2) + "\n")
