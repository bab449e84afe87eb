"""Training-health diagnostics and the end-of-run verdict.

The slides' failure modes, as rules over the diagnostics logged every log interval
(and the final metrics, where there are any). Each finding is sustained evidence:
it holds for the last STREAK share of the logged steps, and `began` is the first
step of that trailing streak.

- diverged: a loss became NaN or Inf (the loop stops there).
- D overpowering G: D(G(z)) < 0.05 and D rejects > 95% of fakes.
- generator gradient vanishing: G's gradient norm fell below 1% of its first logged
  value while D(G(z)) < 0.1 (the saturating regime of the minimax loss).
- mode collapse suspected: fakes are much less diverse than real data (pairwise-distance
  ratio < 0.25), or the final metrics miss many modes/classes (< 50% of 2D modes,
  < 70% of classes).
"""

import torch

STREAK = 0.25          # share of the logged steps (at least 3 logs) a condition must hold at the end
DOMINANT_D_FAKE = 0.05
VANISH_RATIO = 0.01
COLLAPSE_DIVERSITY = 0.25


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
    return history[-run]["step"] if run >= need else None


def _finding(name, began, evidence):
    return {"verdict": name, "began": began, "evidence": evidence}


def verdict(history: list[dict], evals: list[dict], diverged_at: int | None = None,
            num_modes: int | None = None, num_classes: int | None = None,
            streak_min: int = 3, critic: bool = False) -> list[dict]:
    """Findings from the diagnostics (history) and metrics (evals); 'healthy' when none.
    streak_min=1 judges a single snapshot (gan eval), which cannot show a vanishing gradient.
    For critic losses D(G(z)) is a raw score, not a probability: only the collapse rule applies."""
    if diverged_at is not None:
        return [_finding("diverged", diverged_at, "a loss or a weight became NaN or Inf; training stopped")]
    if critic:
        return _collapse(history, evals, num_modes, num_classes, streak_min) or \
            [_finding("healthy", None, "no failure mode detected (critic loss: collapse rule only)")]
    found = []
    last = history[-1] if history else {}
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
    found += _collapse(history, evals, num_modes, num_classes, streak_min)
    return found or [_finding("healthy", None, "no failure mode detected")]


def _collapse(history, evals, num_modes, num_classes, streak_min) -> list[dict]:
    """Low sample diversity, or final metrics that miss modes or classes."""
    evidence, starts = [], []
    began = _trailing(history, lambda e: e["diversity"] < COLLAPSE_DIVERSITY, streak_min)
    if began is not None:
        evidence.append(f"sample diversity {history[-1]['diversity']:.3f} of the data's")
        starts.append(began)
    for key, total, share, what in (("modes_captured", num_modes, 0.5, "modes captured"),
                                    ("classes_covered", num_classes, 0.7, "classes covered")):
        if total and evals and key in evals[-1]:
            began = _trailing(evals, lambda e, k=key, n=total, s=share: e[k] < s * n, streak_min=1)
            if began is not None:
                hq = evals[-1].get("high_quality_pct")
                evidence.append(f"{evals[-1][key]} of {total} {what}"
                                + (f" ({hq:.1f}% high-quality samples)" if hq is not None else ""))
                starts.append(began)
    if not evidence:
        return []
    return [_finding("mode collapse suspected", min(starts), "; ".join(evidence))]


def print_verdict(findings: list[dict]) -> None:
    """The verdict as a rich table on the console."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Training health")
    for column in ("verdict", "began at step", "evidence"):
        table.add_column(column)
    for f in findings:
        style = "green" if f["verdict"] == "healthy" else "red"
        table.add_row(f"[{style}]{f['verdict']}[/]", "-" if f["began"] is None else str(f["began"]),
                      f["evidence"])
    Console().print(table)
