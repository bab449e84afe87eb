"""Which digits a checkpoint gets wrong, as confusion counts read by the cached feature
classifiers: docs/methods/translation.md's and docs/methods/infogan.md's diagnostics.

    python benchmarks/label_confusion.py <run dir or checkpoint> [--n N]

- a translation (method=cyclegan | discogan on labelled pairs): per direction, on the source's
  held-out test images (as `gan eval`), the target's classifier on the translations (its
  `label_acc`), the source's own classifier on the same translations (high there and low in the
  target's: the judge misreads a kept digit; low in both: G redrew it), and the target
  classifier's confusion counts (rows: the source label, columns: the digit read);
- method=infogan: n samples with the first categorical code in equal shares (seed 0, as
  `code_accuracy`), the counts of code value (rows) against the digit read (columns), and the
  accuracy under the best one-to-one matching.
"""

import argparse
from functools import partial
from pathlib import Path

import torch

from gan_cli import metrics as M
from gan_cli import rundir
from gan_cli.checkpoint import load_checkpoint
from gan_cli.data import data_of
from gan_cli.domains import Domains
from gan_cli.features import classifier_space
from gan_cli.translate_eval import DIRECTIONS, translate


def counts(rows: torch.Tensor, cols: torch.Tensor, k: int, classes: int) -> torch.Tensor:
    """(k, classes) counts of (row, column) pairs."""
    return torch.bincount(rows.cpu() * classes + cols.cpu(), minlength=k * classes).reshape(k, classes)


def translation(nets, data: Domains, space, n: int) -> None:
    domains = {"a": data.a, "b": data.b}
    spaces = {s: space(dom.images) for s, dom in domains.items()}
    for d, s, t, g, _ in DIRECTIONS:
        dom = domains[s]
        x, y = dom.images.batch(dom.test[:n]), dom.images.labels[dom.test[:n]].cpu()
        out = translate(nets[g], x)
        by_target, by_source = spaces[t].classify(out).cpu(), spaces[s].classify(out).cpu()
        print(f"{d}: {len(y)} test images; target classifier {(by_target == y).double().mean():.3f}, "
              f"source classifier on the translations {(by_source == y).double().mean():.3f}, "
              f"on the untranslated images {(spaces[s].classify(x).cpu() == y).double().mean():.3f}")
        print("rows: source label, columns: the target classifier's reading")
        print(counts(y, by_target, 10, 10))


def codes(method, nets, data, space, n: int) -> None:
    fake, code = method.draw(nets["G"], n, 0)
    read = space(data).classify(fake).cpu()
    k = int(code.max()) + 1
    print("rows: code value, columns: the digit read")
    print(counts(code, read, k, data.num_classes))
    print(f"code_accuracy {M.code_accuracy(code, read, k, data.num_classes):.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run directory or checkpoint file")
    ap.add_argument("--n", type=int, default=2000, help="samples; test images a direction (eval.n_samples)")
    ap.add_argument("--data-dir", default="data", help="paths.data_dir of the run (the classifier cache)")
    ap.add_argument("--classifier-epochs", type=int, default=16, help="eval.classifier_epochs of the run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = rundir.find_checkpoint(args.run)
    ckpt = load_checkpoint(path)
    method, nets = rundir.rebuild(ckpt, "cpu", args.run)
    data = data_of(ckpt, args.data_dir, "cpu")
    cache = Path(args.data_dir) / "gan_cli_features"
    print(f"{path} at step {ckpt['step']}")
    space = partial(classifier_space, cache_dir=cache, epochs=args.classifier_epochs)
    if isinstance(data, Domains):
        translation(nets, data, space, args.n)
    elif method.has_codes:
        codes(method, nets, data, space, args.n)
    else:
        raise SystemExit(f"{path}: neither a translation nor method=infogan: nothing to count")


if __name__ == "__main__":
    main()
