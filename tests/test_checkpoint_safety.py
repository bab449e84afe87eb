"""A checkpoint never chooses code: crafted configs are refused, old checkpoints still load."""

import shutil
from pathlib import Path

import pytest
import torch
from conftest import TINY, one_line_error, run_gan

DATA = Path(__file__).parent / "data"
LEGACY_RING = DATA / "v0.1-ring8-mlp-ema.pt"        # written by gan-cli 0.1 (commit dba00ba)
LEGACY_MNIST = DATA / "v0.1-mnist-dcgan-conditional.pt"
RING = ["model=mlp", "data=ring8", "data.n_points=500", "model.g.hidden=16", "model.d.hidden=16",
        "train.ema=0.9"]


def payloads(tmp_path: Path) -> dict:
    """Configs that name code which would create tmp_path/marker if it were ever called."""
    marker = tmp_path / "marker"
    hub = tmp_path / "hub"
    hub.mkdir(exist_ok=True)
    (hub / "hubconf.py").write_text(f"def evil(**kwargs):\n    open({str(marker)!r}, 'w').close()\n")
    log_config = {"version": 1, "handlers": {"h": {"class": "logging.FileHandler", "filename": str(marker)}},
                  "root": {"handlers": ["h"]}}
    return {
        "hub": ("model.g", {"_target_": "torch.hub.load", "repo_or_dir": str(hub), "model": "evil",
                            "source": "local", "trust_repo": True}),
        "logging": ("model.d", {"_target_": "logging.config.dictConfig", "config": log_config}),
        "os_system": ("optim.g", {"_target_": "os.system", "command": f"touch {marker}"}),
        "exec": ("data", {"_target_": "builtins.exec", "source": f"open({str(marker)!r}, 'w')"}),
    }


def craft(src: Path, dst: Path, where: str, payload: dict) -> Path:
    """A copy of checkpoint src whose config node `where` carries the payload's keys."""
    ckpt = torch.load(src, weights_only=True)
    node = ckpt["config"]
    for key in where.split("."):
        node = node[key]
    node.update(payload)
    torch.save(ckpt, dst)
    return dst


def test_hub_payload_would_run_code(tmp_path):
    """Control: called directly, the hub payload does create the marker, so the refusals below
    are what keeps it from running."""
    where, payload = payloads(tmp_path)["hub"]
    torch.hub.load(payload["repo_or_dir"], payload["model"], source="local", trust_repo=True)
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("name", ["hub", "logging", "os_system", "exec"])
def test_crafted_checkpoint_is_refused_everywhere(name, tmp_path):
    where, payload = payloads(tmp_path)[name]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    ckpt = craft(LEGACY_RING, run / "checkpoints" / "last.pt", where, payload)
    for args in (("sample", f"checkpoint={ckpt}", f"out={tmp_path / 's.png'}"),
                 ("eval", f"checkpoint={ckpt}", "eval.n_samples=100", f"out={tmp_path / 'e.json'}"),
                 ("train", *TINY, *RING, "train.steps=8", f"train.resume={run}", f"hydra.run.dir={run}")):
        one_line_error(run_gan(*args, cwd=tmp_path), "is refused", f"{where}._target_")
        assert not (tmp_path / "marker").exists(), args[0]
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "e.json").exists()


def test_unknown_model_name_in_checkpoint(tmp_path):
    ckpt = torch.load(LEGACY_RING, weights_only=True)
    ckpt["config"]["model"]["name"] = "gan_cli.evil"
    for net in ("g", "d"):
        del ckpt["config"]["model"][net]["_target_"]
    torch.save(ckpt, tmp_path / "c.pt")
    one_line_error(run_gan("sample", f"checkpoint={tmp_path / 'c.pt'}"), "model.name=gan_cli.evil",
                   "dcgan")


