"""train.augment: DiffAugment and ADA on what D sees (gan_cli/augment.py), for every method."""

import pytest
import torch
from conftest import TINY, compose_train, one_line_error, run_gan
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from gan_cli.augment import ADA_INTERVAL, ADA_KIMG, Augment, cutout, translation
from gan_cli.run import train
from gan_cli.rundir import read_checkpoint

# A small DCGAN, without the MNIST recipe's fully connected layers, at a constant lr (the recipe
# decays it over train.steps, which a resume to more steps stretches)
MNIST = ["data=mnist", "train.lr_decay_from=1", "data.download=false", "model.g.width=8", "model.d.width=8",
         "model.g.hidden=0", "model.d.hidden=0"]


@pytest.mark.parametrize("op", ["translation", "cutout", "color"])
def test_gradients_reach_the_images_through_each_transform(op):
    """G's gradient passes through what D sees: d(sum of D's input)/d(G's output) is not zero."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    Augment("diffaugment", [op], 4)(x).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_transforms_follow_diffaugment():
    """translation: a shifted copy with a zero border, by at most 1/8 of the size; cutout: exactly a
    half-size square of zeros (28 px: 14 x 14 = 196 pixels) where it fits inside the image."""
    torch.manual_seed(0)
    x = torch.arange(1.0, 28 * 28 + 1).view(1, 1, 28, 28).repeat(64, 1, 1, 1)
    moved = translation(x)
    for img in moved[:, 0]:
        nz = img.nonzero()
        assert (nz.min(0).values <= 4).all() and (nz.max(0).values >= 23).all()  # shifted by <= 4 px
        values = img[img > 0]
        assert torch.equal(values.sort().values, values.sort().values.unique())  # pixels moved, not mixed
    holes = (cutout(x) == 0).sum((1, 2, 3))
    assert holes.max() == 196 and (holes > 0).all()


def test_ada_with_p_zero_leaves_the_batch_unchanged_and_p_follows_the_signal():
    torch.manual_seed(0)
    ada = Augment("ada", ["translation", "cutout", "color"], batch_size=64)
    x = torch.randn(64, 1, 28, 28)
    assert torch.equal(ada(x), x)  # p = 0
    step = 64 * ADA_INTERVAL / (ADA_KIMG * 1000)
    for i in range(ADA_INTERVAL * 3):  # D confident on the reals: sign(D(x)) = 1 > target 0.6
        ada.observe(torch.ones(64), i)
    assert ada.p.item() == pytest.approx(3 * step) and ada.signal.item() == 1.0
    for i in range(ADA_INTERVAL):  # D unsure: r_t = 0 < 0.6, p falls
        ada.observe(torch.tensor([1.0, -1.0] * 32), i)
    assert ada.p.item() == pytest.approx(2 * step) and ada.signal.item() == 0.0
    ada.p.fill_(1.0)
    assert not torch.equal(ada(x), x)


def test_ada_p_is_logged_and_resume_with_it_is_bit_identical(tmp_path, data_dir):
    base = TINY + MNIST + ["train.augment=ada", "train.ada_target=0.1", "train.threads=1"]
    train(compose_train(base + ["train.steps=8"]), tmp_path / "full")
    train(compose_train(base + ["train.steps=4"]), tmp_path / "part")
    train(compose_train(base + ["train.steps=8", f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    full, part = read_checkpoint(tmp_path / "full"), read_checkpoint(tmp_path / "part")
    assert full["nets"]["augment"]["p"] > 0  # moved off 0 (r_t above the low target)
    for net in full["nets"]:
        for key, value in full["nets"][net].items():
            assert torch.equal(value, part["nets"][net][key]), (net, key)
    events = EventAccumulator(str(tmp_path / "full"), size_guidance={SCALARS: 0})
    events.Reload()
    assert {"augment/p", "augment/signal"} <= set(events.Tags()["scalars"])


@pytest.mark.parametrize("method,kind", [
    ("gan", "diffaugment"), ("gan", "ada"), ("infogan", "ada"), ("cyclegan", "ada"),
    pytest.param("infogan", "diffaugment", marks=pytest.mark.slow),
    pytest.param("cyclegan", "diffaugment", marks=pytest.mark.slow)])
def test_every_method_trains_with_augmentation_through_the_cli(method, kind, tmp_path, data_dir):
    small = {"gan": MNIST, "infogan": MNIST + ["method=infogan", "method.q.hidden=16"],
             "cyclegan": ["method=cyclegan", "model.g.width=4", "model.g.blocks=1", "model.d.width=4"]}
    done = run_gan("train", *TINY, *small[method], f"train.augment={kind}", "train.threads=1",
                   "train.augment_ops=[translation,cutout,color]", f"hydra.run.dir={tmp_path}")
    assert done.returncode == 0, done.stderr[-2000:]
    nets = read_checkpoint(tmp_path)["nets"]
    assert {"augment"} <= set(nets) if method != "cyclegan" else {"augment_A", "augment_B"} <= set(nets)


@pytest.mark.parametrize("override,needle", [
    ("train.augment=flip", "one of none, diffaugment, ada"),
    ("train.augment_ops=[translation,rotate90]",
     "train.augment_ops=rotate90 is not allowed: one of translation, cutout, color"),
    ("train.ada_target=1.0", "train.ada_target=1.0 is not allowed: a number in (0, 1)"),
])
def test_bad_augmentation_settings_are_refused_in_one_line(override, needle, tmp_path):
    one_line_error(run_gan("train", "data=ring8", override, f"hydra.run.dir={tmp_path}"), needle)
