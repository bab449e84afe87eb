"""Networks by name: a closed registry of (G, D) pairs, built from plain config values.

Nothing read from a file chooses code: `model.name` picks a pair below, and only plain
values (checked against the constructors' annotated signatures) reach the constructors.
Every D returns logits; G's output matches the data's shape, which comes from the dataset.
"""

from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.config import ConfigError
from gan_cli.models.conditional import ConditionalDiscriminator, ConditionalGenerator, spectral_norm_
from gan_cli.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_cli.models.info import InfoDiscriminator, InfoGenerator
from gan_cli.models.mlp import MLPDiscriminator, MLPGenerator
from gan_cli.models.slides import SlidesDiscriminator, SlidesGenerator
from gan_cli.options import Count, check_options, plain


@dataclass(frozen=True)
class Pair:
    G: type
    D: type


MODELS = {
    "mlp": Pair(MLPGenerator, MLPDiscriminator),
    "dcgan": Pair(DCGANGenerator, DCGANDiscriminator),
    "slides_mnist": Pair(SlidesGenerator, SlidesDiscriminator),
}

# gan-cli 0.1 stored `_target_` strings in a checkpoint's model config; these (and only these)
# are recognised when such a checkpoint is loaded, then dropped.
LEGACY_TARGETS = {f"gan_cli.models.{pair.G.__name__}": (name, "g") for name, pair in MODELS.items()} | \
                 {f"gan_cli.models.{pair.D.__name__}": (name, "d") for name, pair in MODELS.items()}


def _shared(name: str, z_dim: Count, conditional: bool = False, spectral_norm: bool = False):
    """The model keys every architecture has (their types and ranges, for check_options)."""


def model_options(model_cfg) -> tuple[Pair, dict]:
    """The registry entry for model.name and the checked model-level options."""
    cfg = plain(model_cfg)
    name = cfg.get("name")
    if name not in MODELS:
        raise ConfigError(f"model.name={name} is not allowed: one of {', '.join(MODELS)}")
    top = check_options(_shared, {k: v for k, v in cfg.items() if k not in ("g", "d")}, "model",
                        skip=())
    return MODELS[name], top


def _net_options(cls, model_cfg, net: str) -> dict:
    return check_options(cls, plain(plain(model_cfg).get(net)), f"model.{net}")


def check_model(model_cfg) -> None:
    """Every model option (name, shared keys, G's and D's) checked without building anything."""
    pair, _ = model_options(model_cfg)
    _net_options(pair.G, model_cfg, "g")
    _net_options(pair.D, model_cfg, "d")


def _classes(top: dict, num_classes) -> int:
    """K when model.conditional, else 0; conditioning needs labelled data."""
    if not top.get("conditional", False):
        return 0
    if not num_classes:
        raise ConfigError("model.conditional=true needs labelled data (mnist, fashion_mnist, cifar10, "
                          "ring8, grid25); this data has no labels")
    return int(num_classes)


def build_generator(model_cfg, shape, num_classes=None) -> nn.Module:
    """G for model.name; conditional on the class when model.conditional (G.conditional, and
    G.num_classes = K, else 0)."""
    pair, top = model_options(model_cfg)
    k, z_dim = _classes(top, num_classes), top["z_dim"]
    G = pair.G(shape=tuple(shape), z_dim=z_dim + k, **_net_options(pair.G, model_cfg, "g"))
    G = ConditionalGenerator(G, z_dim, k) if k else G
    G.conditional, G.num_classes = bool(k), k  # explicit, so nothing probes for attributes
    return G


def build_discriminator(model_cfg, shape, num_classes=None) -> nn.Module:
    """D for model.name, with spectral normalisation when model.spectral_norm, and conditional
    on the class when model.conditional."""
    pair, top = model_options(model_cfg)
    k = _classes(top, num_classes)
    D = pair.D(shape=(shape[0] + k, *shape[1:]), z_dim=top["z_dim"], **_net_options(pair.D, model_cfg, "d"))
    D = spectral_norm_(D) if top.get("spectral_norm", False) else D
    return ConditionalDiscriminator(D, k) if k else D


def build_models(model_cfg, shape, device, num_classes=None) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's shape, on device."""
    G = build_generator(model_cfg, shape, num_classes)
    return G.to(device), build_discriminator(model_cfg, shape, num_classes).to(device)


def check_q_head(q_cfg, key: str = "method.q") -> dict:
    """InfoGAN's Q head options, checked against InfoDiscriminator's annotated signature."""
    return check_options(InfoDiscriminator, plain(q_cfg), key, skip=("self", "D", "outputs"))


def build_info_models(model_cfg, shape, device, code_dim: int, q_outputs: int, q_cfg=None):
    """InfoGAN's pair for model.name: G built for z_dim + code_dim inputs and fed [z, c]; D
    (unconditional, spectral norm as configured) with the Q head of q_outputs numbers on its body."""
    pair, top = model_options(model_cfg)
    G = pair.G(shape=tuple(shape), z_dim=top["z_dim"] + code_dim, **_net_options(pair.G, model_cfg, "g"))
    D = InfoDiscriminator(build_discriminator(model_cfg, shape), q_outputs, **check_q_head(q_cfg))
    return InfoGenerator(G, top["z_dim"], code_dim).to(device), D.to(device)


def load_weights(net: nn.Module, state: dict, what: str) -> nn.Module:
    """net.load_state_dict(state), with one line when the weights don't fit the network."""
    try:
        net.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0][:160]
        raise ConfigError(f"{what}: the stored weights do not fit the network its config describes "
                          f"({first})") from None
    return net


def count_params(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def class_labels(G, n: int, device, label=None) -> torch.Tensor | None:
    """Labels for n samples of a conditional G (all `label`, or cycling 0..K-1); None otherwise."""
    k = G.num_classes
    if not G.conditional:
        return None
    if label is not None and not 0 <= int(label) < k:
        raise ConfigError(f"label={label} is not allowed: a class in 0..{k - 1}")
    labels = torch.arange(n, device=device) % k
    return labels if label is None else torch.full_like(labels, int(label))


def noise(n: int, z_dim: int, device, generator: torch.Generator | None = None) -> torch.Tensor:
    """z ~ N(0, I), shape (n, z_dim)."""
    return torch.randn(n, z_dim, device=device, generator=generator)
