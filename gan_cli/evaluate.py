"""Evaluation, as a library: generate samples, embed them and the real data, compute the chosen
metrics. `gan eval` is gan_cli/evaluate_cmd.py."""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_cli import metrics as M
from gan_cli.errors import ConfigError
from gan_cli.features import FeatureSpace, feature_space, split
from gan_cli.files import write_json
from gan_cli.models import class_labels
from gan_cli.readers import Data

log = logging.getLogger(__name__)
MIN_REFERENCE_ROWS = 6  # the k-NN metrics' minimum (k + 1 rows)


@dataclass
class Batch:
    """One evaluation's inputs: fakes and the real reference, in pixels and in the feature space."""
    fake: torch.Tensor
    real: torch.Tensor
    real_feats: torch.Tensor | None
    fake_feats: torch.Tensor | None
    space: FeatureSpace | None
    data: Data
    more: Callable[[int], torch.Tensor]  # more(n): n further fakes, for counts that need many
    p: str = ""                          # the feature space's prefix: classifier_ or plane_
    codes: torch.Tensor | None = None    # (N,) each fake's first categorical code (InfoGAN), else None


@dataclass(frozen=True)
class Metric:
    keys: tuple[str, ...]                            # result keys; "{p}" is the feature-space prefix
    compute: Callable[[Batch], dict]
    why_not: Callable[[Data], str | None] = lambda data: None   # None: applies to this data
    codes: bool = False                              # reads G's categorical codes: method=infogan only


UNLABELLED = ("needs labelled images for its classifier feature space, and an image folder has no labels; "
              "Inception FID needs none: eval.metrics=[fid_inception], once its weights are on disk")


def _space_needed(data: Data) -> str | None:
    if data.is_image and data.labels is None:
        return UNLABELLED
    return None


def _classes(b: Batch) -> dict:
    """Class (or stacked-digit mode) counts as the classifier reads them; data.meta["mode_samples"]
    asks for a larger sample than the other metrics (Stacked MNIST: 26,000)."""
    n = b.data.meta.get("mode_samples")
    fake = b.more(n) if n else b.fake
    return M.class_coverage(b.space.classify(fake), b.data.num_classes)


def _code_accuracy(b: Batch) -> dict:
    """The classifier's reading of each fake against its categorical code, best matching."""
    classes = b.space.classify(b.fake)
    return {"code_accuracy": M.code_accuracy(b.codes, classes, int(b.codes.max()) + 1, b.data.num_classes)}


def _one_class_per_code(data: Data) -> str | None:
    if "digits" in data.meta:
        return "matches one class per code value; Stacked MNIST's 1,000 labels are digit triples"
    return _space_needed(data) or (None if data.is_image else "applies to labelled images")


def _inception(b: Batch) -> dict:
    from gan_cli.inception import inception_fid
    return {"fid_inception": inception_fid(b.real, b.fake)}


# eval.metrics name -> the metric: one dict, like the losses
METRICS = {
    "fid": Metric(("{p}_fid",), lambda b: {f"{b.p}_fid": M.fid(b.real_feats, b.fake_feats)}, _space_needed),
    "kid": Metric(("{p}_kid",), lambda b: {f"{b.p}_kid": M.kid(b.real_feats, b.fake_feats)}, _space_needed),
    "precision_recall": Metric(("precision", "recall"),
                               lambda b: M.precision_recall(b.real_feats, b.fake_feats, k=3), _space_needed),
    "density_coverage": Metric(("density", "coverage"),
                               lambda b: M.density_coverage(b.real_feats, b.fake_feats, k=5), _space_needed),
    "classes": Metric(("classes_covered", "classes_hit", "class_kl"), _classes,
                      lambda d: _space_needed(d) or (None if d.is_image else "applies to labelled images")),
    "modes": Metric(("modes_captured", "modes_hit", "high_quality_pct", "modes_kl", "mode_score"),
                    lambda b: M.mixture_modes(b.fake, b.data.meta["centres"], b.data.meta["std"]),
                    lambda d: None if not d.is_image else "applies to the 2D mixtures"),
    "fid_inception": Metric(("fid_inception",), _inception,
                            lambda d: None if d.is_image else "applies to images"),
    "code_accuracy": Metric(("code_accuracy",), _code_accuracy, _one_class_per_code, codes=True),
}
AUTO = {"images": ("fid", "kid", "precision_recall", "density_coverage", "classes"),
        "points": ("fid", "kid", "precision_recall", "density_coverage", "modes")}


