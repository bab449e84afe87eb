"""`gan report <sweep dir>`: one table, plots and a short written summary of a sweep.

Writes report.csv, report.md and report.txt into the sweep directory, PNG plots into report/.
"""

import csv
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from gan_cli.errors import ConfigError
from gan_cli.headline import headline_metric
from gan_cli.sweep import job_dirs, job_result

SHOWN = ("classifier_fid", "fid_inception", "classes_covered", "mode_score", "modes_captured", "modes_hit",
         "high_quality_pct", "precision", "recall")  # columns of the printed table (the files have all)


def job_row(job_dir: Path) -> dict:
    """One job: its overrides, status, final metrics and verdict."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = {}
    if overrides_file.is_file():
        from omegaconf import OmegaConf

        for item in OmegaConf.load(overrides_file):
            key, _, value = str(item).partition("=")
            number = _value(value)
            overrides[key.lstrip("+~")] = f"{number:.4g}" if isinstance(number, float) else value
    result = job_result(job_dir)
    verdicts = [f["verdict"] for f in result.get("health", [])] or [result["status"]]
    return {"job": int(job_dir.name), "overrides": overrides, "status": result["status"],
            "metrics": result.get("metrics") or {}, "verdict": "; ".join(verdicts)}


def swept_keys(rows: list[dict]) -> list[str]:
    """Override keys whose value differs between jobs, in first-seen order."""
    keys = list(dict.fromkeys(k for r in rows for k in r["overrides"]))
    return [k for k in keys if len({r["overrides"].get(k) for r in rows}) > 1]


def load_sweep(sweep_dir) -> tuple[list[dict], list[str], list[str]]:
    """Rows, swept keys and metric names; a one-line ConfigError when it is not a finished sweep."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir} is not a directory: give a sweep directory "
                          "(outputs/multirun/<date>/<time>)")
    if not any((d / ".hydra").is_dir() for d in job_dirs(sweep_dir)):
        raise ConfigError(f"{sweep_dir} is not a sweep: it has no numbered job folders made by "
                          "gan train -m (or a sweep preset)")
    rows = [job_row(d) for d in job_dirs(sweep_dir)]
    if not any(r["status"] in ("completed", "diverged", "interrupted") for r in rows):
        raise ConfigError(f"{sweep_dir} has no finished jobs ({len(rows)} job folders, none with results)")
    metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
    return rows, swept_keys(rows), metrics


