"""Which digits each value of an InfoGAN checkpoint's categorical code draws: read
docs/methods/infogan.md's code-to-class counts.

    python benchmarks/infogan_codes.py <run dir or checkpoint> [--n 2000]

Draws n samples with the first categorical code in equal shares (as `code_accuracy` does, seed
0), reads them with the dataset's cached feature classifier and prints the counts (rows: code
value, columns: the digit read) and the accuracy under the best one-to-one matching.
"""

import argparse
from pathlib import Path

import torch

from gan_cli import metrics as M
from gan_cli import rundir
from gan_cli.checkpoint import load_checkpoint
from gan_cli.data import data_of
from gan_cli.features import classifier_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="run directory or checkpoint file")
    ap.add_argument("--n", type=int, default=2000, help="samples (gan eval: eval.n_samples)")
    ap.add_argument("--data-dir", default="data", help="paths.data_dir of the run (the classifier cache)")
    ap.add_argument("--classifier-epochs", type=int, default=16, help="eval.classifier_epochs of the run")
    args = ap.parse_args()
    torch.set_num_threads(1)
    path = rundir.find_checkpoint(args.run)
    ckpt = load_checkpoint(path)
    method, nets = rundir.rebuild(ckpt, "cpu", args.run)
    data = data_of(ckpt, args.data_dir, "cpu")
    space = classifier_space(data, Path(args.data_dir) / "gan_cli_features", args.classifier_epochs)
    fake, code = method.draw(nets["G"], args.n, 0)
    read = space.classify(fake).cpu()
    k, classes = int(code.max()) + 1, data.num_classes
    counts = torch.bincount(code.cpu() * classes + read, minlength=k * classes).reshape(k, classes)
    print(f"{path} at step {ckpt['step']}: code value (rows) against the digit read (columns)")
    print(counts)
    print(f"code_accuracy {M.code_accuracy(code, read, k, classes):.3f}")


if __name__ == "__main__":
    main()
