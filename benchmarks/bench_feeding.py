"""gan-cli's in-memory uint8 batches against pytorch/examples' way of feeding the same loop.

    python benchmarks/bench_feeding.py [--steps 200] [--rounds 3] [--workers 2] [overrides ...]

The yardstick is dcgan/main.py of pytorch/examples: a torchvision ImageFolder of PNG files,
PIL transforms (Resize, ToTensor, Normalize) in DataLoader workers, and one host-to-device copy
per batch. Both sides train the same model and game: `gan train` (logging at its defaults, evaluation off)
against the hand-written loop of benchmarks/plain_loop.py fed by the DataLoader. The MNIST
digits gan-cli loads are written out as PNGs once.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from bench_train import compose
from PIL import Image
from plain_loop import examples_train

from gan_cli.config import resolve_device
from gan_cli.data import load_data
from gan_cli.models import build_models
from gan_cli.run import train


def write_folder(x: torch.Tensor, root: Path) -> None:
    """uint8 (N, C, H, W) as root/all/<i>.png: the layout ImageFolder reads."""
    (root / "all").mkdir(parents=True)
    for i, img in enumerate(x.cpu()):
        mode = "L" if img.shape[0] == 1 else "RGB"
        arr = img[0].numpy() if mode == "L" else img.permute(1, 2, 0).numpy()
        Image.fromarray(arr, mode).save(root / "all" / f"{i}.png")


def loader(root: Path, size: int, channels: int, batch_size: int, workers: int, device):
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    gray = [T.Grayscale(1)] if channels == 1 else []
    tf = T.Compose([*gray, T.Resize(size), T.CenterCrop(size), T.ToTensor(),
                    T.Normalize([0.5] * channels, [0.5] * channels)])
    return torch.utils.data.DataLoader(ImageFolder(str(root), tf), batch_size=batch_size, shuffle=True,
                                       num_workers=workers, drop_last=True, pin_memory=device.type == "cuda",
                                       persistent_workers=workers > 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("overrides", nargs="*", default=["model=dcgan", "data=mnist"])
    args = parser.parse_args()
    cfg = compose(args.overrides)
    device = resolve_device(cfg.device)
    data = load_data(cfg.data, device)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(data.x, Path(tmp))
        feed = loader(Path(tmp), data.shape[-1], data.shape[0], cfg.train.batch_size, args.workers, device)
        for r in range(args.rounds):
            run_cfg = compose(args.overrides + [f"train.steps={args.steps}", "train.progress=log", "eval=off",
                                                f"train.precision={args.precision}"])
            with tempfile.TemporaryDirectory() as out:
                ours.append(train(run_cfg, out)["images_per_s"])
            torch.manual_seed(r)
            G, D = build_models(cfg.model, data.shape, device)
            theirs.append(examples_train(G, D, feed, steps=args.steps, device=device,
                                         precision=args.precision))
            print(f"round {r + 1}: gan train {ours[-1]:.1f} | ImageFolder + DataLoader "
                  f"{theirs[-1]:.1f} images/s", flush=True)
    ratios = [a / b for a, b in zip(ours, theirs)]
    print(f"\n{' '.join(args.overrides)} | {len(data.x)} images | device {device} | {args.workers} workers | "
          f"{torch.get_num_threads()} threads | {args.precision}")
    print(f"gan train (uint8 in memory): {statistics.median(ours):.1f} images/s (median)")
    print(f"ImageFolder + DataLoader   : {statistics.median(theirs):.1f} images/s (median)")
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    print(f"ratio: {statistics.median(ratios):.2f} median of rounds ({rounds}); goal >= 1.5 on a GPU")


if __name__ == "__main__":
    main()
