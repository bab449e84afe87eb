"""`gan sample mode=translate`: run a two-domain checkpoint's G_AB or G_BA over image files.

    gan sample checkpoint=<run> mode=translate input=<image or folder> direction=a2b|b2a [out=<dir>]

Inputs are converted to the source domain's channels and resized (shorter side, centre crop)
to the training size; each translation is written as <out>/<name>.png (a folder input keeps its
sub-folders), by default under <run dir>/samples/translate_<direction>/.
"""

from pathlib import Path

import numpy as np
import torch

from gan_cli.errors import ConfigError
from gan_cli.readers import image_files, read_images

DIRECTIONS = {"a2b": ("G_AB", "shape_a"), "b2a": ("G_BA", "shape_b")}


def _inputs(given) -> tuple[list[Path], Path]:
    """The image files named by input= and the folder their output names are relative to."""
    if given is None:
        raise ConfigError("mode=translate needs input=<an image file or a folder of images>")
    path = Path(str(given))
    if path.is_file():
        return [path], path.parent
    return image_files(path, "input"), path


def _save(img: torch.Tensor, path: Path) -> None:
    """(C, H, W) in [-1, 1] -> an 8-bit greyscale or RGB PNG."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else np.ascontiguousarray(pixels)).save(path)


@torch.no_grad()
def translate_mode(method, nets, ckpt, o: dict, out: Path) -> list[Path]:
    """Translate every input image; returns the output folder."""
    direction = o.get("direction", "a2b")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction={direction} is not allowed: a2b | b2a")
    files, root = _inputs(o.get("input"))
    net, shape_key = DIRECTIONS[direction]
    channels, size = ckpt["data"][shape_key][0], ckpt["data"][shape_key][-1]
    G = nets[net]
    folder = Path(str(o["out"])) if o.get("out") else out.parent / f"translate_{direction}"
    for i in range(0, len(files), 64):
        chunk = files[i:i + 64]
        x = read_images(chunk, size, channels, "input").to(o["device"]).float() / 127.5 - 1.0
        for path, y in zip(chunk, G(x)):
            _save(y, folder / path.relative_to(root).with_suffix(".png"))
    print(f"translated {len(files)} image(s) {direction} with {net}")
    return [folder]


TRANSLATE_MODES = {"translate": translate_mode}
