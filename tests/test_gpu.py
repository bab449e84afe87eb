"""What only a GPU can show: run by benchmarks/gpu_check.sh (`pytest -m cuda`); skipped on a CPU.

Each test names the review finding (issue 20) that it checks on real CUDA kernels."""

import pytest
import torch
from conftest import TINY, compose_train

from gan_cli.run import train
from gan_cli.rundir import read_checkpoint

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
MNIST = ["data=mnist", "data.download=false", "device=cuda", "model.g.width=16", "model.d.width=16"]


def same_weights(a, b) -> bool:
    return all(torch.equal(a["nets"][n][k], b["nets"][n][k]) for n in a["nets"] for k in a["nets"][n])


def test_deterministic_resume_on_the_gpu_is_bit_identical(tmp_path, data_dir):
    """RNG states go back to the CPU before torch.set_rng_state (map_location moved them to the
    GPU); with train.deterministic, 8 steps straight equal 4 + resume to 8, bit for bit."""
    base = TINY + MNIST + ["train.deterministic=true"]
    train(compose_train(base + ["train.steps=8"]), tmp_path / "full")
    train(compose_train(base + ["train.steps=4"]), tmp_path / "part")
    train(compose_train(base + ["train.steps=8", f"train.resume={tmp_path / 'part'}"]), tmp_path / "part")
    assert same_weights(read_checkpoint(tmp_path / "full"), read_checkpoint(tmp_path / "part"))


def test_resume_switching_channels_last_under_fused_adam(tmp_path, data_dir):
    """Fused Adam refuses a parameter and a state whose layouts differ: the moments follow."""
    train(compose_train(TINY + MNIST + ["train.steps=2"]), tmp_path / "run")
    more = ["train.steps=4", "train.channels_last=true", "train.precision=bf16",
            f"train.resume={tmp_path / 'run'}"]
    results = train(compose_train(TINY + MNIST + more), tmp_path / "run")
    assert results["status"] == "completed" and results["steps_done"] == 4


def test_training_the_classifier_leaves_the_gpu_random_stream_alone(tmp_path):
    """The classifier trains under its own seed; the run's CUDA stream continues as if it were cached."""
    from gan_cli.data import load_data
    from gan_cli.features import classifier_space

    data = load_data(compose_train(["data=mnist", "data.download=false"]).data, torch.device("cuda"))
    torch.cuda.manual_seed(1234)
    before = torch.cuda.get_rng_state()
    classifier_space(data, tmp_path, epochs=1)
    assert torch.equal(torch.cuda.get_rng_state(), before)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_every_family_trains_in_16_bit_on_the_gpu(precision, tmp_path, data_dir):
    from test_precision import EVERY
    for name, overrides in EVERY.items():
        cfg = compose_train(TINY + overrides + ["device=cuda", f"train.precision={precision}"])
        assert train(cfg, tmp_path / name)["status"] == "completed", name
