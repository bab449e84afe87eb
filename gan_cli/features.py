"""Feature spaces for the metrics, all available offline.

- Labelled image data (the MNIST family, CIFAR-10): a small CNN classifier trained on the
  real training data on first use and cached under the data directory. Its 128-d penultimate
  layer is the feature space of "classifier FID" (not Inception FID), and it judges classes.
- 2D mixtures: the plane itself.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gan_cli.files import atomic_write
from gan_cli.readers import Data

log = logging.getLogger(__name__)


class Classifier(nn.Module):
    """(B, C, S, S) -> conv32, pool, conv64, pool -> 128 features -> class logits."""

    def __init__(self, channels: int, size: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (B, 32, S/2, S/2)
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),         # (B, 64, S/4, S/4)
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 128), nn.ReLU(),      # (B, 128)
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x):
        return self.head(self.features(x))


@dataclass
class FeatureSpace:
    name: str                                            # recorded beside every score
    embed: Callable[[torch.Tensor], torch.Tensor]        # samples -> (N, F) features
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None  # samples -> (N,) classes
    info: dict = field(default_factory=dict)


def split(n: int, held_out: float = 0.1):
    """Fixed train / held-out index split (seed 0), the same for every run on the same data."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    n_test = max(1, int(n * held_out))
    return perm[n_test:], perm[:n_test]


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random translation by up to 2 pixels (padding with the background value -1)."""
    dx, dy = torch.randint(-2, 3, (2,), generator=gen).tolist()
    return torch.roll(F.pad(x, (2, 2, 2, 2), value=-1.0), (dy, dx), (2, 3))[:, :, 2:-2, 2:-2]


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)])


def train_classifier(data: Data, epochs: int, seed: int = 0) -> tuple[Classifier, dict]:
    """Fit the classifier on the training split; report accuracy on the held-out split."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    train_idx, test_idx = split(len(data.x))
    model = Classifier(data.shape[0], data.shape[-1], data.num_classes).to(data.x.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)  # anneal to 0 by the end
    for _ in range(epochs):
        for idx in train_idx[torch.randperm(len(train_idx), generator=gen)].split(128):
            x = _shift(data.batch(idx.to(data.x.device)), gen)
            loss = F.cross_entropy(model(x), data.labels[idx.to(data.x.device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        decay.step()
    model.eval()
    test_idx = test_idx.to(data.x.device)
    pred = _batched(model, data.batch(test_idx)).argmax(1)
    accuracy = (pred == data.labels[test_idx]).float().mean().item()
    return model, {"accuracy": accuracy, "n_train": len(train_idx), "n_held_out": len(test_idx),
                   "epochs": epochs}


def read_cache(path: Path, device, what: str, valid) -> dict | None:
    """A cached model's saved dict, or None when there is none or it cannot be read (truncated by
    a full disk or an interrupted copy, or not `valid`: then the caller trains it again and
    rewrites the file, said in one line). what: its name in that line."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        if isinstance(saved, dict) and valid(saved):
            return saved
        problem = f"not a gan-cli {what}"
    except Exception as e:  # noqa: BLE001  (any unreadable file: the cure is the same)
        problem = f"{type(e).__name__}"
    log.warning(f"The {what} cache {path} could not be read ({problem}): "
                "training it again and rewriting the file")
    return None


def classifier_space(data: Data, cache_dir: Path, epochs: int) -> FeatureSpace:
    """Load the cached classifier for this data, or train and cache it."""
    key = hashlib.sha1(f"{data.source}|{data.shape}|{len(data.x)}|{epochs}".encode()).hexdigest()[:12]
    path = Path(cache_dir) / f"classifier-{key}.pt"
    model = Classifier(data.shape[0], data.shape[-1], data.num_classes).to(data.x.device)
    saved = read_cache(path, data.x.device, "feature-classifier", lambda d: {"state", "info"} <= d.keys())
    if saved is not None:
        model.load_state_dict(saved["state"])
        info = saved["info"]
    else:
        log.info(f"Training the feature classifier on {data.source} (cached at {path})")
        # Leave the run's RNG, CPU and every GPU's, as a cached load would (manual_seed seeds them all)
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            model, info = train_classifier(data, epochs)
        atomic_write(path, lambda tmp: torch.save({"state": model.state_dict(), "info": info}, tmp))
    model.eval()
    log.info(f"Feature classifier: held-out accuracy {100 * info['accuracy']:.2f}% "
             f"({info['n_held_out']} images)")
    info = {**info, "cache": str(path)}
    return FeatureSpace("classifier (penultimate layer, 128-d)", lambda x: _batched(model.features, x),
                        lambda x: _batched(model, x).argmax(1), info)


def stacked_space(data: Data, cache_dir: Path, epochs: int) -> FeatureSpace:
    """Stacked MNIST: the MNIST classifier (the same cached one as plain MNIST runs) reads each
    channel; features are the three channels' 128-d features side by side (384-d), and the class is
    the digit triple 100 d_R + 10 d_G + d_B, one of 1,000 modes."""
    digits = data.meta["digits"]
    digits.x, digits.labels = digits.x.to(data.x.device), digits.labels.to(data.x.device)
    mnist = classifier_space(digits, cache_dir, epochs)
    crop = (data.shape[-1] - 28) // 2  # the classifier reads 28x28 digits

    def channels(x):  # (B, 3, S, S) -> (3B, 1, 28, 28), channel-major
        x = x[:, :, crop:crop + 28, crop:crop + 28]
        return x.transpose(0, 1).reshape(-1, 1, 28, 28)

    def embed(x):     # -> (B, 384)
        return mnist.embed(channels(x)).view(3, len(x), -1).permute(1, 0, 2).reshape(len(x), -1)

    def classify(x):  # -> (B,) in 0..999
        d = mnist.classify(channels(x)).view(3, len(x))
        return 100 * d[0] + 10 * d[1] + d[2]
    return FeatureSpace("MNIST classifier per channel (3 x 128-d)", embed, classify, mnist.info)


def feature_space(data: Data, cache_dir: Path, epochs: int) -> FeatureSpace | None:
    """The offline feature space for this data, or None where there is none (unlabelled images)."""
    if not data.is_image:
        return FeatureSpace("plane (2D points)", lambda x: x, None, {})
    if data.labels is None:
        return None
    if "digits" in data.meta:
        return stacked_space(data, cache_dir, epochs)
    return classifier_space(data, cache_dir, epochs)
