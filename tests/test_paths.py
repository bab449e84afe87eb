"""Paths as people type them: a folder named with spaces and letters beyond ASCII, passed by the
shell as one argument, works as one path for every path key (issue 19). Through the real CLI."""

import json

import pytest
from conftest import TINY, run_gan, write_pngs

from gan_cli.cli import quote_paths


@pytest.fixture
def odd(tmp_path):
    root = tmp_path / "my photos ünd Bilder"
    write_pngs(root / "images", 5)
    return root


def test_train_resume_and_sample_with_spaces_and_umlauts(odd, tmp_path):
    args = [*TINY, "data=image_folder", f"data.path={odd / 'images'}", "data.image_size=16",
            "model.g.width=4", "model.d.width=4", "train.threads=1"]
    run = odd / "run 1"
    first = run_gan("train", *args, f"hydra.run.dir={run}")
    assert first.returncode == 0, first.stderr[-2000:]
    again = run_gan("train", *args, "train.steps=6", f"train.resume={run}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run / "results.json").read_text())["steps_done"] == 6
    out = odd / "grid ö.png"
    sampled = run_gan("sample", f"checkpoint={run}", "n=4", f"out={out}")
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert out.is_file()


def test_only_awkward_path_values_are_quoted():
    assert quote_paths(["data.path=/a b/c", "train.resume=null", "seed=1", "out=/x/ü.png"]) == [
        "data.path='/a b/c'", "train.resume=null", "seed=1", "out='/x/ü.png'"]
    assert quote_paths(["data.path='/a b'", "paths.output_dir=/o p", "checkpoint=/it's"]) == [
        "data.path='/a b'", "paths.output_dir='/o p'", "checkpoint='/it\\'s'"]
