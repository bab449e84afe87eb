"""Losses against hand-computed values (NIPS 2016 tutorial forms, computed from logits)."""

import math

import pytest
import torch

from gan_cli.losses import G_LOSSES, d_loss, g_loss_minimax, g_loss_nonsaturating


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
    assert sorted(G_LOSSES) == sorted(p.stem for p in (Path(conf_dir()) / "loss").glob("*.yaml"))
