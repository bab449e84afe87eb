"""The real `gan` CLI in subprocesses: usage, TensorBoard events, sampling and bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch
from conftest import TINY, one_line_error, run_gan
from tensorboard.backend.event_processing.event_accumulator import (
    IMAGES,
    SCALARS,
    TENSORS,
    EventAccumulator,
)

RING = ["model=mlp", "data=ring8", "data.n_points=500"]


def test_usage_and_unknown_command():
    for args, code in (((), 2), (("--help",), 0), (("fly",), 2)):
        result = run_gan(*args)
        assert result.returncode == code
        assert "gan {train,sample,eval,report}" in result.stdout + result.stderr


def test_train_help_lists_groups():
    result = run_gan("train", "--help")
    assert result.returncode == 0
    assert "gan train" in result.stdout and "powered by Hydra" not in result.stdout
    for group in ("data:", "model:", "loss:", "optim:"):
        assert group in result.stdout
    assert "schema" not in result.stdout  # the type schemas are no choices


@pytest.mark.parametrize("command", ["sample", "eval"])
def test_other_commands_have_their_own_help(command):
    result = run_gan(command, "--help")
    assert result.returncode == 0 and f"gan {command}" in result.stdout
    assert "powered by Hydra" not in result.stdout and "checkpoint" in result.stdout


def test_hydra_info_flag_after_subcommand():
    result = run_gan("train", "--info")
    assert result.returncode == 0 and "Config search path" in result.stdout


def test_cfg_job_prints_composed_config():
    result = run_gan("train", "--cfg", "job", "model=mlp", "train.d_steps=5")
    assert result.returncode == 0 and "d_steps: 5" in result.stdout and "hidden: 128" in result.stdout


def test_run_writes_events_tensorboard_can_read(ring_run):
    out, result = ring_run
    acc = EventAccumulator(str(out), size_guidance={SCALARS: 0, IMAGES: 0, TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    for tag in ("loss/d", "loss/g", "D/real", "D/fake"):
        assert [e.step for e in acc.Scalars(tag)] == [2, 4]
    assert all(0 <= e.value <= 1 for e in acc.Scalars("D/real") + acc.Scalars("D/fake"))
    assert [e.step for e in acc.Images("samples")] == [2, 4]
    assert {"config/text_summary", "data/source/text_summary"} <= set(tags["tensors"])
    assert b"ring8" in acc.Tensors("data/source/text_summary")[0].tensor_proto.string_val[0]


def test_run_directory_contents(ring_run):
    out, result = ring_run
    results = json.loads((out / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_done"] == 4
    assert set(results["final"]) == {"loss_d", "loss_g", "D_real", "D_fake", "D_gap", "D_acc_real",
                                     "D_acc_fake"}
    assert results["wall_time_s"] > 0 and results["images_per_s"] > 0
    assert (out / "train.log").is_file() and (out / ".hydra" / "config.yaml").is_file()
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    assert "G: 33,666 parameters | D: 33,537 parameters" in (out / "train.log").read_text()
    from omegaconf import OmegaConf
    saved = OmegaConf.load(out / "config.yaml")  # resolved config, with the data source it used
    assert saved.data.source.startswith("ring8: 8 Gaussians") and saved.train.steps == 4


def test_sample_from_checkpoint_is_seeded(ring_run, tmp_path):
    out, _ = ring_run
    paths = []
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        png = tmp_path / f"{name}.png"
        result = run_gan("sample", f"checkpoint={out}", "n=100", f"seed={seed}", f"out={png}")
        assert result.returncode == 0, result.stderr
        assert f"wrote {png}" in result.stdout and f"wrote {png.with_suffix('.npy')}" in result.stdout
        paths.append(png.with_suffix(".npy"))
    import numpy as np
    a, b, c = (np.load(p) for p in paths)
    assert a.shape == (100, 2) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_sample_image_grid_default_path(tmp_path, data_dir):
    run = tmp_path / "run"
    result = run_gan("train", *TINY, "data.download=false", "model.g.width=8", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    result = run_gan("sample", f"checkpoint={run / 'checkpoints' / 'last.pt'}", "n=9", "seed=5")
    expected = run / "samples" / "sample_seed5.png"
    assert result.returncode == 0 and f"wrote {expected}" in result.stdout
    from PIL import Image
    assert Image.open(expected).size == (3 * 28 + 4 * 2, 3 * 28 + 4 * 2)  # 3x3 grid, 2px padding


@pytest.mark.parametrize("override,needle", [
    ("train.batch_size=0", "train.batch_size=0"),
    ("train.d_steps=0", "train.d_steps=0"),
    ("train.steps=0", "train.steps=0"),
    ("optim.g.lr=0", "optim.g.lr=0"),
    ("optim.d.lr=-1e-3", "optim.d.lr=-0.001"),
    ("device=tpu", "device=tpu"),
])
def test_bad_values_give_one_line(override, needle, tmp_path):
    one_line_error(run_gan("train", *TINY, *RING, override, f"hydra.run.dir={tmp_path}"), needle)


def test_unknown_group_option_lists_choices(tmp_path):
    one_line_error(run_gan("train", "model=resnet", f"hydra.run.dir={tmp_path}"),
                   "model=resnet",
                   "biggan, dcgan, discogan, mlp, progan, resnet_patchgan, slides_mnist, stackgan, stylegan")


def test_unknown_key_is_named(tmp_path):
    one_line_error(run_gan("train", "train.stepz=3", f"hydra.run.dir={tmp_path}"), "train.stepz", "steps")


def test_image_size_model_cannot_build(tmp_path):
    from PIL import Image
    (tmp_path / "img").mkdir()
    Image.new("RGB", (30, 30)).save(tmp_path / "img" / "a.png")
    one_line_error(run_gan("train", *TINY, "data=image_folder", f"data.path={tmp_path / 'img'}",
                           "data.image_size=20", f"hydra.run.dir={tmp_path / 'run'}"),
                   "cannot build 20x20")


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_image_folder(make, tmp_path):
    folder = tmp_path / "imgs"
    if make == "empty":
        folder.mkdir()
        (folder / "notes.txt").write_text("not an image")
    one_line_error(run_gan("train", *TINY, "data=image_folder", f"data.path={folder}",
                           f"hydra.run.dir={tmp_path / 'run'}"), f"data.path={folder}")


def test_unreadable_image_in_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    (folder / "broken.png").write_bytes(b"not a png")
    one_line_error(run_gan("train", *TINY, "data=image_folder", f"data.path={folder}",
                           f"hydra.run.dir={tmp_path / 'run'}"), "cannot read image", "broken.png")


def test_image_folder_without_path(tmp_path):
    one_line_error(run_gan("train", *TINY, "data=image_folder", f"hydra.run.dir={tmp_path}"),
                   "data.path is required")


def test_dataset_without_files_says_where_to_put_them(tmp_path, data_dir):
    one_line_error(run_gan("train", *TINY, "data=cifar10", "data.download=false",
                           f"hydra.run.dir={tmp_path}"), str(data_dir / "cifar-10-batches-py"))


@pytest.mark.parametrize("kind", ["missing", "truncated", "foreign", "pickle"])
def test_bad_checkpoints(kind, ring_run, tmp_path):
    out, _ = ring_run
    path = tmp_path / "ckpt.pt"
    if kind == "truncated":
        data = (out / "checkpoints" / "last.pt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "foreign":
        torch.save({"state_dict": {}}, path)
    elif kind == "pickle":
        torch.save({"format": "gan-cli/1", "step": object()}, path)  # weights_only refuses this
    expected = {"missing": "does not exist", "truncated": "corrupt", "foreign": "not a gan-cli",
                "pickle": "corrupt"}[kind]
    one_line_error(run_gan("sample", f"checkpoint={path}"), expected)
    one_line_error(run_gan("train", *TINY, *RING, f"train.resume={path}",
                           f"hydra.run.dir={tmp_path / 'run'}"), expected)


def test_resume_with_other_architecture(ring_run, tmp_path):
    out, _ = ring_run
    one_line_error(run_gan("train", *TINY, *RING, "model.g.hidden=64", f"train.resume={out}",
                           f"hydra.run.dir={tmp_path}"), "train.resume=")
    one_line_error(run_gan("train", *TINY, *RING, "optim=sgd", f"train.resume={out}",
                           f"hydra.run.dir={tmp_path}"), "optim.g")


def test_sample_needs_a_checkpoint():
    one_line_error(run_gan("sample"), "checkpoint is required")


def test_composing_a_config_does_not_import_torch(tmp_path):
    """`gan train --cfg job` answers without importing torch (about 1 s of a 1.7 s start-up went to
    gan_cli.distributed importing it only to learn whether torchrun started the process)."""
    code = ("import sys\nfrom gan_cli.cli import main\nsys.argv = ['gan', 'train', '--cfg', 'job']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\nprint('torch' in sys.modules)")
    env = {k: v for k, v in os.environ.items() if k != "WORLD_SIZE"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False", done.stdout[-500:]