def test_legacy_target_of_another_model_is_refused(tmp_path):
    """gan-cli 0.1's own class names pass only where they match the stored model name."""
    ckpt = torch.load(LEGACY_RING, weights_only=True)
    ckpt["config"]["model"]["g"]["_target_"] = "gan_cli.models.DCGANGenerator"
    torch.save(ckpt, tmp_path / "c.pt")
    one_line_error(run_gan("sample", f"checkpoint={tmp_path / 'c.pt'}"), "model.g._target_")


@pytest.mark.parametrize("step", ["'abc'", "-3", "2.5"])
def test_checkpoint_step_must_be_a_count(step, tmp_path):
    ckpt = torch.load(LEGACY_RING, weights_only=True)
    ckpt["step"] = eval(step)
    torch.save(ckpt, tmp_path / "c.pt")
    one_line_error(run_gan("sample", f"checkpoint={tmp_path / 'c.pt'}"), "step")


def test_config_that_disagrees_with_weights(tmp_path):
    ckpt = torch.load(LEGACY_RING, weights_only=True)
    ckpt["config"]["model"]["g"]["hidden"] = 32  # the weights are for 16 units
    torch.save(ckpt, tmp_path / "c.pt")
    one_line_error(run_gan("sample", f"checkpoint={tmp_path / 'c.pt'}"), "do not fit")
    one_line_error(run_gan("eval", f"checkpoint={tmp_path / 'c.pt'}", "eval.n_samples=100"), "do not fit")


def test_a_config_that_cannot_rebuild_its_nets_names_the_file_as_inconsistent(tmp_path):
    """Not `model=dcgan cannot build 2x2 images`, as if the user had asked for it: the file is at fault."""
    ckpt = torch.load(LEGACY_MNIST, weights_only=True)
    ckpt["data"]["shape"] = [1, 2, 2]
    torch.save(ckpt, tmp_path / "c.pt")
    for command in (["sample"], ["eval", "eval.n_samples=100"]):
        one_line_error(run_gan(*command[:1], f"checkpoint={tmp_path / 'c.pt'}", *command[1:]),
                       f"checkpoint {tmp_path / 'c.pt'} is inconsistent", "cannot build 2x2")


def test_nan_weights_are_not_sampled(tmp_path):
    ckpt = torch.load(LEGACY_RING, weights_only=True)
    for key in ("G", "G_ema"):
        ckpt[key]["net.0.weight"][0, 0] = float("nan")
    torch.save(ckpt, tmp_path / "c.pt")
    one_line_error(run_gan("sample", f"checkpoint={tmp_path / 'c.pt'}"), "NaN")
    assert not list(tmp_path.rglob("*.png"))


def test_legacy_checkpoints_still_sample_and_resume(tmp_path, data_dir):
    """Checkpoints written by gan-cli 0.1 (`_target_` configs) load for sample, eval and resume."""
    for legacy in (LEGACY_RING, LEGACY_MNIST):
        run = tmp_path / legacy.stem
        (run / "checkpoints").mkdir(parents=True)
        shutil.copy(legacy, run / "checkpoints" / "last.pt")
        result = run_gan("sample", f"checkpoint={run}", "n=10")
        assert result.returncode == 0, result.stderr
        result = run_gan("eval", f"checkpoint={run}", "eval.n_samples=100", "eval.classifier_epochs=1")
        assert result.returncode == 0, result.stderr
        assert (run / "eval.json").is_file()
    # optim=adam: the 0.1 run's optimizer (ring8's recipe would bring adam_mixture, a refused change)
    resumed = run_gan("train", *TINY, *RING, "optim=adam", "train.steps=8",
                      f"train.resume={tmp_path / LEGACY_RING.stem}",
                      f"hydra.run.dir={tmp_path / LEGACY_RING.stem}")
    assert resumed.returncode == 0, resumed.stderr
    ckpt = torch.load(tmp_path / LEGACY_RING.stem / "checkpoints" / "last.pt", weights_only=True)
    assert ckpt["step"] == 8 and ckpt["config"]["optim"]["g"]["name"] == "adam"


