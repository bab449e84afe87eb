"""Nothing lost, whatever stops a run: signals (Ctrl-C, SIGTERM, a second one), a full disk, a
failing evaluation, divergence, resuming a finished run or with other settings, and two runs in
one directory. Each through the real CLI, with real signals; faults the machine cannot make on
demand (a full disk, a broken evaluator) are injected by patching gan-cli in the child process
before `main()` runs."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY, one_line_error, run_gan

from gan_cli import rundir
from gan_cli.files import atomic_write

RING = ["model=mlp", "data=ring8", "data.n_points=500", "train.threads=1"]
# A run long enough to be stopped: a log line at every step, no periodic samples or checkpoints.
LONG = ["train.steps=100000", "train.batch_size=32", "train.log_every=1", "train.progress=log",
        "train.sample_every=100000", "train.ckpt_every=100000", "device=cpu", "eval=off", *RING]
ENV = {**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"}
# Patch: each step pauses 20 ms, so that a run waiting for its signal leaves the CPU to the others.
PAUSED = """
import time, gan_cli.methods.gan as gan
step = gan.GAN.step
gan.GAN.step = lambda self, data, it: time.sleep(0.02) or step(self, data, it)
"""


def start_gan(run, *args, patch: str = PAUSED):
    """`gan train` as a child process (gan-cli patched by `patch` first), output line by line."""
    code = f"{patch}\nfrom gan_cli.cli import main\nmain()"
    cmd = [sys.executable, "-c", code, "train", *args, f"hydra.run.dir={run}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(proc, needle: str) -> list[str]:
    """Read the child's stdout until a line holds needle; the lines read."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} never came: {''.join(lines)}{proc.stderr.read()}")


def finish(proc, timeout=120):
    out, err = proc.communicate(timeout=timeout)
    assert "Traceback" not in out + err, out + err
    return out, err


def records(run):
    """results.json and the step of checkpoints/last.pt (None: no checkpoint)."""
    results = json.loads((run / rundir.RESULTS).read_text())
    path = rundir.checkpoint_file(run)
    step = torch.load(path, weights_only=True)["step"] if path.exists() else None
    return results, step


def assert_describes_its_checkpoint(run):
    """results.json names the step of the checkpoint on disk, and steps_done agrees."""
    results, step = records(run)
    assert results["checkpoint_step"] == step == results["steps_done"], (results, step)
    assert not list((run / "checkpoints").glob(".*.tmp"))
    return results


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_at_a_step_and_saves(sig, code, tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *LONG)
    wait_for(proc, "step 20/")
    proc.send_signal(sig)
    out, err = finish(proc)
    assert proc.returncode == code, out + err
    results = assert_describes_its_checkpoint(run)
    assert results["status"] == "interrupted" and results["signal"] == sig.name
    assert 20 <= results["steps_done"] < 100000
    assert err.strip() == ""  # a stop asked for and done is no error
    assert f"{sig.name}: stopping after this step" in out


def test_a_second_signal_ends_at_once_keeping_the_last_checkpoint(tmp_path):
    """Steps that pause 0.5 s: both signals land in one step, and the second ends the run there,
    without the final checkpoint."""
    run = tmp_path / "run"
    slow = PAUSED.replace("0.02", "0.5")
    proc = start_gan(run, *LONG, "train.ckpt_every=3", patch=slow)
    wait_for(proc, "step 4/")
    time.sleep(0.1)  # into step 5's pause
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.002)
    proc.send_signal(signal.SIGINT)  # another signal: Python would merge two SIGTERMs in one C call
    out, err = finish(proc)
    # If both are pending when Python looks, it runs SIGINT's handler first: that one then names it.
    first = {143: "SIGTERM", 130: "SIGINT"}[proc.returncode]
    assert err.strip() == {"SIGTERM": "terminated (SIGTERM)", "SIGINT": "interrupted"}[first]
    results = assert_describes_its_checkpoint(run)
    assert results["status"] == "interrupted" and results["signal"] == first
    assert results["steps_done"] == 3
    assert results["stopped_at"] == 4  # the step after the checkpoint is lost


