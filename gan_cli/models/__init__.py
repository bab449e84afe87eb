"""Networks by name: a closed registry of (G, D) pairs, built from plain config values.

Nothing read from a file chooses code: `model.name` picks a pair below, and only plain
values (checked against the constructors' annotated signatures) reach the constructors.
Every D returns logits; G's output matches the data's shape, which comes from the dataset.
Pairs marked `translates` map images to images (two-domain methods: cyclegan, discogan);
the others map noise to data (method=gan).
"""

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from gan_cli.errors import ConfigError
from gan_cli.models.biggan import BigGANDiscriminator, BigGANGenerator
from gan_cli.models.conditional import ConditionalDiscriminator, ConditionalGenerator, spectral_norm_
from gan_cli.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_cli.models.info import InfoDiscriminator, InfoGenerator
from gan_cli.models.mlp import MLPDiscriminator, MLPGenerator
from gan_cli.models.progan import ProGANDiscriminator, ProGANGenerator, progan_options
from gan_cli.models.remedies import Packed, add_minibatch_std, packed_shape
from gan_cli.models.slides import SlidesDiscriminator, SlidesGenerator
from gan_cli.models.stackgan import StackDiscriminator, StackGenerator, stackgan_options
from gan_cli.models.stylegan import StyleGANDiscriminator, StyleGANGenerator
from gan_cli.models.translate import (
    EncoderDecoderGenerator,
    EncoderDiscriminator,
    PatchDiscriminator,
    ResnetGenerator,
)
from gan_cli.options import Count, check_options, plain


@dataclass(frozen=True)
class Pair:
    G: type
    D: type
    translates: bool = False      # G maps images of one domain to another (not noise to data)
    both: Callable | None = None  # its annotated signature: model-level keys given to G and D alike
    labelled: bool = False        # class-conditional by design: takes num_classes, no one-hot wrappers
    captioned: bool = False       # G(z, caption embedding): method=stackgan only


MODELS = {
    "mlp": Pair(MLPGenerator, MLPDiscriminator),
    "dcgan": Pair(DCGANGenerator, DCGANDiscriminator),
    "slides_mnist": Pair(SlidesGenerator, SlidesDiscriminator),
    "progan": Pair(ProGANGenerator, ProGANDiscriminator, both=progan_options),
    "stylegan": Pair(StyleGANGenerator, StyleGANDiscriminator),
    "biggan": Pair(BigGANGenerator, BigGANDiscriminator, labelled=True),
    "resnet_patchgan": Pair(ResnetGenerator, PatchDiscriminator, translates=True),
    "discogan": Pair(EncoderDecoderGenerator, EncoderDiscriminator, translates=True),
    "stackgan": Pair(StackGenerator, StackDiscriminator, both=stackgan_options, captioned=True),
}
NOISE_MODELS = [name for name, pair in MODELS.items() if not pair.translates and not pair.captioned]
TRANSLATION_MODELS = [name for name, pair in MODELS.items() if pair.translates]

# gan-cli 0.1 stored `_target_` strings in a checkpoint's model config; these (and only these)
# are recognised when such a checkpoint is loaded, then dropped.
LEGACY_TARGETS = {f"gan_cli.models.{pair.G.__name__}": (name, "g") for name, pair in MODELS.items()} | \
                 {f"gan_cli.models.{pair.D.__name__}": (name, "d") for name, pair in MODELS.items()}


def _shared(name: str, z_dim: Count, conditional: bool = False, spectral_norm: bool = False,
            pack: Count = 1, minibatch_std: bool = False):
    """The model keys every architecture has (their types and ranges, for check_options)."""


# Model keys added after checkpoints were written, with the value that reproduces those runs: for
# every model, and per network (model.g, model.d) of one model.
ADDED_KEYS = {"pack": 1, "minibatch_std": False}
ADDED_NET_KEYS = {"dcgan": {"g": {"hidden": 0}, "d": {"hidden": 0}}, "biggan": {"d": {"extra_blocks": 0}},
                  # CA was always on before model.g.ca, and Stage II had no residual before model.g.residual
                  "stackgan": {"g": {"ca": True, "residual": False}, "d": {"text": "gru"}}}


