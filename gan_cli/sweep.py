"""Multirun sweeps: collect each job's results.json and say plainly how the sweep went."""

import json
import logging
from pathlib import Path

from hydra.experimental.callback import Callback

from gan_cli.rundir import RESULTS

log = logging.getLogger(__name__)


def job_dirs(sweep_dir: Path) -> list[Path]:
    """The numbered job directories of a sweep, in job order."""
    dirs = [p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()]
    return sorted(dirs, key=lambda p: int(p.name))


def job_result(job_dir: Path) -> dict:
    """A job's results.json; a job that died before writing one counts as failed."""
    path = job_dir / RESULTS
    if path.is_file():
        return json.loads(path.read_text())
    return {"status": "failed", "error": f"no {RESULTS} (the job stopped before training)"}


def summary_lines(sweep_dir: Path) -> list[str]:
    """How many jobs ended how, and where the failed jobs' logs are."""
    jobs = {d: job_result(d) for d in job_dirs(sweep_dir)}
    counts: dict[str, int] = {}
    for result in jobs.values():
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    lines = [f"Sweep finished: {len(jobs)} jobs in {sweep_dir}: "
             + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))]
    failed = [d for d, r in jobs.items() if r["status"] == "failed"]
    if failed:
        lines.append(f"{len(failed)} job(s) failed; their logs:")
        lines += [f"  {d / 'train.log'}: {jobs[d].get('error', '')}" for d in failed]
    return lines


class SweepSummary(Callback):
    """Hydra callback: where a multirun goes when it starts, and its summary at the end (any launcher)."""

    def on_multirun_start(self, config, **kwargs) -> None:
        sweep_dir = config.hydra.sweep.dir
        print(f"Sweep directory: {sweep_dir}   (watch it with: tensorboard --logdir {sweep_dir})")

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.is_dir():
            from gan_cli.hparams import write_sweep_hparams

            try:
                write_sweep_hparams(job_dirs(sweep_dir))
            except Exception:  # the jobs' own results stand; say so and still print the summary
                log.warning("could not write the sweep's TensorBoard HParams", exc_info=True)
            for line in summary_lines(sweep_dir):
                print(line)