SLOW_WRITE = """
import time, torch
real_save = torch.save
def save(obj, f, *a, **k):
    print("WRITING", flush=True)
    time.sleep(1.5)
    real_save(obj, f, *a, **k)
torch.save = save
"""


def test_signals_during_a_checkpoint_write_wait_for_it(tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *LONG, "train.ckpt_every=5", patch=PAUSED + SLOW_WRITE)
    wait_for(proc, "WRITING")  # the checkpoint of step 5 is being written
    for sig in (signal.SIGINT, signal.SIGTERM):
        proc.send_signal(sig)
        time.sleep(0.01)
    out, err = finish(proc)
    assert proc.returncode == 130, out + err  # the first signal names the exit code
    results = assert_describes_its_checkpoint(run)
    assert results["steps_done"] == 5 and "stopped_at" not in results


@pytest.mark.parametrize("delay", [pytest.param(0.0, marks=pytest.mark.slow), 0.003,
                                   pytest.param(0.03, marks=pytest.mark.slow)])
def test_two_quick_signals_leave_consistent_records(delay, tmp_path):
    """Whenever the second signal lands (in a step, a write, the final save, the exit), the
    records agree with the checkpoint on disk and there is no traceback."""
    run = tmp_path / "run"
    proc = start_gan(run, *LONG, "train.ckpt_every=7")
    wait_for(proc, "step 30/")
    proc.send_signal(signal.SIGTERM)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = finish(proc)
    assert proc.returncode in (130, 143), out + err
    results = assert_describes_its_checkpoint(run)
    assert results["status"] == "interrupted" and results["steps_done"] >= 28


def test_sigterm_during_start_up_exits_quietly(tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *LONG, patch="")
    deadline = time.monotonic() + 60  # Hydra has written .hydra/: the app is importing torch
    while not (run / ".hydra" / "config.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc)
    assert proc.returncode == 143 and err.strip() == "terminated (SIGTERM)", out + err


def disk_full(after: int) -> str:
    """Patch: torch.save writes half a file and fails with ENOSPC from its call number `after` on."""
    return f"""
import errno, pathlib, torch
calls = []
def full(real):
    def save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) < {after}:
            return real(obj, f, *a, **k)
        pathlib.Path(f).write_bytes(b"half a file")
        raise OSError(errno.ENOSPC, "No space left on device")
    return save
torch.save = full(torch.save)
"""


def test_disk_full_while_writing_a_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *TINY, *RING, "train.steps=6", patch=disk_full(after=2))
    out, err = finish(proc)
    assert proc.returncode == 2, out + err
    assert err.strip().splitlines() == [
        f"error: could not write the checkpoint of step 4 to {rundir.checkpoint_file(run)} "
        "(No space left on device); it still holds step 2"]
    results = assert_describes_its_checkpoint(run)  # step 2's checkpoint loads, no tmp file left
    assert results["status"] == "failed" and "No space left" in results["error"]
    assert results["steps_done"] == 2 and results["stopped_at"] == 4


def test_disk_full_for_the_results_too(tmp_path):
    """The checkpoint and then results.json cannot be written: one line, non-zero exit, the
    previous checkpoint whole."""
    patch = disk_full(after=2) + """
def write_text(path, text, *a, **k):
    path.write_bytes(b"half a file")
    raise OSError(errno.ENOSPC, "No space left on device")
pathlib.Path.write_text = write_text
"""
    run = tmp_path / "run"
    proc = start_gan(run, *TINY, *RING, "train.steps=6", patch=patch)
    out, err = finish(proc)
    assert proc.returncode == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "could not write the checkpoint of step 4" in err
    assert f"could not write {run / rundir.RESULTS} (No space left on device)" in out
    assert torch.load(rundir.checkpoint_file(run), weights_only=True)["step"] == 2
    assert not (run / rundir.RESULTS).exists() and not list(run.rglob(".*.tmp"))


def test_atomic_write_removes_its_tmp_file(tmp_path):
    path = tmp_path / "f.json"
    path.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise OSError(28, "No space left on device")
    with pytest.raises(OSError):
        atomic_write(path, fail)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.json"]


