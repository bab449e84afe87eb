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

import torch
import torch.nn.functional as F


def d_loss(*, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_D: D's binary cross-entropy, real labelled 1 and fake labelled 0."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def g_loss_minimax(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_G = 1/2 E log(1 - D(G(z))) = -1/2 E softplus(l): the zero-sum game's G cost."""
    return -0.5 * F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


def g_loss_nonsaturating(*, fake_logits: torch.Tensor) -> torch.Tensor:
    """J_G = -1/2 E log D(G(z)) = 1/2 E softplus(-l): flip the target, not the sign."""
    return 0.5 * F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


# loss config name -> generator cost; both games share d_loss.
G_LOSSES = {
    "minimax": g_loss_minimax,
    "nonsaturating": g_loss_nonsaturating,
}
