"""Evaluation, as a library: generate samples, embed them and the real data, compute the chosen
metrics. `gan eval` is gan_cli/evaluate_cmd.py."""

import torch

from gan_cli import metrics as M
from gan_cli.config import ConfigError
from gan_cli.data import Data
from gan_cli.features import FeatureSpace, feature_space, split
from gan_cli.models import class_labels

IMAGE_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "classes")
POINT_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "modes")
ALL_METRICS = IMAGE_METRICS + ("modes", "fid_inception")


def choose_metrics(requested, data: Data) -> list[str]:
    """Resolve eval.metrics (auto or a list) for this data; a one-line error for what can't apply."""
    if requested == "auto":
        if data.is_image and data.labels is None:
            return []  # unlabelled images: no offline feature space (fid_inception only by request)
        return list(IMAGE_METRICS if data.is_image else POINT_METRICS)
    names = list(requested)
    if "fid_inception" in names:
        from gan_cli.inception import require_inception
        require_inception()  # fail at once offline, not after training
    for name in names:
        if name not in ALL_METRICS:
            raise ConfigError(f"eval.metrics: '{name}' is not allowed: auto or a list of "
                              f"{', '.join(ALL_METRICS)}")
        if name == "modes" and data.is_image or name == "classes" and not data.is_image:
            raise ConfigError(f"eval.metrics: '{name}' does not apply to {data.source}")
        if name != "fid_inception" and data.is_image and data.labels is None:
            raise ConfigError(f"eval.metrics: '{name}' needs labelled images for its classifier "
                              "feature space; for an image folder only fid_inception applies")
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
    """The keys that compute() returns for these metric names."""
    keys = {"fid": [f"{prefix}_fid"], "kid": [f"{prefix}_kid"], "precision_recall": ["precision", "recall"],
            "density_coverage": ["density", "coverage"], "classes": ["classes_covered", "class_kl"],
            "modes": ["modes_captured", "high_quality_pct"], "fid_inception": ["fid_inception"]}
    return [k for name in names for k in keys[name]]


def compute(names, fake, real, real_feats, space: FeatureSpace, data: Data) -> dict:
    """Every requested metric for one batch of fakes against the real reference."""
    out, fake_feats = {}, (space.embed(fake).cpu() if space else None)
    p = _prefix(space) if space else ""
    for name in names:
        if name == "fid":
            out[f"{p}_fid"] = M.fid(real_feats, fake_feats)
        elif name == "kid":
            out[f"{p}_kid"] = M.kid(real_feats, fake_feats)
        elif name == "precision_recall":
            out.update(M.precision_recall(real_feats, fake_feats, k=3))
        elif name == "density_coverage":
            out.update(M.density_coverage(real_feats, fake_feats, k=5))
        elif name == "classes":
            out.update(M.class_coverage(space.classify(fake), data.num_classes))
        elif name == "modes":
            out.update(M.mixture_modes(fake, data.meta["centres"], data.meta["std"]))
        elif name == "fid_inception":
            from gan_cli.inception import inception_fid
            out["fid_inception"] = inception_fid(real, fake)
    return out


def make_evaluator(data: Data, eval_cfg, cache_dir):
    """A function G -> metrics dict, with the real reference embedded once. Returns (fn, settings)."""
    names = choose_metrics(eval_cfg.metrics, data)
    if not names:
        return None, {"metrics": []}
    needs_space = any(n != "fid_inception" for n in names)
    space = feature_space(data, cache_dir, eval_cfg.classifier_epochs) if needs_space else None
    train_idx, _ = split(len(data.x))
    ref = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(1))]
    real = data.batch(ref[: eval_cfg.n_samples].to(data.x.device))
    real_feats = space.embed(real).cpu() if space else None
    settings = {"metrics": names, "n_fake": int(eval_cfg.n_samples), "n_real": len(real),
                "feature_space": space.name if space else "inception (2048-d)",
                "reference": "random rows of the training split (classifier held-out split excluded)",
                "pr_k": 3, "dc_k": 5, "keys": result_keys(names, _prefix(space) if space else ""),
                **({"classifier": space.info} if space and space.info else {})}

    def evaluate(G, seed: int = 0) -> dict:
        return compute(names, generate(G, eval_cfg.n_samples, seed), real, real_feats, space, data)
    return evaluate, settings


@torch.no_grad()
def snapshot_diagnostics(G, D, data: Data, n: int = 256, seed: int = 0, critic: bool = False) -> dict:
    """D's view of real and generated batches and the sample diversity, from one checkpoint."""
    from gan_cli.health import diversity

    idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:n].to(data.x.device)
    real, fake = data.batch(idx), generate(G, n, seed)
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