FLAKY_EVALUATOR = """
import gan_cli.methods.gan as gan
real = gan.GAN.evaluator
def evaluator(self, *a):
    fn, settings = real(self, *a)
    calls = []
    def flaky(nets, seed=0):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the evaluation broke")
        return fn(nets, seed)
    return flaky, settings
gan.GAN.evaluator = evaluator
"""


def test_a_failing_final_evaluation_keeps_the_training(tmp_path):
    run = tmp_path / "run"
    evals = ["eval=default", "eval.metrics=[modes]", "eval.n_samples=100", "eval.every=2"]
    proc = start_gan(run, *TINY, *RING, *evals, patch=FLAKY_EVALUATOR)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, out + err
    assert "Traceback" in out and "Traceback" not in err  # a bug's traceback, in the log
    assert err.strip().splitlines() == [
        "error: the evaluation at step 4 failed (RuntimeError: the evaluation broke); the training "
        f"is kept in {rundir.checkpoint_file(run)} (traceback in the log)"]
    results = assert_describes_its_checkpoint(run)
    assert results["status"] == "completed" and results["steps_done"] == 4
    assert results["eval_error"] == "RuntimeError: the evaluation broke" and results["eval_error_step"] == 4
    assert results["metrics_step"] == 2 and "modes_hit" in results["metrics"]  # step 2's evaluation


SLOW_EVALUATOR = """
import time, gan_cli.methods.gan as gan
def evaluator(self, *a):
    def slow(nets, seed=0):
        print("EVALUATING", flush=True)
        time.sleep(60)
    return slow, {"metrics": ["modes"]}
gan.GAN.evaluator = evaluator
"""


@pytest.mark.slow
def test_a_signal_during_the_final_evaluation_ends_it_keeping_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *TINY, *RING, "train.steps=6", patch=SLOW_EVALUATOR)
    wait_for(proc, "EVALUATING")  # every step trained and saved: nothing is left to wait for
    proc.send_signal(signal.SIGTERM)
    out, err = finish(proc, timeout=30)
    assert proc.returncode == 143 and err.strip() == "terminated (SIGTERM)", out + err
    results = assert_describes_its_checkpoint(run)
    assert results["status"] == "interrupted" and results["steps_done"] == 6