def with_added_keys(model: dict) -> dict:
    """A stored model config of a registered model with the later keys filled in, so an older
    run resumes under today's config (which names them)."""
    if not isinstance(model, dict) or model.get("name") not in MODELS:
        return model
    model, extra = {**ADDED_KEYS, **model}, ADDED_NET_KEYS.get(model["name"], {})
    for net in ("g", "d"):
        if net in extra and isinstance(model.get(net), dict):
            model[net] = {**extra[net], **model[net]}
    return model


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
    """model.g or model.d against G's or D's signature, less the keys the registry fills in
    (shapes from the data, the class count, a pair's `both` keys)."""
    given = ("num_classes", *(inspect.signature(pair.both).parameters if pair.both else ()))
    return check_options(getattr(pair, net.upper()), plain(plain(model_cfg).get(net)), f"model.{net}",
                         skip=("self", "shape", "z_dim", "params", "out_channels", "digit_head", *given))


def _kind(pair: Pair, model_cfg, translates: bool, captioned: bool = False) -> None:
    """Noise-to-data pairs for method=gan, image-to-image pairs for the two-domain methods,
    caption-to-image pairs for method=stackgan."""
    name = plain(model_cfg).get("name")
    if pair.captioned != captioned:
        raise ConfigError(f"model={name} needs method=stackgan" if pair.captioned else
                          f"method=stackgan needs model=stackgan (model={name} draws no captions)")
    if pair.translates != translates:
        name = plain(model_cfg).get("name")
        allowed = TRANSLATION_MODELS if translates else NOISE_MODELS
        what = "two-domain methods (cyclegan, discogan)" if translates else "method=gan"
        raise ConfigError(f"model={name} does not fit {what}: use model={' | '.join(allowed)}")


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
    _kind(pair, model_cfg, translates=False)
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
    """D for model.name: on packs of model.pack samples (PacGAN), with a minibatch-std feature
    before its last layer when model.minibatch_std, spectral normalisation when
    model.spectral_norm, and conditional on the class when model.conditional (the one-hot goes
    with each sample into its pack)."""
    pair, top = model_options(model_cfg)
    _kind(pair, model_cfg, translates=False)
    k, pack = _classes(top, num_classes), top.get("pack", 1)
    opts = {**top["both"], **_net_options(pair, model_cfg, "d")}
    if pair.labelled:  # e.g. biggan's projection D takes the labels itself
        if pack > 1:
            raise ConfigError(f"model.pack={pack} is not allowed with model={top['name']}: 1 (its projection "
                              "D judges one labelled sample at a time)")
        D = pair.D(shape=tuple(shape), z_dim=top["z_dim"], num_classes=k, **opts)
    else:
        D = pair.D(shape=packed_shape((shape[0] + k, *shape[1:]), pack), z_dim=top["z_dim"], **opts)
    D = add_minibatch_std(D, f"model={top['name']}") if top.get("minibatch_std", False) else D
    D = spectral_norm_(D) if top.get("spectral_norm", False) else D
    D = Packed(D, pack) if pack > 1 else D
    return ConditionalDiscriminator(D, k) if k and not pair.labelled else D


def build_models(model_cfg, shape, device, num_classes=None) -> tuple[nn.Module, nn.Module]:
    """G and D for the data's shape, on device."""
    G = build_generator(model_cfg, shape, num_classes)
    return G.to(device), build_discriminator(model_cfg, shape, num_classes).to(device)


