"""Latent-space tools and `gan sample` modes."""

import numpy as np
import pytest
import torch
from conftest import TINY, run_gan
from PIL import Image

from gan_cli.latent import arithmetic_code, interpolation_codes, lerp, nearest, seed_z, slerp


def test_interpolation_endpoints_are_the_endpoint_codes():
    z = seed_z([3, 7], 16, "cpu")
    for path in (lerp, slerp):
        strip = path(z[0], z[1], 6)
        assert strip.shape == (6, 16)
        assert torch.allclose(strip[0], z[0], atol=1e-5) and torch.allclose(strip[-1], z[1], atol=1e-5)
    # slerp keeps the norm between endpoints of equal norm; the straight line cuts inside
    a = torch.tensor([1.0, 0.0])
    b = torch.tensor([0.0, 1.0])
    assert slerp(a, b, 3)[1].norm() == pytest.approx(1.0) and lerp(a, b, 3)[1].norm() < 0.8
    codes = interpolation_codes(seed_z([1, 2, 3], 4, "cpu"), 5)
    assert codes.shape == (2 * 2 * 5, 4)  # 2 pairs x (linear, spherical) x 5 steps


def test_seed_codes_are_reproducible_and_distinct():
    assert torch.equal(seed_z([5], 8, "cpu"), seed_z([5], 8, "cpu"))
    assert not torch.equal(seed_z([5], 8, "cpu"), seed_z([6], 8, "cpu"))


def test_arithmetic_on_averaged_codes():
    za, zb, zc = torch.ones(3, 2), torch.full((2, 2), 2.0), torch.tensor([[0.0, 3.0]])
    assert torch.equal(arithmetic_code(za, zb, zc), torch.tensor([-1.0, 2.0]))


def test_nearest_returns_the_training_image_itself():
    bank = torch.randn(1000, 1, 8, 8)
    idx = nearest(bank[[17, 423]], bank, k=3, chunk=128)  # chunks: the best of several passes
    assert idx[:, 0].tolist() == [17, 423] and idx.shape == (2, 3)
    d = torch.cdist(bank[[17]].flatten(1), bank.flatten(1))[0]
    assert set(idx[0].tolist()) == set(d.topk(3, largest=False).indices.tolist())


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """A tiny DCGAN run on an image folder (unlabelled, so `nearest` uses pixel space only)."""
    root = tmp_path_factory.mktemp("latent")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(images / f"{i}.png")
    run = root / "run"
    result = run_gan("train", *TINY, "data=image_folder", f"data.path={images}", "data.image_size=16",
                     "data.channels=1", "model.g.width=4", "model.d.width=4", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    return run


@pytest.mark.parametrize("mode,args,size", [
    ("interpolate", ["seeds=[1,2,3]", "steps=4"], (4 * 16 + 5 * 2, 4 * 16 + 5 * 2)),  # 4 strips of 4
    ("arithmetic", ["arithmetic.a=[1,2]", "arithmetic.b=[3]", "arithmetic.c=[4]"],
     (3 * 16 + 4 * 2, 4 * 16 + 5 * 2)),                                               # 4 rows of 3
    ("nearest", ["n=2", "k=3"], (4 * 16 + 5 * 2, 2 * 16 + 3 * 2)),                    # sample + 3
])
def test_sample_modes_write_one_png(mode, args, size, image_run):
    result = run_gan("sample", f"checkpoint={image_run}", f"mode={mode}", *args)
    assert result.returncode == 0, result.stderr
    expected = image_run / "samples" / f"{mode}_seed0.png"
    assert result.stdout.strip() == f"wrote {expected}"
    assert Image.open(expected).size == size


def test_unknown_mode_and_2d_data(tmp_path, image_run):
    result = run_gan("sample", f"checkpoint={image_run}", "mode=zoom")
    assert result.returncode == 2 and "mode=zoom is not allowed" in result.stderr


def test_interpolation_strip_ends_are_the_endpoint_samples():
    from gan_cli.gan_modes import _images
    from gan_cli.models import DCGANGenerator
    G = DCGANGenerator((1, 16, 16), z_dim=8, width=4).eval()
    seeds, steps = [4, 9], 5
    strips = _images(G, interpolation_codes(seed_z(seeds, 8, "cpu"), steps))  # (2 strips * 5, C, H, W)
    ends = _images(G, seed_z(seeds, 8, "cpu"))
    for strip in (strips[:steps], strips[steps:]):  # linear, then spherical
        assert torch.allclose(strip[0], ends[0], atol=1e-5) and torch.allclose(strip[-1], ends[1], atol=1e-5)