def test_divergence_before_the_first_checkpoint_keeps_the_last_finite_state(tmp_path):
    run = tmp_path / "run"
    diverging = ["optim=sgd", "optim.g.lr=3", "optim.d.lr=3", "train.steps=50", "train.log_every=5",
                 "train.ckpt_every=100"]
    result = run_gan("train", *TINY, *RING, *diverging, f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    results, step = records(run)
    assert results["status"] == "diverged" and results["diverged_at"] == 10
    assert results["checkpoint_step"] == step == 5  # the last log step with finite weights
    ckpt = torch.load(rundir.checkpoint_file(run), weights_only=True)
    assert all(torch.isfinite(w).all() for net in ckpt["nets"].values() for w in net.values())
    sampled = run_gan("sample", f"checkpoint={run}", "n=16", f"out={tmp_path / 's.png'}")
    assert sampled.returncode == 0 and (tmp_path / "s.png").is_file(), sampled.stderr


@pytest.fixture(scope="module")
def ring_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("ring") / "run"
    result = run_gan("train", *TINY, *RING, f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr
    return run


def test_resuming_a_finished_run_is_refused(ring_run):
    run = ring_run
    before = {p: p.read_bytes() for p in (run / rundir.RESULTS, rundir.checkpoint_file(run))}
    for steps in (4, 2):
        result = run_gan("train", *TINY, *RING, f"train.steps={steps}", f"train.resume={run}")
        one_line_error(result, f"train.steps={steps}", "already at step 4", "more steps")
    assert {p: p.read_bytes() for p in before} == before


@pytest.mark.parametrize("change,needle", [
    ("data=grid25", "data.name=grid25 (was ring8)"),
    ("loss=hinge", "loss.name=hinge (was nonsaturating)"),
    ("seed=1", "seed=1 (was 0)"),
    ("optim.g.lr=0.005", "optim.g.lr=0.005 (was 0.001)"),  # ring8's recipe: Adam 1e-3
    pytest.param("train.batch_size=16", "train.batch_size=16 (was 8)", marks=pytest.mark.slow),
    pytest.param("data.std=0.05", "data.std=0.05 (was 0.02)", marks=pytest.mark.slow),
    pytest.param("train.ema=0.5", "train.ema=0.5 (was 0.0)", marks=pytest.mark.slow),
])
def test_resume_that_changes_the_experiment_is_refused(change, needle, ring_run):
    before = (ring_run / rundir.CONFIG).read_text(), (ring_run / rundir.RESULTS).read_text()
    result = run_gan("train", *TINY, *RING, "train.steps=8", change, f"train.resume={ring_run}")
    one_line_error(result, f"train.resume={ring_run}", needle, "would change the experiment")
    assert ((ring_run / rundir.CONFIG).read_text(), (ring_run / rundir.RESULTS).read_text()) == before


def test_resume_may_change_length_and_cadence_and_records_it(tmp_path):
    run = tmp_path / "run"
    assert run_gan("train", *TINY, *RING, f"hydra.run.dir={run}").returncode == 0
    changes = ["train.steps=8", "train.log_every=1", "train.ckpt_every=3", "train.progress=bar"]
    result = run_gan("train", *TINY, *RING, *changes, f"train.resume={run}")
    assert result.returncode == 0, result.stderr
    results = assert_describes_its_checkpoint(run)
    assert results["steps_done"] == 8 and results["resumed"]["from_step"] == 4
    changed = results["resumed"]["changed"]
    assert changed["train.steps"] == [4, 8] and changed["train.log_every"] == [2, 1]
    assert "log_every: 1" in (run / rundir.CONFIG).read_text()  # config.yaml: what ran last


def test_a_second_run_in_a_live_run_directory_is_refused(tmp_path):
    run = tmp_path / "run"
    proc = start_gan(run, *LONG, "train.ckpt_every=10")
    wait_for(proc, "step 20/")  # its checkpoint of step 10 is on disk
    try:
        one_line_error(run_gan("train", *TINY, *RING, f"hydra.run.dir={run}"), "is in use by another",
                       f"pid {proc.pid}")
        one_line_error(run_gan("train", *TINY, *RING, "train.steps=200000", f"train.resume={run}"),
                       "is in use by another")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = finish(proc)
    assert proc.returncode == 130, out + err  # the refused runs left its records alone
    assert assert_describes_its_checkpoint(run)["status"] == "interrupted"


def test_the_lock_is_per_directory_reentrant_and_released(tmp_path):
    with rundir.locked(tmp_path / "a"):
        with rundir.locked(tmp_path / "a"), rundir.locked(tmp_path / "b"):  # in this process
            pass
        other = subprocess.run([sys.executable, "-c", "import sys\nfrom gan_cli import rundir\n"
                                f"with rundir.locked({str(tmp_path / 'a')!r}): pass"],
                               capture_output=True, text=True, env=ENV)
        assert other.returncode == 1 and "is in use by another gan train" in other.stderr
    other = subprocess.run([sys.executable, "-c", "from gan_cli import rundir\n"
                            f"with rundir.locked({str(tmp_path / 'a')!r}): pass"], env=ENV)
    assert other.returncode == 0


def test_a_start_up_signal_that_something_swallowed_still_ends_the_run(monkeypatch):
    """Start-up's handler records the signal it raises; if a library catches the KeyboardInterrupt
    (seen under load while torch imports), the run's Stop raises it again as it takes over, before
    anything trains, and puts the previous handlers back."""
    from gan_cli import stopping
    monkeypatch.setattr(stopping, "EARLY", [])
    try:
        stopping.raise_interrupted(signal.SIGTERM, None)
    except KeyboardInterrupt:
        pass  # the swallowing library
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(stopping.Interrupted) as ended:
        with stopping.Stop().installed():
            pytest.fail("the run went on after a start-up signal")
    assert ended.value.signum == signal.SIGTERM and signal.getsignal(signal.SIGINT) is before
    monkeypatch.setattr(stopping, "EARLY", [])
    with stopping.Stop().installed() as stop:  # no signal: the run starts
        assert not stop.requested
