"""Training-health diagnostics and the end-of-run verdict.

Separate findings, each from its own evidence. The metric rules compare G's figures with a
real-data reference measured the same way: a second, disjoint real sample of the same size scored
by the same metrics (evaluate.py's `real_reference`). The training-signal rules read the
diagnostics logged every log interval, G's gradient norm always from the trained G (never its
moving average). A training-signal finding must hold for the trailing STREAK share of the logged
steps (at least 3 logs); a metric finding for the trailing STREAK share of the evaluations.

- diverged: a loss became NaN or Inf (the loop stops there).
- mode collapse suspected: fewer modes captured or classes covered than the real sample's own
  count, recall below RECALL_SHARE of the real sample's, or sample diversity below
  COLLAPSE_DIVERSITY of the data's.
- low sample quality: high-quality share below QUALITY_SHARE of the real sample's, precision
  below PRECISION_SHARE of the real sample's, or feature-space FID of images above FID_FACTOR
  times the real-vs-real FID. Plane FID is not read: one Gaussian fitted to a mixture rewards
  samples smeared between its modes.
- D overpowering G: D(G(z)) < 0.05 and D rejects > 95% of fakes.
- generator gradient vanishing: the trained G's gradient norm fell below 1% of its first logged
  value while D(G(z)) < 0.1 (the saturating regime of the minimax loss).
- not yet converged: the headline metric improved by more than IMPROVING between the last two
  evaluations.
- healthy: metrics exist and none of the above; without metrics, "not judged" says so.
"""

import math

import torch

STREAK = 0.25            # share of the logged steps (at least 3 logs) a condition must hold at the end
DOMINANT_D_FAKE = 0.05
VANISH_RATIO = 0.01
COLLAPSE_DIVERSITY = 0.25
RECALL_SHARE = 0.5       # recall < 0.5 x the real sample's
QUALITY_SHARE = 0.9      # high-quality share < 0.9 x the real sample's (ring8's real data: 98.9%)
PRECISION_SHARE = 0.75   # precision < 0.75 x the real sample's
FID_FACTOR = 10.0        # image feature-space FID > 10 x the real-vs-real FID
IMPROVING = 0.1          # headline better by > 10% between the last two evaluations
HEADLINE = (("classifier_fid", min), ("fid_inception", min), ("mode_score", max))

# metric -> (finding, direction, factor of the real sample's value, label): G's value is bad when
# below (or above) factor x the reference's
METRIC_RULES = {
    "modes_captured": ("mode collapse suspected", "below", 1.0, "modes captured"),
    "classes_covered": ("mode collapse suspected", "below", 1.0, "classes covered"),
    "recall": ("mode collapse suspected", "below", RECALL_SHARE, "recall"),
    "high_quality_pct": ("low sample quality", "below", QUALITY_SHARE, "% high-quality samples"),
    "precision": ("low sample quality", "below", PRECISION_SHARE, "precision"),
    "classifier_fid": ("low sample quality", "above", FID_FACTOR, "classifier FID"),
}