def build_captioned(model_cfg, shape, device, digit_head: bool = False) -> tuple[nn.Module, nn.Module]:
    """StackGAN's G and D (models/stackgan.py) for the data's shape, on device; digit_head: D's
    digit classifier (method.digit_weight)."""
    pair, top = model_options(model_cfg)
    _kind(pair, model_cfg, translates=False, captioned=True)
    extras = ("conditional", "spectral_norm", "minibatch_std")
    if any(top.get(key) for key in extras) or top.get("pack", 1) > 1:
        raise ConfigError("model=stackgan takes no model.conditional, spectral_norm, pack or minibatch_std: "
                          "its G and D are conditioned on the caption")
    g = {**top["both"], **_net_options(pair, model_cfg, "g")}
    d = {**top["both"], **_net_options(pair, model_cfg, "d")}
    G = pair.G(shape=tuple(shape), z_dim=top["z_dim"], **g)
    return G.to(device), pair.D(shape=tuple(shape), z_dim=top["z_dim"], digit_head=digit_head, **d).to(device)


def build_translators(model_cfg, shape_a, shape_b, device) -> dict[str, nn.Module]:
    """G_AB: A -> B, G_BA: B -> A, and D_A, D_B judging images of A and of B, on device
    (spectral normalisation on both Ds when model.spectral_norm)."""
    pair, top = model_options(model_cfg)
    _kind(pair, model_cfg, translates=True)
    if top.get("conditional", False):
        raise ConfigError(f"model.conditional=true is not allowed with model={plain(model_cfg)['name']}: "
                          "translation networks take no class label")
    g, d = _net_options(pair, model_cfg, "g"), _net_options(pair, model_cfg, "d")
    a, b = tuple(shape_a), tuple(shape_b)
    nets = {"G_AB": pair.G(shape=a, out_channels=b[0], **g), "G_BA": pair.G(shape=b, out_channels=a[0], **g),
            "D_A": pair.D(shape=a, **d), "D_B": pair.D(shape=b, **d)}
    for name in ("D_A", "D_B"):
        nets[name] = spectral_norm_(nets[name]) if top.get("spectral_norm", False) else nets[name]
    return {name: net.to(device) for name, net in nets.items()}


def follow_step(nets: dict, step: int) -> dict:
    """Nets whose shape follows the training step (progan's phases) set it from `step`, a pure
    function of it so that resume is exact; returns their stats, e.g. {'progan_alpha': 0.5}."""
    stats = {}
    for module in (m for net in nets.values() for m in net.modules()):  # also inside conditional wrappers
        if hasattr(module, "follow_step"):
            stats.update(module.follow_step(step))
    return stats


def fade_reals(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Real images as D should see them at this step: a D with a fade-in (progan) blends two
    resolutions of the reals, as G's output is blended; other Ds take them as they are."""
    for module in D.modules():  # also inside conditional wrappers
        if hasattr(module, "fade_real"):
            x = module.fade_real(x)
    return x


def schedule_tags(nets: dict) -> dict:
    """TensorBoard tags of follow_step's stats (e.g. progan_alpha -> progan/alpha)."""
    modules = (m for net in nets.values() for m in net.modules())
    return {k: v for m in modules for k, v in getattr(m, "schedule_tags", {}).items()}


def check_q_head(q_cfg, key: str = "method.q") -> dict:
    """InfoGAN's Q head options, checked against InfoDiscriminator's annotated signature."""
    return check_options(InfoDiscriminator, plain(q_cfg), key, skip=("self", "D", "outputs"))


def build_info_models(model_cfg, shape, device, code_dim: int, q_outputs: int, q_cfg=None):
    """InfoGAN's pair for model.name: G built for z_dim + code_dim inputs and fed [z, c]; D
    (unconditional, spectral norm as configured) with the Q head of q_outputs numbers on its body."""
    pair, top = model_options(model_cfg)
    _kind(pair, model_cfg, translates=False)
    opts = {**top["both"], **_net_options(pair, model_cfg, "g")}
    G = pair.G(shape=tuple(shape), z_dim=top["z_dim"] + code_dim, **opts)
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
