"""Multirun sweeps: failures are recorded, the sweep goes on, and it says how it went."""

import json

from conftest import run_gan


def test_sweep_records_failed_and_diverged_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", "model=mlp", "data=ring8", "data.n_points=500", "train.steps=20",
                     "train.log_every=1", "train.batch_size=16", "train.progress=log", "eval=off",
                     "optim=sgd", "optim.g.lr=0.01", "optim.d.lr=0.01,-1,1e30", "device=cpu",
                     f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    statuses = [json.loads((sweep / str(i) / "results.json").read_text())["status"] for i in range(3)]
    assert statuses == ["completed", "failed", "diverged"]
    assert f"Sweep finished: 3 jobs in {sweep}: 1 completed, 1 diverged, 1 failed" in result.stdout
    assert f"{sweep / '1' / 'train.log'}: optim.d.lr=-1 is not allowed" in result.stdout
    assert "optim.d.lr=-1 is not allowed" in (sweep / "1" / "train.log").read_text()


def test_sweep_job_that_raises_logs_its_traceback(tmp_path):
    sweep = tmp_path / "sweep"
    # A negative layer width is not checked up front: torch raises while building the model.
    result = run_gan("train", "-m", "model=mlp", "data=ring8", "data.n_points=200", "model.g.hidden=-5",
                     "train.steps=2", "eval=off", "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    assert "2 failed" in result.stdout
    log = (sweep / "0" / "train.log").read_text()
    assert "Traceback" in log and "negative dimension" in log
    assert "RuntimeError" in json.loads((sweep / "1" / "results.json").read_text())["error"]
