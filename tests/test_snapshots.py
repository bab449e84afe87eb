"""Checkpoints beside last.pt (issue 9): periodic snapshots (train.keep_snapshots), best.pt by the
run's headline metric, and train.resume=latest."""

import json
import os
import shutil

import pytest
import torch
from conftest import TINY, one_line_error, run_gan
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from gan_cli.snapshots import Keeper

RING = ["model=mlp", "data=ring8", "data.n_points=500"]
EVAL = ["eval=default", "eval.every=2", "eval.n_samples=100"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """8 steps, a checkpoint every 2, the newest 2 kept, metrics every 2 steps."""
    out = tmp_path_factory.mktemp("snap") / "run"
    result = run_gan("train", *TINY, *RING, *EVAL, "train.steps=8", "train.keep_snapshots=2",
                     f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr + result.stdout
    return out


def test_newest_snapshots_are_kept(run):
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("step_*.pt")) == ["step_000006.pt", "step_000008.pt"]
    for name, step in (("step_000006.pt", 6), ("step_000008.pt", 8), ("last.pt", 8)):
        assert torch.load(ckpts / name, weights_only=True)["step"] == step
    six = torch.load(ckpts / "step_000006.pt", weights_only=True)["nets"]["G"]
    eight = torch.load(ckpts / "last.pt", weights_only=True)["nets"]["G"]
    assert any(not torch.equal(six[k], eight[k]) for k in six)  # a snapshot is its own state


def test_best_is_the_best_evaluation_by_the_headline_metric(run):
    acc = EventAccumulator(str(run), size_guidance={SCALARS: 0})
    acc.Reload()
    values = [(e.value, e.step) for e in acc.Scalars("metrics/mode_score")]  # ring8's headline (max)
    assert [s for _, s in values] == [2, 4, 6, 8]
    best_value = max(v for v, _ in values)
    best_step = next(s for v, s in values if v == best_value)  # the first to reach it
    record = json.loads((run / "checkpoints" / "best.json").read_text())
    assert record["metric"] == "mode_score" and record["step"] == best_step
    assert record["value"] == pytest.approx(best_value, rel=1e-6)  # TensorBoard keeps float32
    assert torch.load(run / "checkpoints" / "best.pt", weights_only=True)["step"] == best_step
    result = run_gan("sample", f"checkpoint={run / 'checkpoints' / 'best.pt'}", "n=10")
    assert result.returncode == 0, result.stderr


def test_keeper_ranks_by_the_headline_metric_in_its_direction(tmp_path):
    keeper, saved = Keeper(tmp_path, 0), []

    def save(step, path):
        saved.append(step)
        return True
    for step, fid in ((1, 50.0), (2, 40.0), (3, 45.0), (4, float("nan")), (5, 39.5)):
        keeper.consider(step, {"classifier_fid": fid, "plane_fid": 0.0}, save)
    assert saved == [1, 2, 5]
    again = Keeper(tmp_path, 0)  # a resumed run compares with the recorded best
    again.consider(6, {"classifier_fid": 39.6}, save)
    assert saved == [1, 2, 5] and again.best["step"] == 5
    for step, modes in ((7, 3.0), (8, 8.0), (9, 8.0)):  # higher is better, ties do not count
        Keeper(tmp_path / "modes", 0).consider(step, {"modes_captured": modes, "plane_fid": 1.0}, save)
    assert saved[-2:] == [7, 8]


def test_keep_snapshots_zero_and_bad_values(tmp_path):
    result = run_gan("train", *TINY, *RING, "train.keep_snapshots=0", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "run" / "checkpoints").glob("step_*.pt"))
    assert not (tmp_path / "run" / "checkpoints" / "best.pt").exists()  # eval=off: nothing ranks
    one_line_error(run_gan("train", *TINY, *RING, "train.keep_snapshots=-1", f"hydra.run.dir={tmp_path}"),
                   "train.keep_snapshots=-1")


def test_resume_latest_continues_the_newest_run(run, tmp_path):
    outputs = tmp_path / "outputs"
    older, newer = outputs / "2026-01-01" / "09-00-00", outputs / "2026-01-02" / "09-00-00"
    for target in (older, newer):
        shutil.copytree(run, target)
    (outputs / "multirun" / "x" / "0").mkdir(parents=True)  # a newer sweep job is no candidate
    shutil.copytree(run / "checkpoints", outputs / "multirun" / "x" / "0" / "checkpoints")
    past = (older / "checkpoints" / "last.pt").stat().st_mtime - 3600
    os.utime(older / "checkpoints" / "last.pt", (past, past))
    result = run_gan("train", *TINY, *RING, *EVAL, "train.steps=10", "train.keep_snapshots=2",
                     "train.resume=latest", f"paths.output_dir={outputs}")
    assert result.returncode == 0, result.stderr + result.stdout
    assert f"train.resume=latest: {newer}" in result.stdout
    assert json.loads((newer / "results.json").read_text())["steps_done"] == 10
    assert json.loads((older / "results.json").read_text())["steps_done"] == 8
    assert sorted(p.name for p in (newer / "checkpoints").glob("step_*.pt")) == ["step_000008.pt",
                                                                                   "step_000010.pt"]
    nothing = run_gan("train", *TINY, *RING, "train.resume=latest", f"paths.output_dir={tmp_path / 'none'}")
    one_line_error(nothing, "train.resume=latest: no run", "paths.output_dir")