@pytest.mark.parametrize("override,needle", [
    ("model.g.hidden=0", "model.g.hidden=0"),
    ("model.g.hidden=abc", "model.g.hidden=abc"),
    ("+model.g.depth=3", "model.g.depth"),
    ("+model.g._target_=os.system", "model.g._target_"),
    ("model.name=resnet", "model.name=resnet"),
    ("optim.g.lr=fast", "optim.g.lr=fast"),
    ("optim.g.lr=0", "optim.g.lr=0"),
    ("optim.g.betas=[0.5]", "optim.g.betas"),
    ("optim.g.betas=[0.5,1.0]", "optim.g.betas"),
    ("optim.g.name=lbfgs", "optim.g.name=lbfgs"),
])
def test_model_and_optimizer_options_are_checked(override, needle, tmp_path):
    one_line_error(run_gan("train", *TINY, *RING, override, f"hydra.run.dir={tmp_path / 'run'}",
                           cwd=tmp_path), needle)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_integer_betas_reach_adam_as_floats(tmp_path):
    """`optim.d.betas=[0,0.99]` (StyleGAN2's betas as a user types them): torch's Adam refuses a mix
    of int and float, so the checked options carry floats."""
    result = run_gan("train", *TINY, *RING, "optim.d.betas=[0,0.99]", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-2000:]
    opt = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["opts"]["d"]
    assert opt["param_groups"][0]["betas"] == (0.0, 0.99)


def test_sgd_momentum_is_checked(tmp_path):
    one_line_error(run_gan("train", *TINY, *RING, "optim=sgd", "optim.g.momentum=-1",
                           f"hydra.run.dir={tmp_path}"), "optim.g.momentum=-1")


def test_sample_mode_must_be_one_of_the_methods(tmp_path):
    """The modes belong to the checkpoint's method, so they are checked once it is read."""
    result = run_gan("sample", f"checkpoint={LEGACY_RING}", "mode=collage", f"out={tmp_path / 'x.png'}")
    one_line_error(result, "mode=collage", "method=gan", "grid, interpolate")


def test_a_legacy_run_resumes_from_the_run_alone(tmp_path):
    """`gan train train.resume=<run> train.steps=8`, nothing else: the 0.1 ring8 run continues with
    its own settings (today's ring8 recipe has another lr, batch and EMA; mnist is the default data),
    and the EMA warm-up it never had stays off."""
    run = tmp_path / "old run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(LEGACY_RING, run / "checkpoints" / "last.pt")
    done = run_gan("train", f"train.resume={run}", "train.steps=8", "train.progress=log")
    assert done.returncode == 0, done.stderr[-2000:]
    config = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"]
    assert config["data"]["name"] == "ring8" and config["model"]["name"] == "mlp"
    assert config["train"]["batch_size"] == 8 and config["train"]["ema"] == 0.9
    assert config["train"]["ema_rampup"] == 0.0 and config["optim"]["d"]["lr"] == 0.0002
    assert config["train"]["lr_decay_from"] == 1.0  # not the mnist recipe's 0.5: its lr stays constant


def test_a_run_from_before_a_recipe_change_resumes_and_typed_changes_are_checked(ring_run, tmp_path):
    """A checkpoint whose settings predate today's recipe (here: D's lr and the batch, edited into
    it) resumes with its own; a typed setting a resume may change applies, any other is refused."""
    out, _ = ring_run
    run = tmp_path / "run"
    shutil.copytree(out, run)
    ckpt = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    ckpt["config"]["optim"]["d"]["lr"] = 0.0003
    ckpt["config"]["train"]["batch_size"] = 16
    torch.save(ckpt, run / "checkpoints" / "last.pt")
    done = run_gan("train", f"train.resume={run}", f"train.steps={ckpt['step'] + 2}", "eval=off")
    assert done.returncode == 0, done.stderr[-2000:]
    config = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["config"]
    assert config["optim"]["d"]["lr"] == 0.0003 and config["train"]["batch_size"] == 16
    one_line_error(run_gan("train", f"train.resume={run}", f"train.steps={ckpt['step'] + 4}",
                           "optim.d.lr=0.5"), "optim.d.lr=0.5 (was 0.0003) would change the experiment")
