"""Multirun sweeps: failures are recorded, the sweep goes on, and it says how it went."""

import json
import subprocess
import sys

import pytest
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
    """A bug inside a job (here a stand-in: train() raises) is logged with its traceback and
    recorded, and the sweep goes on with the next job."""
    sweep = tmp_path / "sweep"
    code = ("import gan_cli.run as t\ndef bug(*a, **k): raise RuntimeError('negative dimension')\n"
            "t.train = bug\nfrom gan_cli.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", code, "train", "-m", "model=mlp", "data=ring8",
                             "data.n_points=200", "train.steps=2", "eval=off", "seed=0,1",
                             f"hydra.sweep.dir={sweep}"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "2 failed" in result.stdout
    log = (sweep / "0" / "train.log").read_text()
    assert "Traceback" in log and "negative dimension" in log
    assert "RuntimeError" in json.loads((sweep / "1" / "results.json").read_text())["error"]


FAST = ["train.steps=20", "train.log_every=5", "train.batch_size=32", "train.progress=log",
        "data.n_points=500", "eval.every=0", "eval.n_samples=200", "device=cpu"]


def test_four_job_sweep_report_and_hparams(tmp_path):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", "model=mlp", "data=ring8", *FAST, "optim=sgd", "optim.g.lr=0.01",
                     "optim.d.lr=0.01,1e30", "loss=minimax,nonsaturating", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    statuses = [json.loads((sweep / str(i) / "results.json").read_text())["status"] for i in range(4)]
    assert sorted(statuses) == ["completed", "completed", "diverged", "diverged"]

    report = run_gan("report", str(sweep))
    assert report.returncode == 0, report.stderr
    assert "diverged" in report.stdout and "4 jobs: 2 completed, 2 diverged" in report.stdout
    rows = (sweep / "report.csv").read_text().splitlines()
    assert rows[0].startswith("job,optim.d.lr,loss,status") and len(rows) == 5
    assert sum(",diverged," in row for row in rows) == 2
    assert (sweep / "report.md").read_text().startswith("| job | optim.d.lr | loss |")
    assert (sweep / "report" / "heatmap_plane_fid.png").is_file()
    assert (sweep / "report" / "plot_modes_captured_vs_loss.png").is_file()
    assert (sweep / "report" / "loss_curves.png").is_file()

    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    mux.Reload()
    sessions = mux.PluginRunToTagToContent("hparams")
    assert sorted(sessions) == ["0", "1", "2", "3"]
    keys, metrics = [], []
    for tags in sessions.values():
        start = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/session_start_info"])
        keys.append(sorted(start.session_start_info.hparams))
        exp = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/experiment"])
        metrics.append(sorted(m.name.tag for m in exp.experiment.metric_infos))
    assert all(k == keys[0] for k in keys) and {"loss", "optim.d.lr", "status"} <= set(keys[0])
    assert all(m == metrics[0] for m in metrics) and "metrics/plane_fid" in metrics[0]


def test_report_refuses_what_is_not_a_finished_sweep(tmp_path):
    for path, needle in ((tmp_path / "missing", "is not a directory"), (tmp_path, "is not a sweep")):
        result = run_gan("report", str(path))
        assert result.returncode == 2 and result.stderr.startswith("error: ") and needle in result.stderr
        assert "Traceback" not in result.stderr
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    result = run_gan("report", str(tmp_path))
    assert result.returncode == 2 and "has no finished jobs" in result.stderr


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_parallel_launchers_run_two_jobs(launcher, tmp_path):
    sweep = tmp_path / "sweep"
    extra = ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else ["hydra.launcher.timeout_min=10"]
    result = run_gan("train", "-m", f"hydra/launcher={launcher}", *extra, "model=mlp", "data=ring8",
                     *FAST, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr + result.stdout
    for job in ("0", "1"):
        assert json.loads((sweep / job / "results.json").read_text())["status"] == "completed"
    if launcher == "joblib":  # 2 jobs at once on this machine's cores: each gets its share
        import os
        share = max(1, (os.cpu_count() or 1) // 2)
        assert f"torch threads: {share}" in (sweep / "0" / "train.log").read_text()


def test_optuna_search_reports_the_best(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_gan("train", "sweep=search_lr", "hydra.sweeper.n_trials=3", *FAST,
                     f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    best = (sweep / "optimization_results.yaml").read_text()
    assert "best_params" in best and "optim.g.lr" in best
    values = [json.loads((sweep / str(i) / "results.json").read_text())["metrics"]["mode_score"]
              for i in range(3)]
    assert f"best_value: {max(values)}" in best  # mode_score: higher is better


@pytest.mark.parametrize("preset", ["loss_game", "balance", "lr", "seeds", "conditional", "remedies"])
def test_presets_compose_as_multiruns(preset):
    result = run_gan("train", f"sweep={preset}", "--cfg", "hydra")
    assert result.returncode == 0, result.stderr
    assert "mode: MULTIRUN" in result.stdout and "params:" in result.stdout


def test_preset_runs_and_scales_by_one_override(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_gan("train", "sweep=seeds", "seed=0,1", *FAST,  # the command line narrows the preset
                     f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    assert "2 jobs" in result.stdout and (sweep / "1" / "results.json").is_file()
    mnist = run_gan("train", "sweep=seeds", "data=mnist", "--cfg", "job")
    assert "name: mnist" in mnist.stdout and "steps: 1500" in mnist.stdout


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["loss_game", "balance", "lr", "seeds", "conditional"])
def test_full_presets(preset, tmp_path):
    result = run_gan("train", f"sweep={preset}", f"hydra.sweep.dir={tmp_path}", timeout=1800)
    assert result.returncode == 0 and "Sweep finished" in result.stdout
