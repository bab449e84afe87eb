"""Shared helpers: compose the real configs, run the real CLI, fake dataset files."""

import os

# `make test` runs 2 pytest workers on a 2-core machine: one torch thread each (set before torch
# loads its OpenMP runtime; subprocesses inherit it), so that the workers don't oversubscribe.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir

from gan_cli.cli import conf_dir
from gan_cli.papers import with_paper

# Small, fast settings for any run in the tests.
TINY = ["train.steps=4", "train.batch_size=8", "train.log_every=2", "train.sample_every=2",
        "train.ckpt_every=2", "train.n_samples=4", "train.progress=log", "device=cpu", "eval=off"]


def write_pngs(folder, n, size=(24, 20), mode="RGB", seed=0):
    """n random images of size (width, height) as folder/<i>.png."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")


def compose_train(overrides=()):
    """The real conf/ composed as `gan train` would (a model's paper settings included), without
    starting a Hydra app."""
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose("train", overrides=with_paper(list(overrides)))


def run_gan(*args, cwd=None, timeout=300, env=None):
    """Run the installed `gan` console script (through this interpreter) and capture its output."""
    cmd = [sys.executable, "-c", "from gan_cli.cli import main; main()", *args]
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env=full_env)


def one_line_error(result, *needles):
    """Exit code 2, a single 'error:' line naming the problem, and no traceback."""
    assert result.returncode == 2, result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def write_idx(folder: Path, n: int = 32, seed: int = 0) -> None:
    """Write MNIST-format (idx) train and test files, as torchvision's MNIST classes read them."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix in ("train", "t10k"):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 2051, n, 28, 28) + images.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(
            struct.pack(">II", 2049, n) + labels.tobytes())


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    """An empty data directory, also exported as GAN_DATA_DIR for subprocesses."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("GAN_DATA_DIR", str(path))
    return path


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    """One tiny ring8 run through the real CLI, shared by a test module: (run dir, its result)."""
    out = tmp_path_factory.mktemp("ring") / "run"
    result = run_gan("train", *TINY, "model=mlp", "data=ring8", "data.n_points=500", f"hydra.run.dir={out}")
    assert result.returncode == 0, result.stderr + result.stdout
    return out, result
