"""PacGAN packing and minibatch standard deviation in D: shapes, maths, and every model and loss."""

import pytest
import torch
from conftest import TINY, compose_train, one_line_error, run_gan
from omegaconf import OmegaConf

from gan_cli.models import build_discriminator
from gan_cli.models.remedies import MinibatchStd
from gan_cli.run import train

RING = ["model=mlp", "data=ring8", "data.n_points=500"]


def mlp(**top):
    return OmegaConf.create({"name": "mlp", "z_dim": 2, **top, "g": {}, "d": {"hidden": 16, "layers": 2}})


def test_packed_d_judges_m_samples_per_logit():
    D = build_discriminator(mlp(pack=4), (2,))
    assert D(torch.randn(12, 2)).shape == (3,)
    assert D.D.net[1].in_features == 8  # 4 points of 2 coordinates side by side
    x = torch.randn(8, 2)
    swapped = torch.cat([x[4:], x[:4]])  # the same packs in the other order
    assert torch.allclose(D(x).flip(0), D(swapped))


def test_packed_conditional_image_d_stacks_channels():
    cfg = OmegaConf.create({"name": "dcgan", "z_dim": 8, "pack": 2, "conditional": True,
                            "g": {"width": 8}, "d": {"width": 8}})
    D = build_discriminator(cfg, (1, 28, 28), num_classes=10)
    assert D.D.D.net[0].in_channels == 2 * (1 + 10)  # each sample with its one-hot, two per pack
    assert D(torch.randn(6, 1, 28, 28), torch.arange(6)).shape == (3,)


def test_minibatch_std_feature_is_the_batch_spread():
    x = torch.tensor([[0.0, 1.0], [2.0, 5.0]])  # per-feature std over the batch: 1 and 2
    out = MinibatchStd()(x)
    assert out.shape == (2, 3) and torch.allclose(out[:, 2], torch.tensor([1.5, 1.5]))
    images = MinibatchStd()(torch.zeros(4, 3, 5, 5))
    assert images.shape == (4, 4, 5, 5) and images[:, 3].abs().max() < 1e-3  # no spread: ~0
    D = build_discriminator(mlp(minibatch_std=True), (2,))
    assert isinstance(D.net[-2], MinibatchStd) and D.net[-1].in_features == 17


@pytest.mark.parametrize("model", ["mlp", "dcgan", "slides_mnist"])
def test_every_model_trains_with_both_remedies(model, tmp_path, data_dir):
    extra = ["model.g.width=8", "model.d.width=8"] if model == "dcgan" else []
    cfg = compose_train(TINY + ["data.download=false", f"model={model}", "model.pack=2",
                                "model.minibatch_std=true", *extra])
    assert train(cfg, tmp_path)["status"] == "completed"


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax", "wgan", "wgan_gp", "hinge", "lsgan"])
def test_remedies_compose_with_every_loss(loss, tmp_path):
    cfg = compose_train(TINY + RING + [f"loss={loss}", "model.pack=4", "model.minibatch_std=true",
                                       "model.conditional=true", "model.spectral_norm=true"])
    assert train(cfg, tmp_path)["status"] == "completed"


def test_batch_must_be_a_multiple_of_the_pack():
    result = run_gan("train", *TINY, *RING, "model.pack=3")
    one_line_error(result, "train.batch_size=8", "multiple of model.pack=3")
    one_line_error(run_gan("train", *TINY, *RING, "model.pack=0"), "model.pack=0")
