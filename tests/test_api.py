"""gan_cli.api: train, sample and evaluate from Python with the CLI's configs and checks."""

import json
import os

import pytest
from conftest import TINY

from gan_cli import api, cli
from gan_cli.cli import idle_cores
from gan_cli.errors import ConfigError

RING = ["data=ring8", "data.n_points=500", "model=mlp", "train.threads=1"]


def test_train_sample_evaluate_from_python(tmp_path, capfd):
    results = api.train(TINY + RING + ["eval=default", "eval.n_samples=50", "eval.every=0"], tmp_path / "run")
    assert results["status"] == "completed" and results["steps_done"] == 4
    assert json.loads((tmp_path / "run" / "results.json").read_text())["steps_done"] == 4
    assert "Run completed at step 4" in capfd.readouterr().out  # log lines reach the notebook
    paths = api.sample(tmp_path / "run", ["n=4", "seed=1"])
    assert paths and all(p.is_file() for p in paths) and any(p.suffix == ".png" for p in paths)
    metrics = api.evaluate(tmp_path / "run", ["eval.n_samples=50"])
    assert "modes_hit" in metrics["metrics"] and (tmp_path / "run" / "eval.json").is_file()
    assert api.config("train", ["data=ring8"]).model.name == "mlp"  # the recipe, as the CLI composes it


def test_bad_input_raises_the_clis_one_line_error(tmp_path):
    with pytest.raises(ConfigError, match="train.steps=0"):
        api.train(TINY + RING + ["train.steps=0"], tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_auto_threads_count_the_cores_idle_now(monkeypatch):
    """train.threads=auto outside a parallel launcher: as many torch threads as cores idle over a
    short sample of /proc/stat (a load average still counts work that just ended), at least 1."""
    samples = iter([(100, 200), (100 + 50, 200 + 100)])  # (idle, total): half idle over the window
    monkeypatch.setattr(cli, "cpu_times", lambda: next(samples))
    assert idle_cores(2, window=0) == 1
    samples = iter([(0, 0), (98, 100)] * 2)  # idle: a run that just ended does not count
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 0.0, 0.0))
    assert idle_cores(2, window=0) == 2 and idle_cores(8, window=0) == 8


def test_auto_threads_fall_back_on_the_load_average(monkeypatch):
    """Where /proc/stat is missing: the cores the 1-minute load average leaves idle, at least 1."""
    monkeypatch.setattr(cli, "cpu_times", lambda: None)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.1, 0.0, 0.0))
    assert idle_cores(2) == 1 and idle_cores(8) == 6
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.0, 0.0))
    assert idle_cores(2) == 2
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert idle_cores(2) == 1