def grad_norm(module: torch.nn.Module) -> float:
    """L2 norm of all of module's parameter gradients (0 when there are none)."""
    norms = [p.grad.detach().norm() for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm().item() if norms else 0.0


def diversity(fake: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance among fakes over that among reals: ~1 as diverse as the data, ~0 collapsed."""
    def spread(x):
        x = x.flatten(1).double()
        return torch.pdist(x).mean().item()
    return spread(fake) / max(spread(real), 1e-12)


def _trailing(history: list[dict], cond, streak_min: int = 3) -> int | None:
    """Step where the trailing run of entries satisfying cond began, if it is long enough:
    at least streak_min entries and STREAK of them all."""
    need = max(streak_min, int(STREAK * len(history)))
    run = 0
    for entry in reversed(history):
        if not cond(entry):
            break
        run += 1
    return history[-run]["step"] if run >= need and run else None


def _finding(name, began, evidence):
    return {"verdict": name, "began": began, "evidence": evidence}


def verdict(history: list[dict], evals: list[dict], diverged_at: int | None = None,
            num_modes: int | None = None, num_classes: int | None = None,
            streak_min: int = 3, critic: bool = False, reference: dict | None = None) -> list[dict]:
    """Findings from the diagnostics (history), the metrics (evals) and the real-data reference
    (the same metrics on real samples; without one, only the data's mode and class counts).
    streak_min=1 judges a single snapshot (gan eval), which cannot show a vanishing gradient.
    For critic losses D(G(z)) is a raw score, not a probability: the D rules do not apply."""
    if diverged_at is not None:
        return [_finding("diverged", diverged_at, "a loss or a weight became NaN or Inf; training stopped")]
    reference = {**({"modes_captured": num_modes} if num_modes else {}),
                 **({"classes_covered": num_classes} if num_classes else {}), **(reference or {})}
    found = [] if critic else _signal_rules(history, streak_min)
    found += _metric_findings(history, evals, reference, streak_min)
    found += _converging(evals)
    if not evals:
        found.append(_finding("not judged", None, "no metrics (eval=off, or none apply to this data): "
                              "sample quality and coverage were not judged"
                              + ("" if found else "; the training signals show no failure")))
    return found or [_finding("healthy", None, "metrics within the thresholds of the real data's; "
                              "no failure in the training signals")]


def _signal_rules(history: list[dict], streak_min: int) -> list[dict]:
    """D overpowering G and a vanishing generator gradient, from the logged D outputs and G's
    gradient norm (the trained G's)."""
    found, last = [], history[-1] if history else {}
    began = _trailing(history, lambda e: e["D_fake"] < DOMINANT_D_FAKE and e["D_acc_fake"] > 0.95,
                      streak_min)
    if began is not None:
        found.append(_finding("D overpowering G", began,
                              f"D(G(z)) = {last['D_fake']:.4f}, D rejects {100 * last['D_acc_fake']:.1f}%"
                              " of fakes"))
    first_g = history[0].get("grad_norm_g", 0.0) if len(history) > 1 else 0.0  # needs a history
    began = first_g and _trailing(
        history, lambda e: e["grad_norm_g"] < VANISH_RATIO * first_g and e["D_fake"] < 0.1)
    if began:
        found.append(_finding("generator gradient vanishing", began,
                              f"|grad G| = {last['grad_norm_g']:.2e}, was {first_g:.2e} at the first log"))
    return found


def _bad(value, ref, direction: str, factor: float) -> bool:
    if not (math.isfinite(value) and math.isfinite(ref)):
        return False
    return value < factor * ref if direction == "below" else value > factor * ref


def _metric_findings(history, evals, reference: dict, streak_min: int) -> list[dict]:
    """Mode collapse and low sample quality from the metrics against the real reference (and the
    sample diversity, already relative to the data's)."""
    evidence: dict[str, list[str]] = {}
    starts: dict[str, list[int]] = {}
    began = _trailing(history, lambda e: e.get("diversity", 1.0) < COLLAPSE_DIVERSITY, streak_min)
    if began is not None:
        evidence["mode collapse suspected"] = [f"sample diversity {history[-1]['diversity']:.3f} of the "
                                               "data's"]
        starts["mode collapse suspected"] = [began]
    for key, (name, direction, factor, label) in METRIC_RULES.items():
        if not evals or key not in evals[-1] or key not in reference:
            continue
        ref = float(reference[key])
        began = _trailing(evals, lambda e, k=key, r=ref, d=direction, f=factor:
                          k in e and _bad(float(e[k]), r, d, f), streak_min=1)
        if began is not None:
            evidence.setdefault(name, []).append(f"{label} {evals[-1][key]:.4g} (real data {ref:.4g})")
            starts.setdefault(name, []).append(began)
    return [_finding(name, min(starts[name]), "; ".join(lines)) for name, lines in evidence.items()]


def _converging(evals: list[dict]) -> list[dict]:
    """The headline metric still improving by more than IMPROVING at the last evaluation."""
    if len(evals) < 2:
        return []
    key, better = next(((k, b) for k, b in HEADLINE if k in evals[-1] and k in evals[-2]), (None, None))
    if key is None:
        return []
    before, last = float(evals[-2][key]), float(evals[-1][key])
    gain = (before - last) / abs(before) if better is min else (last - before) / max(abs(before), 1e-12)
    if not (math.isfinite(gain) and gain > IMPROVING):
        return []
    return [_finding("not yet converged", evals[-2]["step"],
                     f"{key} went from {before:.4g} to {last:.4g} between the last two evaluations "
                     f"(steps {evals[-2]['step']} and {evals[-1]['step']}): more steps should help")]


def print_verdict(findings: list[dict]) -> None:
    """The verdict as a rich table on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Training health")
    for column in ("verdict", "began at step", "evidence"):
        table.add_column(column)
    for f in findings:
        style = "green" if f["verdict"] == "healthy" else "yellow" if f["verdict"] == "not judged" else "red"
        table.add_row(f"[{style}]{f['verdict']}[/]", "-" if f["began"] is None else str(f["began"]),
                      f["evidence"])
    Console().print(table)
