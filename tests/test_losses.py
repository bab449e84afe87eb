"""Losses against hand-computed values (NIPS 2016 tutorial forms, computed from logits)."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli import losses as L
from gan_cli.losses import LOSSES, d_loss, g_loss_minimax, g_loss_nonsaturating


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_d_loss_by_hand():
    # real logits 2, 0 -> D = 0.8808, 0.5; fake logits -1, 1 -> D = 0.2689, 0.7311
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    expected = -0.5 * (math.log(sig(2)) + math.log(0.5)) / 2 \
               - 0.5 * (math.log(1 - sig(-1)) + math.log(1 - sig(1))) / 2
    assert d_loss(real_logits=real, fake_logits=fake).item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.5 * (0.126928 + 0.693147) / 2 + 0.5 * (0.313262 + 1.313262) / 2,
                                     rel=1e-5)


def test_d_loss_at_equilibrium_is_log2():
    zeros = torch.zeros(5)
    assert d_loss(real_logits=zeros, fake_logits=zeros).item() == pytest.approx(math.log(2))


def test_generator_losses_by_hand():
    fake = torch.tensor([-1.0, 1.0])
    minimax = 0.5 * (math.log(1 - sig(-1)) + math.log(1 - sig(1))) / 2   # 1/2 E log(1 - D)
    nonsat = -0.5 * (math.log(sig(-1)) + math.log(sig(1))) / 2           # -1/2 E log D
    assert g_loss_minimax(fake_logits=fake).item() == pytest.approx(minimax, rel=1e-6)
    assert g_loss_nonsaturating(fake_logits=fake).item() == pytest.approx(nonsat, rel=1e-6)
    assert minimax == pytest.approx(-0.406631, rel=1e-5)
    assert nonsat == pytest.approx(0.406631, rel=1e-5)  # symmetric logits: same magnitude


def grad_wrt_logit(loss_fn, logit):
    logits = torch.tensor([logit], requires_grad=True)
    loss_fn(fake_logits=logits).backward()
    return logits.grad.item()


def test_minimax_gradient_vanishes_when_d_rejects_fakes():
    # D(G(z)) = sigmoid(-10) = 4.54e-5: dJ/dl = -1/2 sigmoid(l) = -2.27e-5
    assert grad_wrt_logit(g_loss_minimax, -10.0) == pytest.approx(-0.5 * sig(-10), rel=1e-5)
    assert abs(grad_wrt_logit(g_loss_minimax, -10.0)) < 3e-5


def test_nonsaturating_gradient_survives_when_d_rejects_fakes():
    # dJ/dl = -1/2 (1 - sigmoid(l)) = -0.4999773
    assert grad_wrt_logit(g_loss_nonsaturating, -10.0) == pytest.approx(-0.5 * (1 - sig(-10)), rel=1e-6)
    ratio = grad_wrt_logit(g_loss_nonsaturating, -10.0) / grad_wrt_logit(g_loss_minimax, -10.0)
    assert ratio > 1e4


def test_losses_stay_finite_for_confident_d():
    big = torch.tensor([-200.0, 200.0])
    for value in (d_loss(real_logits=big, fake_logits=big), g_loss_minimax(fake_logits=big),
                  g_loss_nonsaturating(fake_logits=big)):
        assert torch.isfinite(value)
    assert d_loss(real_logits=torch.tensor([-200.0]), fake_logits=torch.tensor([200.0])).item() \
        == pytest.approx(200.0)


def test_registry_names_match_conf():
    from pathlib import Path

    from gan_cli.cli import conf_dir
    assert sorted(LOSSES) == sorted(p.stem for p in (Path(conf_dir()) / "loss").glob("*.yaml"))


def test_critic_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert L.wgan_d(real_logits=real, fake_logits=fake).item() == pytest.approx(-1.0 - 2.0)
    assert L.wgan_g(fake_logits=fake).item() == pytest.approx(1.0)
    # hinge: relu(1 - [0.5, 2]) = [0.5, 0] -> 0.25; relu(1 + [-2, 0.5]) = [0, 1.5] -> 0.75
    assert L.hinge_d(real_logits=torch.tensor([0.5, 2.0]),
                     fake_logits=torch.tensor([-2.0, 0.5])).item() == pytest.approx(1.0)
    # lsgan: 1/2 mean([0, 4]) + 1/2 mean([0, 4]) = 2; G: 1/2 mean([1, 1]) = 0.5
    assert L.lsgan_d(real_logits=torch.tensor([1.0, 3.0]),
                     fake_logits=torch.tensor([0.0, 2.0])).item() == pytest.approx(2.0)
    assert L.lsgan_g(fake_logits=torch.tensor([0.0, 2.0])).item() == pytest.approx(0.5)


def test_label_smoothing_changes_only_the_real_target():
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    plain = d_loss(real_logits=real, fake_logits=fake)
    smooth = d_loss(real_logits=real, fake_logits=fake, smoothing=0.1)
    # bce(2, t) = t * 0.126928 + (1 - t) * 2.126928: t = 0.9 adds 0.2, halved by J_D's 1/2
    assert (smooth - plain).item() == pytest.approx(0.1, rel=1e-4)
    other_fake = d_loss(real_logits=real, fake_logits=torch.tensor([3.0]), smoothing=0.1) \
        - d_loss(real_logits=real, fake_logits=torch.tensor([3.0]))
    assert other_fake.item() == pytest.approx(0.1, rel=1e-4)  # the fake term is untouched
    game = L.make_game(OmegaConf.create({"name": "nonsaturating", "label_smoothing": 0.1}))
    assert game.d_loss(real_logits=real, fake_logits=fake).item() == pytest.approx(smooth.item())


class Linear2(torch.nn.Module):
    """D(x) = w . x with w = (3, 4): grad_x D = w everywhere, |w| = 5."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return x.flatten(1) @ self.w


def test_gradient_and_r1_penalties_by_hand():
    D = Linear2()
    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert L.gradient_penalty(D, real, fake).item() == pytest.approx((5 - 1) ** 2)
    assert L.r1_penalty(D, real).item() == pytest.approx(0.5 * 25)


def test_gradient_penalty_interpolates_per_example():
    seen = []

    def D(x):  # a critic on (B, C, H, W) images that records its input
        seen.append(x.detach().clone())
        return x.flatten(1).sum(1)

    # real - fake = +-1 in every pixel: recovering eps below does not divide by near-zero numbers
    # (a random pair did, about once in 30 runs)
    fake = torch.randn(5, 3, 4, 4)
    real = fake + torch.where(torch.rand(5, 3, 4, 4) < 0.5, -1.0, 1.0)
    L.gradient_penalty(D, real, fake)
    eps = (seen[0] - fake) / (real - fake)  # (B, C, H, W): the weight of real in each pixel
    per_example = eps.flatten(1)
    assert torch.allclose(per_example, per_example[:, :1].expand_as(per_example), atol=1e-4)
    assert per_example[:, 0].std() > 0  # but it differs between examples


def test_r1_and_gp_reach_the_discriminator_weights():
    D = torch.nn.Linear(2, 1)
    loss = L.r1_penalty(lambda x: D(x).squeeze(1), torch.randn(8, 2))
    loss.backward()
    assert D.weight.grad is not None and D.weight.grad.abs().sum() > 0
