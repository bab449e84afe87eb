"""Cost of the runner's in-memory copy of the last finite state (taken at every log step, so that
a run that diverges keeps something to inspect) against the training steps between two copies.

    python benchmarks/bench_snapshot.py [overrides ...]     (default: model=dcgan data=mnist)

Times one iteration of the method and one copy (copy.deepcopy of every net's, optimizer's and
average's state, as run.Checkpoints.remember takes it), each the median of 5, on random data of
the dataset's shape (nothing is downloaded).
"""

import copy
import statistics
import sys
import time

import torch
from bench_train import compose

from gan_cli.checkpoint import checkpoint_dict
from gan_cli.config import resolve_device
from gan_cli.methods import method_class
from gan_cli.readers import Data

SHAPES = {"mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def median_seconds(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    cfg = compose(sys.argv[1:] or ["model=dcgan", "data=mnist"])
    device = resolve_device(cfg.device)
    shape = SHAPES.get(cfg.data.name, (2,))
    x = torch.randint(0, 256, (1000, *shape), dtype=torch.uint8) if len(shape) == 3 else torch.randn(1000, 2)
    data = Data(x.to(device), torch.randint(0, 10, (1000,), device=device), "random", 10)
    Method = method_class(cfg.method)
    info = Method.info(data)
    method = Method(cfg, info, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    method.step(data, 1)  # Adam's state exists after the first step
    step_s = median_seconds(lambda: (method.step(data, 1), sync()))
    copy_s = median_seconds(lambda: (copy.deepcopy(checkpoint_dict(
        step=1, nets=method.nets, opts=method.opts, config={}, data=info)), sync()))
    every = cfg.train.log_every
    print(f"{' '.join(sys.argv[1:]) or 'model=dcgan data=mnist'} | device {device} | "
          f"{torch.get_num_threads()} threads")
    print(f"one step {1000 * step_s:.2f} ms | one copy {1000 * copy_s:.2f} ms | "
          f"overhead at log_every={every}: {100 * copy_s / (every * step_s):.2f}%")


if __name__ == "__main__":
    main()
