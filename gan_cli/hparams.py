"""TensorBoard's HParams dashboard for a finished sweep, written once every job has ended (the
end-of-sweep callback in sweep.py calls it, and `gan report` again, for a sweep stopped before
its end), because only then is it known which settings vary from job to job: those are the
columns; the ones every job shares go to a text summary, beside the full config each job logs.

- Integers are written as text ("5", not the dashboard's "5.0000": it prints every number with
  five significant digits), with the swept values as the column's choices, in numeric order.
  Flags are text too; other numbers stay numbers, so they sort and filter as numbers.
- The metric columns are the jobs' `metrics/*` scalars, with the one `gan report` ranks the
  jobs by first: the dashboard shows only the first five metric columns until you pick others.
"""

import json
from pathlib import Path

from omegaconf import OmegaConf

from gan_cli.headline import headline_metric
from gan_cli.rundir import RESULTS


def job_settings(job_dir: Path) -> dict:
    """A job's command-line settings, key -> typed value (from its composed config where the key
    names a value there, else the override's text: a group choice like loss=minimax)."""
    hydra_dir = job_dir / ".hydra"
    if not (hydra_dir / "overrides.yaml").is_file():
        return {}
    config = OmegaConf.load(hydra_dir / "config.yaml") if (hydra_dir / "config.yaml").is_file() else {}
    settings = {}
    for item in OmegaConf.load(hydra_dir / "overrides.yaml"):
        key, _, text = str(item).lstrip("+~").partition("=")
        if key.startswith("hydra.") or key == "sweep":
            continue
        try:
            value = OmegaConf.select(config, key, default=text) if config else text
        except Exception:  # an interpolation that only resolves inside the job
            value = text
        settings[key] = value if isinstance(value, (bool, int, float, str)) else text
    return settings


def column_values(values: list) -> list:
    """One column's values across the jobs: integers and flags as text (see the module's note);
    a column whose jobs disagree on the type, or lack the key, is text throughout."""
    if all(isinstance(v, float) for v in values):
        return values
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return [str(v) for v in values]
    return ["" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in values]


def choices(column: list) -> list:
    """The distinct values of a text column, numbers in numeric order."""
    distinct = sorted(set(column))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return distinct


def headline_first(metrics: list[str]) -> list[str]:
    headline, _ = headline_metric(metrics)
    return [headline] + [m for m in metrics if m != headline] if headline else metrics


def sweep_columns(job_dirs: list[Path]) -> tuple[dict, dict, list[str], dict]:
    """Per job its column values; the columns' choices; the metric names; the constant settings."""
    settings = {d: job_settings(d) for d in job_dirs}
    results = {d: json.loads((d / RESULTS).read_text()) if (d / RESULTS).is_file() else {} for d in job_dirs}
    keys = list(dict.fromkeys(k for s in settings.values() for k in s))
    varying = [k for k in keys if len({repr(s.get(k)) for s in settings.values()}) > 1]
    constant = {k: next(iter(settings.values()))[k] for k in keys if k not in varying}
    columns = {k: column_values([settings[d].get(k) for d in job_dirs]) for k in varying}
    columns["status"] = [results[d].get("status", "failed") for d in job_dirs]
    rows = {d: {k: column[i] for k, column in columns.items()} for i, d in enumerate(job_dirs)}
    domains = {k: choices(column) for k, column in columns.items() if isinstance(column[0], str)}
    metrics = list(dict.fromkeys(m for r in results.values() for m in (r.get("eval") or {}).get("keys", [])))
    return rows, domains, headline_first(metrics), constant


def write_sweep_hparams(job_dirs: list[Path]) -> None:
    """One HParams session per job, in its own directory (a second events file beside the run's)."""
    from torch.utils.tensorboard import SummaryWriter
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    rows, domains, metrics, constant = sweep_columns(job_dirs)
    shared = "\n".join(f"    {k}={v}" for k, v in constant.items()) or "    (none)"
    for job_dir, row in rows.items():
        for old in job_dir.glob("events.out.tfevents.*.hparams"):  # written again: one session a job
            old.unlink()
        exp, ssi, sei = hparams_summary(row, {f"metrics/{m}": 0.0 for m in metrics},  # only names are used
                                        {k: v for k, v in domains.items()})
        writer = SummaryWriter(str(job_dir), filename_suffix=".hparams")
        for summary in (exp, ssi, sei):
            writer.file_writer.add_summary(summary)
        writer.add_text("sweep/settings", "The same in every job of the sweep:\n\n" + shared)
        writer.close()