def choose_metrics(requested, data: Data, codes: bool = False) -> list[str]:
    """Resolve eval.metrics (auto or a list) for this data; a one-line error for what can't apply.
    codes: G has categorical codes (method=infogan), so code_accuracy can apply."""
    if requested == "auto":
        if data.is_image and data.labels is None:  # no offline feature space: say so once, at the start
            from gan_cli.inception import where_weights_go
            log.warning(f"No metric applies offline to {data.source}: it has no labels for a classifier "
                        f"feature space. For Inception FID, eval.metrics=[fid_inception] and "
                        f"{where_weights_go()}")
            return []
        extra = ["code_accuracy"] if codes and not METRICS["code_accuracy"].why_not(data) else []
        return list(AUTO["images" if data.is_image else "points"]) + extra
    names = list(requested)
    for name in names:
        if name not in METRICS:
            raise ConfigError(f"eval.metrics: '{name}' is not allowed: auto or a list of "
                              f"{', '.join(METRICS)}")
        why = "reads G's categorical codes: method=infogan only" if METRICS[name].codes and not codes \
            else METRICS[name].why_not(data)
        if why:
            raise ConfigError(f"eval.metrics: '{name}' does not apply to {data.source}: it {why}")
    if "fid_inception" in names:
        from gan_cli.inception import require_inception
        require_inception()  # fail at once offline, not after training
    return names


@torch.no_grad()
def generate(G, n: int, seed: int, batch: int = 500) -> torch.Tensor:
    """n samples from fixed noise (seeded), in eval mode; G's mode is restored afterwards."""
    device = next(G.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    was_training = G.training
    G.eval()
    z = torch.randn(n, G.z_dim, device=device, generator=gen)
    y = class_labels(G, n, device)  # conditional: the classes in equal shares
    out = torch.cat([G(z[i:i + batch], None if y is None else y[i:i + batch])
                     for i in range(0, n, batch)])
    G.train(was_training)
    return out


def _prefix(space: FeatureSpace) -> str:
    return "classifier" if space.classify is not None else "plane"


def result_keys(names, prefix: str) -> list[str]:
    """The keys that the evaluator returns for these metric names."""
    return [k.format(p=prefix) for name in names for k in METRICS[name].keys]


def make_scorer(data: Data, eval_cfg, cache_dir, codes: bool = False):
    """A function (fake, more, fake_codes) -> metrics dict, with the real reference embedded once,
    and the settings, which hold `real_reference`: the same metrics for a second, disjoint real
    sample of the same size (the floor the health verdict's thresholds are relative to).
    codes: G has categorical codes (InfoGAN), for code_accuracy. Returns (fn, settings)."""
    names = choose_metrics(eval_cfg.metrics, data, codes)
    if not names:
        return None, {"metrics": []}
    needs_space = any(n != "fid_inception" for n in names)
    space = feature_space(data, cache_dir, eval_cfg.classifier_epochs) if needs_space else None
    train_idx, _ = split(len(data.x))
    ref = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(1))]
    n = int(eval_cfg.n_samples)
    real = data.batch(ref[:n].to(data.x.device))
    real_feats = space.embed(real).cpu() if space else None
    p = _prefix(space) if space else ""
    settings = {"metrics": names, "n_fake": n, "n_real": len(real),
                "feature_space": space.name if space else "inception (2048-d)",
                "reference": "random rows of the training split (classifier held-out split excluded)",
                "pr_k": 3, "dc_k": 5, "keys": result_keys(names, p),
                **({"classifier": space.info} if space and space.info else {})}

    def score(fake, more, fake_codes=None) -> dict:  # metrics of codes only where there are codes
        batch = Batch(fake, real, real_feats, space.embed(fake).cpu() if space else None, space, data,
                      more=more, p=p, codes=fake_codes)
        names_here = [m for m in names if fake_codes is not None or not METRICS[m].codes]
        return {k: v for name in names_here for k, v in METRICS[name].compute(batch).items()}
    settings["real_reference"] = _real_reference(score, data, ref[n:2 * n], names, settings, cache_dir)
    return score, settings


