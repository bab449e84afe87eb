"""Image folders (issue 9): decoded once and cached beside the images, keyed by the file list,
sizes and modification times; unlabelled images say once that no metric applies offline, and
fid_inception says which weight file to put where."""

import logging
import os

import numpy as np
import pytest
from conftest import TINY, compose_train, one_line_error, run_gan
from PIL import Image

import gan_cli.readers as readers
from gan_cli.data import load_data
from gan_cli.inception import WEIGHTS, WEIGHTS_URL


@pytest.fixture
def folder(tmp_path):
    images = tmp_path / "photos"
    (images / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(images / "sub" / f"{i}.png")
    return images


def data_cfg(folder, *extra):
    return compose_train(["data=image_folder", f"data.path={folder}", "data.image_size=16", *extra]).data


def test_decoded_once_then_read_from_the_cache(folder, monkeypatch, caplog):
    caplog.set_level(logging.INFO)
    first = load_data(data_cfg(folder), "cpu").x
    assert (folder / ".gan_cli_cache" / "16px_3ch.pt").is_file()
    assert any("Decoding 5 images" in r.getMessage() for r in caplog.records)

    def no_decoding(*args):
        raise AssertionError("decoded again")
    monkeypatch.setattr(readers, "_open_image", no_decoding)
    caplog.clear()
    again = load_data(data_cfg(folder), "cpu").x
    assert again.dtype == first.dtype == first.new_zeros(()).dtype and again.equal(first)
    assert any("read from" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("change", ["add", "remove", "rewrite", "touch", "size", "channels", "off"])
def test_any_change_decodes_again(change, folder, monkeypatch):
    load_data(data_cfg(folder), "cpu")
    decoded = []
    real_open = readers._open_image
    monkeypatch.setattr(readers, "_open_image", lambda f, *rest: decoded.append(f) or real_open(f, *rest))
    extra, expected = [], 5
    target = folder / "sub" / "0.png"
    if change == "add":
        Image.new("RGB", (20, 20)).save(folder / "new.png")
        expected = 6
    elif change == "remove":
        target.unlink()
        expected = 4
    elif change == "rewrite":  # same name, other pixels, mtime moved on
        Image.new("RGB", (20, 24), (255, 0, 0)).save(target)
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    elif change == "touch":
        os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    else:
        extra = {"size": ["data.image_size=8"], "channels": ["data.channels=1"],
                 "off": ["data.cache=false"]}[change]
    x = load_data(data_cfg(folder, *extra), "cpu").x
    assert len(decoded) == expected and len(x) == expected
    if change == "rewrite":
        assert x[0, 0].float().mean() > 200 and x[0, 1:].float().mean() < 1  # the new red image


def test_read_only_folder_still_trains_without_a_cache(folder, tmp_path):
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        x = load_data(data_cfg(folder), "cpu").x
        assert len(x) == 5 and not (folder / ".gan_cli_cache").exists()
    finally:
        folder.chmod(0o755)


def test_cache_option_and_no_offline_metric_through_the_cli(folder, tmp_path):
    """data.cache composes and runs both ways; an unlabelled folder says once, before step 1, that
    no metric applies offline and where Inception FID's weights go."""
    for run, cache in (("first", "true"), ("second", "true"), ("off", "false")):
        result = run_gan("train", *TINY, "data=image_folder", f"data.path={folder}", "data.image_size=16",
                         "model.g.width=4", "model.d.width=4", f"data.cache={cache}", "eval.metrics=auto",
                         f"hydra.run.dir={tmp_path / run}")
        assert result.returncode == 0, result.stderr + result.stdout
        lines = result.stdout.splitlines()
        said = [i for i, line in enumerate(lines) if "No metric applies offline" in line]
        assert len(said) == 1 and WEIGHTS in lines[said[0]] and WEIGHTS_URL in lines[said[0]]
        assert said[0] < next(i for i, line in enumerate(lines) if "step 2/4" in line)
    logs = {run: (tmp_path / run / "train.log").read_text() for run in ("first", "second", "off")}
    assert "Decoding 5 images" in logs["first"] and "decoded once already" not in logs["first"]
    assert "decoded once already" in logs["second"] and "Decoding" not in logs["second"]
    assert "Decoding 5 images" in logs["off"]
    one_line_error(run_gan("train", *TINY, "data=image_folder", f"data.path={folder}", "data.cache=maybe",
                           f"hydra.run.dir={tmp_path / 'bad'}"), "data.cache=maybe")


def test_fid_and_fid_inception_messages_say_what_to_do(folder, tmp_path, monkeypatch):
    """They used to send the user from one to the other; now: which file to put where."""
    import torch

    from gan_cli.errors import ConfigError
    from gan_cli.evaluate import choose_metrics

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # no weights there
    data = load_data(data_cfg(folder), "cpu")
    with pytest.raises(ConfigError) as fid:
        choose_metrics(["fid"], data)
    assert "'fid' does not apply" in str(fid.value) and "eval.metrics=[fid_inception]" in str(fid.value)
    with pytest.raises(ConfigError) as inception:
        choose_metrics(["fid_inception"], data)
    line = str(inception.value)
    assert "\n" not in line and "use fid" not in line
    assert f"{WEIGHTS_URL}) into {tmp_path / 'hub' / 'checkpoints'}/" in line
    try:
        import torchmetrics.image.fid  # noqa: F401
    except ImportError:
        assert "pip install 'torchmetrics[image]'" in line
