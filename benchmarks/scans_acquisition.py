"""How much of digits2mnist's MNIST -> scans label preservation a perfect change of style alone
could keep: MNIST's held-out test digits put through the scans' own acquisition, then read by the
scans' classifier (the judge of `label_acc_b2a`). docs/methods/translation.md's ceiling figure.

    python benchmarks/scans_acquisition.py [--n 500]

The scans (scikit-learn's digits, UCI optdigits) were made by scaling each digit into a 32x32
bitmap and counting the ink pixels in each 4x4 block (8x8, 0..16); data=digits2mnist then fits them
like MNIST (gan_cli.domains.like_mnist). Here each MNIST digit's ink box is scaled into 32x32
(keeping its aspect ratio, or stretched to fill it), thresholded into a bitmap, block-counted into
8x8 and fitted by the same like_mnist: the scans' pixels, with MNIST writers' digit shapes. Both
classifiers read the result; the MNIST one shows that the digit is still there.
"""

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from gan_cli.domains import digits2mnist, like_mnist
from gan_cli.features import classifier_space


def acquire(digit: torch.Tensor, stretch: bool, threshold: float) -> torch.Tensor:
    """One MNIST digit (28, 28) in [-1, 1] -> the scans' acquisition of it, (28, 28) in [-1, 1]."""
    ink = (digit + 1) / 2
    rows, cols = (ink > 0.05).any(1).nonzero(), (ink > 0.05).any(0).nonzero()
    ink = ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    h, w = (32, 32) if stretch else (max(1, round(n * 32 / max(ink.shape))) for n in ink.shape)
    ink = F.interpolate(ink[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0]
    bitmap = torch.zeros(32, 32)
    top, left = (32 - h) // 2, (32 - w) // 2
    bitmap[top:top + h, left:left + w] = (ink > threshold).float()
    eight = F.avg_pool2d(bitmap[None, None], 4)[0, 0]   # the 4x4 block counts / 16: (8, 8) in [0, 1]
    return like_mnist(eight) * 2 - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500, help="MNIST test digits (as gan eval's n_samples)")
    parser.add_argument("--cache", default="data/gan_cli_features", help="the feature classifiers' cache")
    args = parser.parse_args()
    pair = digits2mnist(None)
    scans, mnist = (classifier_space(d.images, Path(args.cache), 16) for d in (pair.a, pair.b))
    rows = pair.b.test[:args.n]
    x, y = pair.b.images.batch(rows), pair.b.images.labels[rows]
    def read(images: torch.Tensor) -> str:
        return " | ".join(f"{(judge.classify(images) == y).double().mean():.3f}" for judge in (scans, mnist))

    print(f"{len(x)} MNIST test digits | scans' classifier | MNIST's classifier")
    print(f"untranslated | {read(x)}")
    for stretch in (False, True):
        for threshold in (0.3, 0.5):
            acquired = torch.stack([acquire(d[0], stretch, threshold) for d in x])[:, None]
            fit = "stretched" if stretch else "aspect kept"
            print(f"acquired like the scans ({fit}, ink > {threshold}) | {read(acquired)}")


if __name__ == "__main__":
    main()