def table(rows, keys, metrics) -> tuple[list[str], list[list[str]]]:
    """Header and cells: job, swept values, status, metrics, verdict."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else ("" if v is None else str(v))
    header = ["job", *keys, "status", *metrics, "verdict"]
    cells = [[str(r["job"]), *(r["overrides"].get(k, "") for k in keys), r["status"],
              *(fmt(r["metrics"].get(m)) for m in metrics), r["verdict"]] for r in rows]
    return header, cells


def write_tables(out: Path, header, cells) -> None:
    with open(out / "report.csv", "w", newline="") as f:
        csv.writer(f).writerows([header, *cells])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    (out / "report.md").write_text("\n".join(lines) + "\n")


def _value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def seed_spread(rows, keys, metric) -> float | None:
    """Mean standard deviation of metric across seeds, over settings with more than one seed."""
    groups = defaultdict(list)
    for r in rows:
        if metric in r["metrics"] and math.isfinite(r["metrics"][metric]):
            setting = tuple(r["overrides"].get(k) for k in keys if k != "seed")
            groups[setting].append(r["metrics"][metric])
    spreads = [statistics.stdev(v) for v in groups.values() if len(v) > 1]
    return statistics.mean(spreads) if spreads else None


def written_summary(rows, keys, metrics) -> list[str]:
    """Best setting, how many collapsed or diverged, and the spread across seeds."""
    counts = defaultdict(int)
    for r in rows:
        counts[r["status"]] += 1
    collapsed = sum("mode collapse" in r["verdict"] for r in rows)
    lines = [f"{len(rows)} jobs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
             + f"; {collapsed} with mode collapse suspected."]
    headline, better = headline_metric(metrics)
    scored = [r for r in rows if headline and math.isfinite(r["metrics"].get(headline, math.nan))]
    if scored:
        best = better(scored, key=lambda r: r["metrics"][headline])
        setting = " ".join(f"{k}={best['overrides'].get(k)}" for k in keys) or "(no swept keys)"
        lines.append(f"Best {headline}: {best['metrics'][headline]:.4g} (job {best['job']}: {setting}).")
        spread = seed_spread(rows, keys, headline)
        if spread is not None:
            lines.append(f"Across seeds, {headline} varies by {spread:.4g} (mean standard deviation "
                         "over settings run with several seeds).")
    return lines


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def plot_metric_vs_param(rows, metric, key, out: Path) -> Path:
    """Each value of `key` on x; mean of `metric` over the jobs with it, min-max bars (seeds)."""
    plt = _pyplot()
    by_value = defaultdict(list)
    for r in rows:
        v = r["metrics"].get(metric)
        if v is not None and math.isfinite(v):
            by_value[r["overrides"][key]].append(v)
    xs = sorted(by_value, key=lambda t: (isinstance(_value(t), str), _value(t)))
    means = [statistics.mean(by_value[x]) for x in xs]
    lo = [m - min(by_value[x]) for m, x in zip(means, xs)]
    hi = [max(by_value[x]) - m for m, x in zip(means, xs)]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(range(len(xs)), means, yerr=[lo, hi], fmt="o-", capsize=4)
    ax.set_xticks(range(len(xs)), xs)
    ax.set(xlabel=key, ylabel=f"{metric} (mean, min-max)", title=f"{metric} vs {key}")
    fig.tight_layout()
    path = out / f"plot_{metric}_vs_{key}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_heatmap(rows, metric, keys, out: Path) -> Path:
    """Mean metric over a two-parameter grid (averaged over seeds)."""
    plt = _pyplot()
    a, b = keys
    cells = defaultdict(list)
    for r in rows:
        v = r["metrics"].get(metric)
        if v is not None and math.isfinite(v):
            cells[(r["overrides"][a], r["overrides"][b])].append(v)
    order = lambda vals: sorted(set(vals), key=lambda t: (isinstance(_value(t), str), _value(t)))  # noqa: E731
    ya, xb = order(r["overrides"][a] for r in rows), order(r["overrides"][b] for r in rows)
    grid = [[statistics.mean(cells[(y, x)]) if cells[(y, x)] else math.nan for x in xb] for y in ya]
    fig, ax = plt.subplots(figsize=(5, 4))
    im = ax.imshow(grid, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(xb)), xb)
    ax.set_yticks(range(len(ya)), ya)
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, "-" if math.isnan(v) else f"{v:.3g}", ha="center", va="center", color="w")
    ax.set(xlabel=b, ylabel=a, title=metric)
    fig.colorbar(im)
    fig.tight_layout()
    path = out / f"heatmap_{metric}.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_loss_curves(sweep_dir: Path, rows, out: Path) -> Path:
    """loss/d and loss/g of every job, overlaid, read back from the TensorBoard events."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), sharex=True)
    for r in rows:
        acc = EventAccumulator(str(sweep_dir / str(r["job"])), size_guidance={SCALARS: 0})
        acc.Reload()
        for ax, tag in zip(axes, ("loss/d", "loss/g")):
            if tag in acc.Tags()["scalars"]:
                events = acc.Scalars(tag)
                ax.plot([e.step for e in events], [e.value for e in events], label=f"job {r['job']}",
                        lw=1)
    for ax, tag in zip(axes, ("loss/d", "loss/g")):
        ax.set(title=tag, xlabel="step")
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = out / "loss_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def make_plots(sweep_dir: Path, rows, keys, metrics) -> list[Path]:
    """Into <sweep>/report/: metric vs each swept parameter, heat maps for two, loss curves."""
    out = sweep_dir / "report"
    out.mkdir(exist_ok=True)
    params = [k for k in keys if k != "seed"]
    paths = [plot_metric_vs_param(rows, m, k, out) for m in metrics for k in params]
    if len(params) == 2:
        paths += [plot_heatmap(rows, m, params, out) for m in metrics]
    return paths + [plot_loss_curves(sweep_dir, rows, out)]


def report(sweep_dir) -> dict:
    """Print the table and summary; write CSV, Markdown, the summary and the plots."""
    from rich.console import Console
    from rich.table import Table

    sweep_dir = Path(sweep_dir)
    rows, keys, metrics = load_sweep(sweep_dir)
    header, cells = table(rows, keys, metrics)
    write_tables(sweep_dir, header, cells)
    summary = written_summary(rows, keys, metrics)
    (sweep_dir / "report.txt").write_text("\n".join(summary) + "\n")
    plots = make_plots(sweep_dir, rows, keys, metrics)
    from gan_cli.hparams import write_sweep_hparams
    write_sweep_hparams(job_dirs(sweep_dir))  # again: a sweep stopped before its end has none yet
    shown = [i for i, h in enumerate(header) if h not in metrics or h in SHOWN]
    rich_table = Table(title=f"Sweep {sweep_dir}")
    for i in shown:
        rich_table.add_column(header[i].replace("_", " "))
    for c in cells:
        rich_table.add_row(*(c[i] for i in shown))
    console = Console(width=max(Console().width, 160))  # a wide table: wrap rather than crush
    console.print(rich_table)
    for line in summary:
        console.print(line)
    print(f"wrote {sweep_dir / 'report.csv'}, {sweep_dir / 'report.md'}, {sweep_dir / 'report.txt'} "
          f"and {len(plots)} plots in {sweep_dir / 'report'}")
    return {"rows": rows, "keys": keys, "metrics": metrics, "summary": summary, "plots": plots}


def main(argv: list[str]) -> None:
    """gan report SWEEP_DIR"""
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: gan report SWEEP_DIR   (a multirun directory, e.g. outputs/multirun/<date>/<time>)")
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    try:
        report(argv[0])
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
