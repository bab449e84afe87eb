"""Diagnostics and the health verdict: collapse, divergence, D overpowering G, vanishing gradients."""

import json

import pytest
import torch
from conftest import TINY, compose_train, run_gan
from omegaconf import OmegaConf

from gan_cli.data import load_data
from gan_cli.evaluate import make_evaluator, snapshot_diagnostics
from gan_cli.health import diversity, grad_norm, verdict
from gan_cli.models import MLPDiscriminator, MLPGenerator
from gan_cli.run import train

RING = ["model=mlp", "data=ring8", "data.n_points=2000"]


def entry(step, **kw):
    base = {"step": step, "D_real": 0.6, "D_fake": 0.4, "D_acc_real": 0.6, "D_acc_fake": 0.6,
            "grad_norm_g": 1.0, "grad_norm_d": 1.0, "diversity": 1.0}
    return {**base, **kw}


def names(findings):
    return [f["verdict"] for f in findings]


def test_grad_norm_and_diversity():
    layer = torch.nn.Linear(2, 1)
    assert grad_norm(layer) == 0.0
    layer(torch.ones(1, 2)).sum().backward()
    assert grad_norm(layer) == pytest.approx(3 ** 0.5)  # d/dw = (1, 1), d/db = 1
    real = torch.randn(100, 2)
    assert diversity(real, real) == pytest.approx(1.0)
    assert diversity(torch.zeros(100, 2), real) == 0.0


def test_verdict_rules_on_constructed_histories():
    healthy = [entry(s) for s in range(50, 1001, 50)]
    assert names(verdict(healthy, [])) == ["not judged"]  # no metrics: never "healthy"
    judged = [{"step": 1000, "modes_captured": 8}]
    assert names(verdict(healthy, judged, num_modes=8)) == ["healthy"]
    strong_d = healthy[:10] + [entry(s, D_fake=0.01, D_acc_fake=1.0) for s in range(550, 1001, 50)]
    found = verdict(strong_d, judged, num_modes=8)
    assert names(found) == ["D overpowering G"] and found[0]["began"] == 550
    vanishing = healthy[:10] + [entry(s, D_fake=0.03, D_acc_fake=0.9, grad_norm_g=1e-4)
                                for s in range(550, 1001, 50)]
    found = verdict(vanishing, judged, num_modes=8)
    assert names(found) == ["generator gradient vanishing"] and found[0]["began"] == 550
    collapsed = healthy[:15] + [entry(s, diversity=0.05) for s in range(800, 1001, 50)]
    found = verdict(collapsed, judged, num_modes=8)
    assert names(found) == ["mode collapse suspected"] and found[0]["began"] == 800
    # A brief dip that recovers is not a verdict.
    dip = healthy[:5] + [entry(300, diversity=0.01)] + healthy[6:]
    assert names(verdict(dip, judged, num_modes=8)) == ["healthy"]


def test_generator_that_ignores_z_is_mode_collapse():
    data = load_data(OmegaConf.create({"name": "ring8", "n_points": 2000, "radius": 2.0, "std": 0.02,
                                       "data_seed": 0}), "cpu")
    G = MLPGenerator((2,), z_dim=2)
    torch.nn.init.zeros_(G.net[0].weight)  # the first layer drops z: every sample is the same point
    D = MLPDiscriminator((2,), z_dim=2)
    evaluate, _ = make_evaluator(data, OmegaConf.create({"metrics": "auto", "n_samples": 500,
                                                         "classifier_epochs": 1}), "unused")
    metrics = evaluate(G)
    snap = snapshot_diagnostics(G, D, data)
    assert snap["diversity"] < 1e-6 and metrics["modes_captured"] <= 1
    found = verdict([snap], [{"step": 0, **metrics}], num_modes=8, streak_min=1)
    assert names(found) == ["mode collapse suspected"]
    assert "diversity" in found[0]["evidence"] and "(real data 8)" in found[0]["evidence"]


def test_nan_run_stops_as_diverged(tmp_path):
    cfg = compose_train(TINY + RING + ["train.steps=40", "optim=sgd", "optim.g.lr=10", "train.log_every=1",
                                       "optim.d.lr=10", "train.ckpt_every=1"])
    results = train(cfg, tmp_path)
    assert results["status"] == "diverged" and results["steps_done"] < 40
    assert names(results["health"]) == ["diverged"]
    assert results["health"][0]["began"] == results["diverged_at"]
    ckpt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] < results["diverged_at"]  # the last good checkpoint, kept
    assert all(torch.isfinite(t).all() for t in ckpt["nets"]["G"].values())


def test_diverged_exit_code(tmp_path):
    args = [*TINY, *RING, "train.steps=40", "optim=sgd", "optim.g.lr=1e30", "optim.d.lr=1e30"]
    ok = run_gan("train", *args, f"hydra.run.dir={tmp_path / 'a'}")
    assert ok.returncode == 0, ok.stderr
    assert json.loads((tmp_path / "a" / "results.json").read_text())["status"] == "diverged"
    strict = run_gan("train", *args, "train.diverged_exit_code=3", f"hydra.run.dir={tmp_path / 'b'}")
    assert strict.returncode == 3


@pytest.mark.slow
def test_ring8_recipe_run_is_healthy(tmp_path):
    """`gan train data=ring8` with nothing else (the recipe): all 8 modes, judged healthy."""
    results = train(compose_train(["data=ring8", "train.progress=log", "device=cpu"]), tmp_path)
    assert results["status"] == "completed"
    assert names(results["health"]) == ["healthy"], results["health"]
    assert results["metrics"]["modes_captured"] == 8 and results["metrics"]["high_quality_pct"] > 90


def test_gradient_diagnostic_reads_the_trained_G_under_ema(tmp_path):
    """With train.ema on, samples come from the average, but G's gradient norm is the trained
    G's: the average never gets a gradient, so reading it would make 'vanishing' always fire."""
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
    train(compose_train(TINY + RING + ["train.ema=0.9"]), tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0})
    acc.Reload()
    assert all(e.value > 0 for e in acc.Scalars("diag/grad_norm_g"))
