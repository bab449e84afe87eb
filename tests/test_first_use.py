"""What a first-time user meets (issue 9): where the run goes, `gan --help`/`--version`, tab
completion, `gan train --help` with every key's comment, one name per figure."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import TINY, run_gan

ROOT = Path(__file__).resolve().parent.parent
RING = ["model=mlp", "data=ring8", "data.n_points=500"]


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("first") / "run"
    result = run_gan("train", *TINY, *RING, f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr + result.stdout
    return out, result


def test_train_names_its_directory_and_tensorboard_at_start(ring_run):
    out, result = ring_run
    lines = result.stdout.splitlines()
    where = next(i for i, line in enumerate(lines) if f"tensorboard --logdir {out}" in line)
    assert f"Run directory: {out}" in lines[where]
    first_step = next(i for i, line in enumerate(lines) if "step 2/4" in line)
    assert where < first_step  # said before training starts, not only at the end
    assert f"tensorboard --logdir {out}" in (out / "train.log").read_text()


def test_sweep_names_its_directory_at_start(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", *TINY, *RING, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Sweep directory: {sweep}   (watch it with: tensorboard --logdir {sweep})"


def test_gan_help_lists_commands_one_line_each():
    result = run_gan("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for command in ("train", "sample", "eval", "report"):
        [line] = [line for line in lines if line.strip().startswith(command + " ")]
        assert len(line.split()) > 2  # the command and what it does
    assert run_gan("-h").stdout == result.stdout


def test_gan_version():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for flag in ("--version", "-V"):
        result = run_gan(flag)
        assert result.returncode == 0 and result.stdout.strip() == f"gan-cli {version}"