def _real_reference(score, data: Data, rows, names, settings, cache_dir) -> dict:
    """The metrics of a second real sample (rows, disjoint from the reference), as if it were G's;
    cached beside the feature classifier for image data (where embedding it costs seconds)."""
    if len(rows) < MIN_REFERENCE_ROWS:
        return {}
    key = json.dumps([data.source, list(data.shape), len(rows), names, settings.get("classifier")],
                     sort_keys=True, default=str)
    path = Path(str(cache_dir)) / f"real_reference_{hashlib.sha1(key.encode()).hexdigest()[:12]}.json"
    if data.is_image and path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as e:  # truncated: measure again and rewrite it
            log.warning(f"The real-data reference cache {path} could not be read ({type(e).__name__}): "
                        "measuring it again and rewriting the file")

    def more(n):  # further real samples (Stacked MNIST's 26,000 for the mode count)
        return data.batch(torch.randperm(len(data.x), generator=torch.Generator().manual_seed(2))[:n]
                          .to(data.x.device))
    values = {**score(data.batch(rows.to(data.x.device)), more), "n": len(rows)}
    if data.is_image:
        write_json(path, values)
    return values


def draw_plain(G, n: int, seed: int) -> tuple[torch.Tensor, None]:
    """n samples of G from seeded noise, and no codes."""
    return generate(G, n, seed), None


def make_evaluator(data: Data, eval_cfg, cache_dir, draw=draw_plain, codes: bool = False):
    """A function G -> metrics dict (make_scorer on G's samples). Returns (fn, settings).
    draw(G, n, seed) -> (fakes, each fake's categorical code or None); codes: draw gives codes."""
    score, settings = make_scorer(data, eval_cfg, cache_dir, codes)
    if score is None:
        return None, settings

    def evaluate(G, seed: int = 0) -> dict:
        fake, fake_codes = draw(G, settings["n_fake"], seed)
        return score(fake, lambda n: draw(G, n, seed + 1)[0], fake_codes)
    return evaluate, settings


@torch.no_grad()
def snapshot_diagnostics(G, D, data: Data, n: int = 256, seed: int = 0, critic: bool = False,
                         draw=draw_plain) -> dict:
    """D's view of real and generated batches and the sample diversity, from one checkpoint."""
    from gan_cli.health import diversity

    idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:n].to(data.x.device)
    real, fake = data.batch(idx), draw(G, n, seed)[0]
    conditional = G.conditional
    D.eval()
    real_logits = D(real, data.labels[idx] if conditional else None)
    fake_logits = D(fake, class_labels(G, n, fake.device))
    summary = (lambda s: s.mean().item()) if critic else (lambda s: torch.sigmoid(s).mean().item())
    return {"step": 0, "D_real": summary(real_logits), "D_fake": summary(fake_logits),
            "D_acc_real": (real_logits > 0).float().mean().item(),
            "D_acc_fake": (fake_logits < 0).float().mean().item(),
            "diversity": diversity(fake, real)}


def print_metrics(metrics: dict, settings: dict) -> None:
    """The figures and how they were measured, as a rich table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Metrics ({settings.get('feature_space', 'none')}, "
                        f"{settings.get('n_fake', 0)} generated vs {settings.get('n_real', 0)} real)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else str(value))
    if "classifier" in settings:
        accuracy = settings["classifier"]["accuracy"]
        table.caption = f"feature classifier held-out accuracy {100 * accuracy:.2f}%"
    Console().print(table)
