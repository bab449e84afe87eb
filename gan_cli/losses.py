"""GAN losses as pure functions of D's logits.

Sign convention: every function returns a cost that its player *minimises*.
D outputs a logit l; D(x) = sigmoid(l). Costs follow the NIPS 2016 tutorial
(Goodfellow 2016, eqs. 8, 9 and 13), which halves Goodfellow et al. 2014's
value function V(D, G) = E_x log D(x) + E_z log(1 - D(G(z))):

    J_D               = -1/2 E_x log D(x) - 1/2 E_z log(1 - D(G(z)))   (= -V/2)
    J_G minimax       = -J_D restricted to G's term = 1/2 E_z log(1 - D(G(z)))
    J_G nonsaturating = -1/2 E_z log D(G(z))

Computed from logits, log D = -softplus(-l) and log(1 - D) = -softplus(l), so
the costs stay finite however confident D is. At the equilibrium D = 1/2
everywhere, J_D = log 2 ~ 0.693.

Gradient with respect to a fake logit l (the vanishing-gradient argument):
    minimax:        dJ_G/dl = -1/2 sigmoid(l)       -> 0 as D rejects fakes (l -> -inf)
    nonsaturating:  dJ_G/dl = -1/2 (1 - sigmoid(l)) -> -1/2
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F


def d_loss(*, real_logits: torch.Tensor, fake_logits: torch.Tensor, smoothing: float = 0.0) -> torch.Tensor:
    """J_D: D's binary cross-entropy, real labelled 1 - smoothing (one-sided label smoothing,
    Salimans et al. 2016; 0 = none) and fake labelled 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1 - smoothing))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def g_loss_minimax(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_G = 1/2 E log(1 - D(G(z))) = -1/2 E softplus(l): the zero-sum game's G cost."""
    return -0.5 * F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def g_loss_nonsaturating(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_G = -1/2 E log D(G(z)) = 1/2 E softplus(-l): flip the target, not the sign."""
    return 0.5 * F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# Critic games: D outputs an unbounded score s, not the logit of a probability.

def wgan_d(*, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """WGAN critic (Arjovsky et al. 2017): minimise E s(G(z)) - E s(x), an estimate of -W1."""
    return fake_logits.mean() - real_logits.mean()


def wgan_g(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """WGAN and hinge generator: minimise -E s(G(z))."""
    return -fake_logits.mean()


def wgan_drift_d(*, real_logits: torch.Tensor, fake_logits: torch.Tensor,
                 drift: float = 0.001) -> torch.Tensor:
    """ProGAN's critic cost (Karras et al. 2018, App. A.1): WGAN's plus drift * E s(x)^2, so the
    scores do not drift far from 0 (the gradient penalty is added in the loop, as for wgan_gp)."""
    return wgan_d(real_logits=real_logits, fake_logits=fake_logits) + drift * real_logits.square().mean()


def hinge_d(*, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge critic (Lim & Ye 2017; Miyato et al. 2018): E relu(1 - s(x)) + E relu(1 + s(G(z)))."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def lsgan_d(*, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least squares (Mao et al. 2017, a=0, b=c=1): 1/2 E (s(x) - 1)^2 + 1/2 E s(G(z))^2."""
    return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()


def lsgan_g(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """Least squares generator: 1/2 E (s(G(z)) - 1)^2."""
    return 0.5 * (fake_logits - 1).square().mean()


def _input_grad(D, x: torch.Tensor) -> torch.Tensor:
    """d D(x) / dx per example, flattened to (B, features), kept in the graph. In fp32 even under
    train.precision=bf16|fp16: 16-bit double backward overflows or underflows."""
    x = x.detach().float().requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        (grad,) = torch.autograd.grad(D(x).float().sum(), x, create_graph=True)
    return grad.flatten(1)


def gradient_penalty(D, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): E (|grad D(x_hat)|_2 - 1)^2 with x_hat = e x + (1 - e) G(z),
    e ~ U[0, 1] drawn once per example (not per pixel)."""
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device)  # (B, 1, 1, 1)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_input_grad(D, x_hat).norm(dim=1) - 1).square().mean()


def r1_penalty(D, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018): 1/2 E |grad D(x)|^2 on real data (times gamma in the loop)."""
    return 0.5 * _input_grad(D, real).square().sum(1).mean()


# InfoGAN (Chen et al. 2016): the mutual-information lower bound L_I(G, Q) = H(c) - E[-log Q(c|x)],
# x = G(z, c). H(c) is a constant, so both players minimise lambda * E[-log Q(c|x)], the terms below.
def categorical_nll(*, logits: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """E[-log Q(c|x)] for a categorical code: cross-entropy of Q's logits (B, K) against c (B,), nats.
    ln K - this is the bound on I(c; x): 0 at chance, ln K when Q reads every code."""
    return F.cross_entropy(logits, codes)


def gaussian_nll(*, mean: torch.Tensor, log_std: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """E[-log N(c; mean, exp(log_std)^2)] for continuous codes (B, n), summed over the n codes:
    (c - mean)^2 / (2 std^2) + log std + log(2 pi) / 2 per code, nats."""
    z = (codes - mean) * torch.exp(-log_std)
    return (0.5 * z.square() + log_std + 0.5 * math.log(2 * math.pi)).sum(1).mean()


@dataclass(frozen=True)
class Game:
    """A loss config made concrete: the two costs and the regularisers the loop applies."""
    d_loss: Callable
    g_loss: Callable
    critic: bool = False        # D outputs raw scores: logged as critic/*, not as probabilities
    smoothing: float = 0.0      # one-sided label smoothing of the real target (cross-entropy games)
    gp_weight: float = 0.0      # WGAN-GP penalty weight (lambda)
    r1_gamma: float = 0.0       # R1 penalty weight (gamma)
    clip: float = 0.0           # WGAN weight clipping: every critic weight kept in [-clip, clip]
    r1_every: int = 1           # lazy R1 (Karras et al. 2020): on every r1_every-th D step, weight x r1_every


# loss config name -> (J_D, J_G, critic?)
LOSSES = {
    "minimax": (d_loss, g_loss_minimax, False),
    "nonsaturating": (d_loss, g_loss_nonsaturating, False),
    "nonsaturating_r1": (d_loss, g_loss_nonsaturating, False),  # its config turns R1 on (StyleGAN)
    "wgan": (wgan_d, wgan_g, True),
    "wgan_gp": (wgan_d, wgan_g, True),
    "wgan_gp_drift": (wgan_drift_d, wgan_g, True),
    "hinge": (hinge_d, wgan_g, True),
    "lsgan": (lsgan_d, lsgan_g, True),
}


def make_game(loss_cfg) -> Game:
    """The Game for conf/loss/<name>.yaml."""
    d, g, critic = LOSSES[loss_cfg.name]
    smoothing = float(loss_cfg.get("label_smoothing", 0.0))
    if smoothing:
        d = partial(d_loss, smoothing=smoothing)
    if "drift" in loss_cfg:
        d = partial(wgan_drift_d, drift=float(loss_cfg.drift))
    return Game(d, g, critic, smoothing, float(loss_cfg.get("gp_weight", 0.0)),
                float(loss_cfg.get("r1_gamma", 0.0)), float(loss_cfg.get("clip", 0.0)),
                int(loss_cfg.get("r1_every", 1)))  # absent from configs written before lazy R1
