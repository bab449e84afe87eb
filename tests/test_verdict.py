"""The verdict names the failure that happened: constructed sample sets scored against real data."""

import math

import pytest
import torch
from omegaconf import OmegaConf

from gan_cli.data import load_data
from gan_cli.evaluate import make_scorer
from gan_cli.health import diversity, verdict


def names(findings):
    return [f["verdict"] for f in findings]


@pytest.fixture(scope="module")
def ring():
    return _mixture("ring8", radius=2.0, std=0.02)


@pytest.fixture(scope="module")
def grid():
    return _mixture("grid25", spacing=2.0, std=0.05)


def _mixture(name, **options):
    data = load_data(OmegaConf.create({"name": name, "n_points": 20000, "data_seed": 1234, **options}), "cpu")
    score, settings = make_scorer(data, OmegaConf.create({"metrics": "auto", "n_samples": 1000,
                                                          "classifier_epochs": 1}), "unused")
    return data, score, settings["real_reference"]


def judge(mixture, fake):
    """The verdict of one snapshot of samples `fake`, as `gan eval` would give it."""
    data, score, reference = mixture
    metrics = score(fake, None)
    snap = {"step": 0, "D_fake": 0.5, "D_acc_fake": 0.5, "diversity": diversity(fake, data.x[:256])}
    return verdict([snap], [{"step": 0, **metrics}], streak_min=1, reference=reference), metrics


def noise(n, seed=0):
    return torch.randn(n, 2, generator=torch.Generator().manual_seed(seed))


def test_real_reference_is_the_data_scored_like_the_fakes(ring):
    reference = ring[2]
    assert reference["n"] == 1000 and reference["modes_captured"] == 8
    assert 97.5 < reference["high_quality_pct"] <= 100  # 2D Gaussian within 3 std: 1 - e^-4.5 = 98.9%
    assert reference["precision"] > 0.9 and reference["recall"] > 0.9


def test_ring_spread_along_the_circle_is_low_quality_not_collapse(ring):
    angle = torch.rand(1000, generator=torch.Generator().manual_seed(1)) * 2 * math.pi
    radius = 2.0 + 0.02 * noise(1000)[:, 0]
    found, metrics = judge(ring, torch.stack([radius * angle.cos(), radius * angle.sin()], 1))
    assert metrics["modes_hit"] == 8 and metrics["high_quality_pct"] < 15
    assert names(found) == ["low sample quality"], found
    assert "high-quality" in found[0]["evidence"] and "precision" in found[0]["evidence"]


def test_ring_collapsed_onto_two_modes_is_mode_collapse(ring):
    centres = ring[0].meta["centres"]
    found, metrics = judge(ring, centres[torch.tensor([0, 4]).repeat(500)] + 0.02 * noise(1000))
    assert metrics["modes_captured"] == 2 and metrics["modes_kl"] == pytest.approx(math.log(4), abs=0.01)
    assert names(found) == ["mode collapse suspected"], found
    assert "modes captured 2 (real data 8)" in found[0]["evidence"]


def test_samples_on_the_centres_are_healthy(ring):
    centres = ring[0].meta["centres"]
    pick = torch.randint(8, (1000,), generator=torch.Generator().manual_seed(2))
    found, metrics = judge(ring, centres[pick] + 0.02 * noise(1000))
    assert names(found) == ["healthy"], found
    assert metrics["mode_score"] > 0.95


def test_grid_outer_frame_only_is_collapse_not_healthy(grid):
    """16 of 25 modes, every sample clean: the rule compares with the data's own 25, not half."""
    centres = grid[0].meta["centres"]
    frame = torch.tensor([i for i, c in enumerate(centres.tolist()) if max(abs(c[0]), abs(c[1])) > 3])
    assert len(frame) == 16
    found, metrics = judge(grid, centres[frame.repeat(63)[:1000]] + 0.05 * noise(1000))
    assert metrics["modes_captured"] == 16 and metrics["high_quality_pct"] > 95
    assert names(found) == ["mode collapse suspected"], found


def test_image_rules_read_fid_and_recall_against_the_real_floor():
    """A 300-step MNIST run with classifier FID 822 and recall 0.001 is not healthy."""
    reference = {"classifier_fid": 3.0, "precision": 0.9, "recall": 0.9, "classes_covered": 10}
    bad = {"step": 300, "classifier_fid": 822.0, "precision": 0.85, "recall": 0.001, "classes_covered": 10}
    found = verdict([], [bad], num_classes=10, reference=reference, streak_min=1)
    assert names(found) == ["mode collapse suspected", "low sample quality"]
    good = {**bad, "classifier_fid": 20.0, "recall": 0.8}
    assert names(verdict([], [good], num_classes=10, reference=reference, streak_min=1)) == ["healthy"]


def test_without_metrics_the_verdict_says_what_it_could_not_judge():
    history = [{"step": s, "D_fake": 0.4, "D_acc_fake": 0.6, "grad_norm_g": 1.0, "diversity": 1.0}
               for s in range(10, 101, 10)]
    found = verdict(history, [])
    assert names(found) == ["not judged"] and "quality and coverage" in found[0]["evidence"]


def test_metrics_still_improving_at_the_end_are_not_converged():
    reference = {"mode_score": 0.99, "modes_captured": 8}
    evals = [{"step": 500, "mode_score": 0.5, "modes_captured": 8},
             {"step": 1000, "mode_score": 0.8, "modes_captured": 8}]
    found = verdict([], evals, reference=reference, streak_min=1)
    assert names(found) == ["not yet converged"] and found[0]["began"] == 500
    evals[0]["mode_score"] = 0.79  # flat at the end: converged
    assert names(verdict([], evals, reference=reference, streak_min=1)) == ["healthy"]
