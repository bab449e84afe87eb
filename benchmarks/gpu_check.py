"""The GPU check's measurements, as one Markdown table (benchmarks/gpu_check.sh runs this).

    python benchmarks/gpu_check.py [--device cuda] [--steps 300] [--rounds 2] [--tiny] [--out DIR]

Rows, all on DCGAN at 64 px (width 64) over the 5,000 MNIST digits resized to 64x64:
  - `gan train` against the plain loop (benchmarks/plain_loop.py), fp32 and bf16 + channels_last +
    compile (rounds alternate; the ratio is the median of the per-round ratios);
  - in-memory uint8 feeding (`gan train`) against pytorch/examples' ImageFolder + DataLoader;
  - the share of the GPU's dense bf16 peak that the bf16 + channels_last + compile run reaches
    (FLOPs of one iteration counted by torch.utils.flop_counter, times iterations per second);
  - resume: 2N steps straight against N + resume to 2N, with and without train.deterministic
    (bit-identical or the largest weight difference).
--tiny shrinks everything (width 8, 16 px, a few steps) so that a CPU runs it end to end in a test.
"""

import argparse
import statistics
import tempfile
from pathlib import Path

import torch
from bench_feeding import loader, write_folder
from bench_train import compose, one_round
from plain_loop import examples_train

from gan_cli.data import load_data
from gan_cli.models import build_models
from gan_cli.run import train
from gan_cli.rundir import read_checkpoint

# Dense (no sparsity) bf16 tensor-core peaks from the vendors' data sheets, TFLOP/s.
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0,
                    "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0}
FAST = ["train.precision=bf16", "train.channels_last=true", "train.compile=true"]


def peak_tflops(device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def base_overrides(folder: Path, args) -> list[str]:
    size, width = (16, 8) if args.tiny else (64, 64)
    # folder/all holds the PNGs (ImageFolder's layout); gan-cli's decode cache goes inside it
    return ["model=dcgan", "data=image_folder", f"data.path={folder / 'all'}", f"data.image_size={size}",
            "data.channels=1", f"model.g.width={width}", f"model.d.width={width}", f"device={args.device}",
            "train.progress=log", "eval=off", f"train.steps={args.steps}"]


def speed(base: list[str], option: list[str], args, device) -> dict:
    """gan train and the plain loop, alternating; compile warms its cache in an untimed round."""
    cfg = compose(base + option)
    data = load_data(cfg.data, device)
    if cfg.train.compile:
        one_round(cfg, data, device, args.steps, -1)
    pairs = [one_round(cfg, data, device, args.steps, r) for r in range(args.rounds)]
    return {"gan": statistics.median(p[0] for p in pairs), "plain": statistics.median(p[1] for p in pairs),
            "ratio": statistics.median(p[0] / p[1] for p in pairs)}


def feeding(base: list[str], folder: Path, args, device) -> dict:
    cfg = compose(base)
    data = load_data(cfg.data, device)
    feed = loader(folder, data.shape[-1], data.shape[0], cfg.train.batch_size, args.workers, device)
    ours, theirs = [], []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory() as out:
            ours.append(train(cfg, out)["images_per_s"])
        torch.manual_seed(r)
        G, D = build_models(cfg.model, data.shape, device)
        theirs.append(examples_train(G, D, feed, steps=args.steps, device=device))
    return {"gan": statistics.median(ours), "plain": statistics.median(theirs),
            "ratio": statistics.median(a / b for a, b in zip(ours, theirs))}


def iteration_flops(cfg, device) -> int:
    """FLOPs of one iteration of Algorithm 1 (k = 1): G forward twice, D forward 3 times, and the
    backward passes, counted on the nets' real kernels with FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    from gan_cli.methods import method_class

    data = load_data(cfg.data, device)
    method = method_class(cfg.method)(cfg, method_class(cfg.method).info(data), device)
    with FlopCounterMode(display=False) as counter:
        method.step(data, 1)
    return counter.get_total_flops()


def resume_gap(base: list[str], deterministic: bool, args) -> str:
    """2N steps straight against N + resume: 'identical' or the largest weight difference."""
    more = [f"train.deterministic={str(deterministic).lower()}"]
    n = max(2, args.steps // 4)
    with tempfile.TemporaryDirectory() as tmp:
        full, part = Path(tmp) / "full", Path(tmp) / "part"
        train(compose(base + more + [f"train.steps={2 * n}"]), full)
        train(compose(base + more + [f"train.steps={n}"]), part)
        train(compose(base + more + [f"train.steps={2 * n}", f"train.resume={part}"]), part)
        a, b = read_checkpoint(full), read_checkpoint(part)
        gap = max((a["nets"][net][k].float() - b["nets"][net][k].float()).abs().max().item()
                  for net in a["nets"] for k in a["nets"][net])
    return "bit-identical" if gap == 0 else f"max weight difference {gap:.2e}"


def table(args) -> str:
    device = torch.device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "digits"
        mnist = load_data(compose(["data=mnist", "data.download=false"]).data, torch.device("cpu"))
        write_folder(mnist.x[:args.images], folder)
        base = base_overrides(folder, args)
        fp32, fast = speed(base, [], args, device), speed(base, FAST, args, device)
        feed = feeding(base, folder, args, device)
        flops = iteration_flops(compose(base + ["train.precision=bf16"]), device)
        peak = peak_tflops(device)
        share = (f"{100 * flops * fast['gan'] / compose(base).train.batch_size / (peak * 1e12):.2f}% "
                 f"of {peak:.0f} TFLOP/s" if peak else "n/a (no known bf16 peak for this device)")
        resumes = [resume_gap(base, d, args) for d in (False, True)]
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    rows = [("fp32 images/s: gan train / plain loop", f"{fp32['gan']:,.0f} / {fp32['plain']:,.0f}",
             f"ratio {fp32['ratio']:.3f}"),
            ("bf16 + channels_last + compile images/s: gan train / plain loop",
             f"{fast['gan']:,.0f} / {fast['plain']:,.0f}", f"ratio {fast['ratio']:.3f}"),
            ("speed-up of bf16 + channels_last + compile over fp32 (gan train)",
             f"{fast['gan'] / fp32['gan']:.2f}x", ""),
            ("feeding images/s: in-memory uint8 / ImageFolder + DataLoader",
             f"{feed['gan']:,.0f} / {feed['plain']:,.0f}", f"ratio {feed['ratio']:.2f}"),
            ("share of the bf16 peak (bf16 + channels_last + compile)", share,
             f"{flops / 1e9:.2f} GFLOP per iteration"),
            ("resume N + N against 2N straight", resumes[0], "train.deterministic=false"),
            ("resume N + N against 2N straight", resumes[1], "train.deterministic=true")]
    size = 16 if args.tiny else 64
    head = (f"**GPU check** on {name} (`benchmarks/gpu_check.sh`): DCGAN at {size} px on {args.images:,} "
            f"MNIST digits, batch 64, {args.steps} steps x {args.rounds} rounds, evaluation off\n\n")
    return head + "| measure | figure | note |\n| --- | --- | --- |\n" + "".join(
        f"| {a} | {b} | {c} |\n" for a, b, c in rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--tiny", action="store_true", help="width 8, 16 px: a CPU smoke run")
    parser.add_argument("--out", default="gpu_check")
    args = parser.parse_args()
    text = table(args)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "table.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
