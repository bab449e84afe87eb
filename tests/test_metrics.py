"""Metrics on constructed sets with known answers."""

import math

import pytest
import torch

from gan_cli import metrics as M
from gan_cli.data import mixture_centres


def gaussian(n, mean, std, dim=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=gen, dtype=torch.float64) * torch.tensor(std) + torch.tensor(mean)


def test_fid_of_a_set_with_itself_is_zero():
    x = gaussian(500, [0.0] * 4, [1.0] * 4)
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_fid_matches_closed_form_for_gaussians():
    # Diagonal covariances: FID = |mu1 - mu2|^2 + sum(s1 + s2 - 2 sqrt(s1 s2)) over variances s.
    mu1, mu2 = [0.0, 1.0, 0.0, 2.0], [1.0, 1.0, -1.0, 0.0]
    sd1, sd2 = [1.0, 2.0, 0.5, 1.0], [2.0, 1.0, 0.5, 3.0]
    closed = sum((a - b) ** 2 for a, b in zip(mu1, mu2)) + sum(
        a * a + b * b - 2 * a * b for a, b in zip(sd1, sd2))
    estimate = M.fid(gaussian(200_000, mu1, sd1, seed=1), gaussian(200_000, mu2, sd2, seed=2))
    assert closed == pytest.approx(6.0 + 6.0)  # means: 1 + 0 + 1 + 4; std terms: 1 + 1 + 0 + 4
    assert estimate == pytest.approx(closed, rel=0.01)


def test_fid_finite_and_real_for_singular_covariances():
    # 64-d features living on a 3-d subspace: both covariances are singular.
    gen = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 64, generator=gen)
    a = torch.randn(100, 3, generator=gen) @ basis
    b = torch.randn(100, 3, generator=gen) @ basis + 1e-9
    value = M.fid(a, b)
    assert isinstance(value, float) and math.isfinite(value) and value >= 0
    assert M.fid(a, a) == pytest.approx(0.0, abs=1e-6)


def test_kid_is_unbiased_near_zero_for_same_distribution():
    a, b = gaussian(400, [0.0] * 4, [1.0] * 4, seed=3), gaussian(400, [0.0] * 4, [1.0] * 4, seed=4)
    c = gaussian(400, [1.0] * 4, [1.0] * 4, seed=5)
    same, shifted = M.kid(a, b, subset_size=200), M.kid(a, c, subset_size=200)
    assert shifted > 5 and abs(same) < 0.01 * shifted
    # Unbiased: over many pairs of tiny samples (n = 10) the mean is ~0, not a positive bias.
    draws = torch.tensor([M.kid(gaussian(10, [0.0] * 4, [1.0] * 4, seed=2 * i),
                                gaussian(10, [0.0] * 4, [1.0] * 4, seed=2 * i + 1), subsets=1)
                          for i in range(200)])
    assert abs(draws.mean()) < 3 * draws.std() / math.sqrt(len(draws))


def test_precision_recall_on_constructed_sets():
    real = gaussian(300, [0.0] * 2, [1.0] * 2, dim=2, seed=0)
    far = gaussian(300, [50.0] * 2, [1.0] * 2, dim=2, seed=1)
    assert M.precision_recall(real, far) == {"precision": 0.0, "recall": 0.0}
    # Half the fakes on the data, half far away: precision 1/2; they cover the data: recall ~ 1.
    half = torch.cat([real[:150] + 1e-3, far[:150]])
    pr = M.precision_recall(real, half)
    assert pr["precision"] == pytest.approx(0.5)
    assert pr["recall"] > 0.9
    # All fakes on one real point: precise, but recall tiny (mode collapse).
    collapsed = real[:1].repeat(300, 1)
    pr = M.precision_recall(real, collapsed)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.05


def test_density_and_coverage_on_constructed_sets():
    real = gaussian(300, [0.0] * 2, [1.0] * 2, dim=2, seed=0)
    dc = M.density_coverage(real, real.clone())
    assert dc["coverage"] == 1.0 and dc["density"] > 0.9  # each point sits in about k balls / k
    far = gaussian(300, [50.0] * 2, [1.0] * 2, dim=2, seed=1)
    assert M.density_coverage(real, far) == {"density": 0.0, "coverage": 0.0}
    collapsed = M.density_coverage(real, real[:1].repeat(300, 1))
    assert collapsed["coverage"] < 0.05


def test_mixture_modes_on_three_of_eight():
    from omegaconf import OmegaConf
    cfg = OmegaConf.create({"name": "ring8", "radius": 2.0, "std": 0.02})
    centres = mixture_centres(cfg)
    gen = torch.Generator().manual_seed(0)
    on_three = centres[torch.tensor([0, 3, 5]).repeat(100)] + 0.005 * torch.randn(300, 2, generator=gen)
    off = torch.zeros(100, 2)  # the circle's centre: 2.0 from every mode, far beyond 3 std
    result = M.mixture_modes(torch.cat([on_three, off]), centres, std=0.02)
    assert result["modes_captured"] == result["modes_hit"] == 3
    assert result["high_quality_pct"] == pytest.approx(75.0)  # noise 0.005 is far inside 3 std = 0.06
    # One stray high-quality sample on mode 6: hit by the papers' rule (>= 1), not captured by
    # the project's (>= 10% of a fair share of the 301 high-quality samples: 301 / 8 / 10 = 3.8).
    stray = M.mixture_modes(torch.cat([on_three, off, centres[6:7]]), centres, std=0.02)
    assert (stray["modes_captured"], stray["modes_hit"]) == (3, 4)
    # PacGAN's reverse KL of the high-quality mode histogram: 3 equal modes of 8 -> log(8 / 3).
    assert result["modes_kl"] == pytest.approx(math.log(8 / 3))
    assert result["mode_score"] == pytest.approx(0.75 * 3 / 8)  # HQ share x exp(-KL)


def test_mixture_modes_with_no_high_quality_sample():
    from omegaconf import OmegaConf
    centres = mixture_centres(OmegaConf.create({"name": "ring8", "radius": 2.0, "std": 0.02}))
    result = M.mixture_modes(torch.zeros(10, 2), centres, std=0.02)
    assert result["modes_captured"] == result["modes_hit"] == 0 and result["mode_score"] == 0.0
    assert result["modes_kl"] == pytest.approx(math.log(8))  # as bad as one mode taking all


def test_class_coverage_counts_and_kl():
    uniform = torch.arange(10).repeat(50)
    assert M.class_coverage(uniform, 10) == {"classes_covered": 10, "classes_hit": 10,
                                             "class_kl": pytest.approx(0.0)}
    one = torch.full((500,), 7)
    result = M.class_coverage(one, 10)
    assert result["classes_covered"] == result["classes_hit"] == 1
    assert result["class_kl"] == pytest.approx(math.log(10))
    # 499 samples of class 7 and one of class 2: class 2 is hit, but far below 10% of a fair share
    result = M.class_coverage(torch.cat([torch.full((499,), 7), torch.tensor([2])]), 10)
    assert (result["classes_covered"], result["classes_hit"]) == (1, 2)
