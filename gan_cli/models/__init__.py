"""Networks by name: a closed registry of (G, D) pairs, built from plain config values.

Nothing read from a file chooses code: `model.name` picks a pair below, and only plain
values (checked against the constructors' annotated signatures) reach the constructors.
Every D returns logits; G's output matches the data's shape, which comes from the dataset.
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.config import ConfigError
from gan_cli.models.biggan import BigGANDiscriminator, BigGANGenerator
from gan_cli.models.conditional import ConditionalDiscriminator, ConditionalGenerator, spectral_norm_
from gan_cli.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_cli.models.mlp import MLPDiscriminator, MLPGenerator
from gan_cli.models.progan import ProGANDiscriminator, ProGANGenerator, progan_options
from gan_cli.models.slides import SlidesDiscriminator, SlidesGenerator
from gan_cli.models.stylegan import StyleGANDiscriminator, StyleGANGenerator
from gan_cli.options import Count, check_options, plain


@dataclass(frozen=True)
class Pair:
    G: type
    D: type
    both: Callable | None = None  # its annotated signature: model-level keys given to G and D alike
    labelled: bool = False        # class-conditional by design: takes num_classes, no one-hot wrappers


MODELS = {
    "mlp": Pair(MLPGenerator, MLPDiscriminator),
    "dcgan": Pair(DCGANGenerator, DCGANDiscriminator),
    "slides_mnist": Pair(SlidesGenerator, SlidesDiscriminator),
    "progan": Pair(ProGANGenerator, ProGANDiscriminator, both=progan_options),
    "stylegan": Pair(StyleGANGenerator, StyleGANDiscriminator),
    "biggan": Pair(BigGANGenerator, BigGANDiscriminator, labelled=True),
}

# gan-cli 0.1 stored `_target_` strings in a checkpoint's model config; these (and only these)
# are recognised when such a checkpoint is loaded, then dropped.
LEGACY_TARGETS = {f"gan_cli.models.{pair.G.__name__}": (name, "g") for name, pair in MODELS.items()} | \
                 {f"gan_cli.models.{pair.D.__name__}": (name, "d") for name, pair in MODELS.items()}


def _shared(name: str, z_dim: Count, conditional: bool = False, spectral_norm: bool = False):
    """The model keys every architecture has (their types and ranges, for check_options)."""


def model_options(model_cfg) -> tuple[Pair, dict]:
    """The registry entry for model.name and the checked model-level options (a pair's `both`
    keys, e.g. progan's phase_steps, among them)."""
    cfg = plain(model_cfg)
    name = cfg.get("name")
    if name not in MODELS:
        raise ConfigError(f"model.name={name} is not allowed: one of {', '.join(MODELS)}")
    pair = MODELS[name]
    top = {k: v for k, v in cfg.items() if k not in ("g", "d")}
    both = inspect.signature(pair.both).parameters if pair.both else {}
    extra = {k: top.pop(k) for k in list(top) if k in both}
    top = check_options(_shared, top, "model", skip=())
    if pair.labelled and not top.get("conditional"):
        raise ConfigError(f"model.conditional=false is not allowed for model={name}: it is class-conditional "
                          "by design (labelled data only)")
    return pair, {**top, "both": check_options(pair.both, extra, "model", skip=()) if pair.both else {}}


def _net_options(pair: Pair, model_cfg, net: str) -> dict:
    """model.g or model.d against G's or D's signature, less the keys the registry fills in."""
    given = ("num_classes", *(inspect.signature(pair.both).parameters if pair.both else ()))
    return check_options(getattr(pair, net.upper()), plain(plain(model_cfg).get(net)), f"model.{net}",
                         skip=("self", "shape", "z_dim", "params", *given))


def check_model(model_cfg) -> None:
    """Every model option (name, shared keys, G's and D's) checked without building anything."""
    pair, _ = model_options(model_cfg)
    _net_options(pair, model_cfg, "g")
    _net_options(pair, model_cfg, "d")


def _classes(top: dict, num_classes) -> int:
    """K when model.conditional, else 0; conditioning needs labelled data."""
    if not top.get("conditional", False):
        return 0
    if not num_classes:
        raise ConfigError(f"model={top['name']} with model.conditional=true needs labelled data "
                          "(mnist, fashion_mnist, cifar10, "
                          "ring8, grid25); this data has no labels")
    return int(num_classes)


def build_generator(model_cfg, shape, num_classes=None) -> nn.Module:
    """G for model.name; conditional on the class when model.conditional (G.conditional, and
    G.num_classes = K, else 0)."""
    pair, top = model_options(model_cfg)
    k, z_dim = _classes(top, num_classes), top["z_dim"]
    opts = {**top["both"], **_net_options(pair, model_cfg, "g")}
    if pair.labelled:
        G = pair.G(shape=tuple(shape), z_dim=z_dim, num_classes=k, **opts)
    else:
        G = pair.G(shape=tuple(shape), z_dim=z_dim + k, **opts)
        G = ConditionalGenerator(G, z_dim, k) if k else G
    G.conditional, G.num_classes = bool(k), k  # explicit, so nothing probes for attributes
    return G


def build_discriminator(model_cfg, shape, num_classes=None) -> nn.Module:
    """D for model.name, with spectral normalisation when model.spectral_norm, and conditional
    on the class when model.conditional."""
    pair, top = model_options(model_cfg)
    k, opts = _classes(top, num_classes), {**top["both"], **_net_options(pair, model_cfg, "d")}
    if pair.labelled:  # e.g. biggan's projection D takes the labels itself
        D = pair.D(shape=tuple(shape), z_dim=top["z_dim"], num_classes=k, **opts)
    else:
        D = pair.D(shape=(shape[0] + k, *shape[1:]), z_dim=top["z_dim"], **opts)
    D = spectral_norm_(D) if top.get("spectral_norm", False) else D
    return ConditionalDiscriminator(D, k) if k and not pair.labelled else D


def build_models(model_cfg, shape, device, num_classes=None) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's shape, on device."""
    G = build_generator(model_cfg, shape, num_classes)
    return G.to(device), build_discriminator(model_cfg, shape, num_classes).to(device)


def follow_step(nets: dict, step: int) -> dict:
    """Nets whose shape follows the training step (progan's phases) set it from `step`, a pure
    function of it so that resume is exact; returns their stats, e.g. {'progan_alpha': 0.5}."""
    stats = {}
    for module in (m for net in nets.values() for m in net.modules()):  # also inside conditional wrappers
        if hasattr(module, "follow_step"):
            stats.update(module.follow_step(step))
    return stats


def schedule_tags(nets: dict) -> dict:
    """TensorBoard tags of follow_step's stats (e.g. progan_alpha -> progan/alpha)."""
    modules = (m for net in nets.values() for m in net.modules())
    return {k: v for m in modules for k, v in getattr(m, "schedule_tags", {}).items()}


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
