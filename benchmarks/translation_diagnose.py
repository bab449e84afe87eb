"""Where a translation checkpoint loses its labels: read docs/methods/translation.md's diagnostic.

    python benchmarks/translation_diagnose.py <run dir or checkpoint> [--n 500]

For each direction, on the source domain's held-out test images (as `gan eval` uses them):
1. the target domain's classifier on the translations (`label_acc_{d}`, what `gan eval` reports);
2. the source domain's classifier on the same translations: whether the digit itself changed
   (high here and low in 1: the target's judge misreads a kept digit; low in both: G redrew it);
3. the confusion matrix of 1 (rows: the source label, columns: the target classifier's reading).
Labelled pairs only (data=digits2mnist | mnist2inverted); the classifiers are the cached ones.
"""

import argparse
from pathlib import Path

import torch

from gan_cli import rundir
from gan_cli.checkpoint import load_checkpoint
from gan_cli.data import data_of
from gan_cli.features import classifier_space
from gan_cli.translate_eval import DIRECTIONS, translate


def confusion(labels: torch.Tensor, read: torch.Tensor, k: int = 10) -> torch.Tensor:
    """(k, k) counts: row = true label, column = the classifier's reading."""
    return torch.bincount(labels * k + read, minlength=k * k).reshape(k, k)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run directory or checkpoint file")
    ap.add_argument("--n", type=int, default=500, help="test images per direction (gan eval: eval.n_samples)")
    ap.add_argument("--data-dir", default="data", help="paths.data_dir of the run (the classifier cache)")
    ap.add_argument("--classifier-epochs", type=int, default=16, help="eval.classifier_epochs of the run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(rundir.find_checkpoint(args.run))
    _, nets = rundir.rebuild(ckpt, "cpu", args.run)
    data = data_of(ckpt, args.data_dir, "cpu")
    domains = {"a": data.a, "b": data.b}
    cache = Path(args.data_dir) / "gan_cli_features"
    spaces = {s: classifier_space(dom.images, cache, args.classifier_epochs) for s, dom in domains.items()}
    for d, s, t, g, _ in DIRECTIONS:
        dom = domains[s]
        x, y = dom.images.batch(dom.test[:args.n]), dom.images.labels[dom.test[:args.n]].cpu()
        out = translate(nets[g], x)
        by_target, by_source = spaces[t].classify(out).cpu(), spaces[s].classify(out).cpu()
        print(f"{d}: {len(y)} test images; target classifier {(by_target == y).double().mean():.3f}, "
              f"source classifier on the translations {(by_source == y).double().mean():.3f}, "
              f"on the untranslated images {(spaces[s].classify(x).cpu() == y).double().mean():.3f}")
        print("confusion (rows: source label, columns: the target classifier's reading)")
        print(confusion(y, by_target))


if __name__ == "__main__":
    main()
