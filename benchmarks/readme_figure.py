"""The README's picture: a run's last sample grid beside its curves as TensorBoard logged them
(read back with TensorBoard's own reader).

    python benchmarks/readme_figure.py RUN_DIR [--out docs/images/make_train.png]
"""

import argparse
from pathlib import Path

PANELS = (("loss/d", "loss/g"), ("D/real", "D/fake"), ("metrics/classifier_fid",))


def scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    events = EventAccumulator(str(run), size_guidance={SCALARS: 0})
    events.Reload()
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in events.Tags()["scalars"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/images/make_train.png"))
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = sorted((args.run / "samples").glob("step_*.png"))[-1]
    series = scalars(args.run)
    fig = plt.figure(figsize=(11, 4.6))
    ax = fig.add_axes([0.0, 0.02, 0.42, 0.9])
    ax.imshow(plt.imread(grid), cmap="gray")
    ax.set_title(f"samples, {grid.stem.replace('_', ' ')}")
    ax.axis("off")
    for i, tags in enumerate(PANELS):
        panel = fig.add_axes([0.5, 0.71 - 0.31 * i, 0.47, 0.22])
        for tag in tags:
            steps, values = zip(*series.get(tag, [(0, float("nan"))]))
            panel.plot(steps, values, label=tag, marker="o" if "metrics" in tag else None, markersize=3)
        panel.legend(loc="upper right", fontsize=8)
        panel.tick_params(labelsize=8)
    panel.set_xlabel("step (TensorBoard scalars)", fontsize=8)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(args.out)


if __name__ == "__main__":
    main()
