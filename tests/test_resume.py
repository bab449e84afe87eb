"""Resuming: an interrupted-then-resumed CPU run ends with the same weights as an uninterrupted one."""

import json
import signal
import subprocess
import sys

import pytest
import torch
from conftest import TINY, compose_train
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from gan_cli.run import train

RING = ["model=mlp", "data=ring8", "data.n_points=500", "train.d_steps=2"]


def weights(run_dir):
    ckpt = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    return ckpt


def assert_same_state(a, b):
    for net in ("G", "D"):
        assert a["nets"][net].keys() == b["nets"][net].keys()
        assert all(torch.equal(a["nets"][net][k], b["nets"][net][k]) for k in a["nets"][net]), net
    assert torch.equal(a["rng"]["cpu"], b["rng"]["cpu"])
    assert a["step"] == b["step"]


def test_resume_matches_uninterrupted_run(tmp_path):
    full = train(compose_train(TINY + RING + ["train.steps=8"]), tmp_path / "full")
    train(compose_train(TINY + RING + ["train.steps=5"]), tmp_path / "part")
    resumed = train(compose_train(TINY + RING + ["train.steps=8", f"train.resume={tmp_path / 'part'}"]),
                    tmp_path / "part")
    assert resumed["status"] == full["status"] == "completed" and resumed["steps_done"] == 8
    assert_same_state(weights(tmp_path / "full"), weights(tmp_path / "part"))
    assert resumed["final"] == full["final"]
    # Adam's moments continue too, not just the weights.
    opt_full, opt_part = weights(tmp_path / "full")["opts"]["g"], weights(tmp_path / "part")["opts"]["g"]
    assert all(torch.equal(opt_full["state"][i]["exp_avg"], opt_part["state"][i]["exp_avg"])
               for i in opt_full["state"])


def test_resume_is_exact_with_the_metrics_on(tmp_path):
    """Setting the metrics up (the feature classifier is built, and scored on the real data) at
    the start of every part must not move the random streams, or the parts drift apart."""
    mnist = ["data=mnist", "train.lr_decay_from=1", f"paths.data_dir={tmp_path / 'data'}",
             "data.download=false", "model.g.width=8", "model.d.width=8", "train.ema=0", "eval=default",
             "eval.every=0", "eval.n_samples=48",
             "eval.classifier_epochs=1"]
    train(compose_train(TINY + mnist + ["train.steps=3"]), tmp_path / "full")
    train(compose_train(TINY + mnist + ["train.steps=1"]), tmp_path / "part")
    resume = [f"train.resume={tmp_path / 'part'}"]
    train(compose_train(TINY + mnist + ["train.steps=3", *resume]), tmp_path / "part")
    assert_same_state(weights(tmp_path / "full"), weights(tmp_path / "part"))


def test_resume_curves_have_no_duplicate_steps(tmp_path):
    run = tmp_path / "run"
    # Logs at steps 2, 4, 6 but its last periodic checkpoint is at step 4 (ckpt_every=4)...
    train(compose_train(TINY + RING + ["train.steps=6", "train.ckpt_every=4"]), run)
    ckpt = weights(run)
    # ...pretend it crashed after logging step 6: roll the checkpoint back to step 4.
    part = tmp_path / "ckpt4"
    train(compose_train(TINY + RING + ["train.steps=4"]), part)
    (run / "checkpoints" / "last.pt").write_bytes((part / "checkpoints" / "last.pt").read_bytes())
    assert ckpt["step"] == 6
    train(compose_train(TINY + RING + ["train.steps=8", f"train.resume={run}"]), run)
    acc = EventAccumulator(str(run), size_guidance={SCALARS: 0})
    acc.Reload()
    assert [e.step for e in acc.Scalars("loss/d")] == [2, 4, 6, 8]


def test_ctrl_c_saves_and_resume_is_exact(tmp_path):
    """SIGINT a real `gan train`, resume it, and compare with an uninterrupted run."""
    steps = 400
    args = [f"train.steps={steps}", "train.batch_size=32", "train.log_every=1", "train.progress=log",
            "train.sample_every=1000", "train.ckpt_every=1000", "device=cpu", *RING]
    cmd = [sys.executable, "-c", "from gan_cli.cli import main; main()", "train", *args]
    run = tmp_path / "run"
    proc = subprocess.Popen(cmd + [f"hydra.run.dir={run}"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # wait until training is under way
        if "step 20/" in line:
            break
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 130, output
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "interrupted" and 20 <= results["steps_done"] < steps
    assert weights(run)["step"] == results["steps_done"]

    resumed = subprocess.run(cmd + [f"train.resume={run}", f"hydra.run.dir={tmp_path / 'r2'}"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "results.json").read_text())["status"] == "completed"
    full = subprocess.run(cmd + [f"hydra.run.dir={tmp_path / 'full'}"], capture_output=True,
                          text=True, timeout=300)
    assert full.returncode == 0, full.stderr
    assert_same_state(weights(tmp_path / "full"), weights(run))


def test_ema_is_saved_resumed_and_used_for_sampling(tmp_path):
    ema = ["train.ema=0.9"]
    train(compose_train(TINY + RING + ema + ["train.steps=8"]), tmp_path / "full")
    train(compose_train(TINY + RING + ema + ["train.steps=5"]), tmp_path / "part")
    train(compose_train(TINY + RING + ema + ["train.steps=8", f"train.resume={tmp_path / 'part'}"]),
          tmp_path / "part")
    full, part = weights(tmp_path / "full"), weights(tmp_path / "part")
    avg_full, avg_part = full["averaged"]["G"], part["averaged"]["G"]
    assert all(torch.equal(avg_full[k], avg_part[k]) for k in avg_full)
    assert not all(torch.equal(avg_full[k], full["nets"]["G"][k]) for k in full["nets"]["G"])
    from gan_cli.rundir import read_checkpoint, rebuild
    _, nets = rebuild(read_checkpoint(tmp_path / "full"), "cpu")  # what gan sample draws from
    assert all(torch.equal(v, avg_full[k]) for k, v in nets["G"].state_dict().items())


def test_ema_update_formula():
    from gan_cli.run import ema_update
    G, G_ema = torch.nn.Linear(2, 1), torch.nn.Linear(2, 1)
    before = G_ema.weight.detach().clone()
    ema_update(G_ema, G, 0.9)
    assert torch.allclose(G_ema.weight, 0.9 * before + 0.1 * G.weight)


def test_ema_warm_up_follows_stylegan2_ada_rampup():
    """Half-life min(ln 0.5 / ln decay, rampup * step) steps: step 1 nearly copies G, the decay grows
    with the steps and stops at train.ema; rampup 0 (or no EMA) leaves the decay as it is."""
    from gan_cli.run import ema_decay
    assert ema_decay(0.999, 0.05, 1) < 1e-6
    assert ema_decay(0.999, 0.05, 1000) == pytest.approx(0.5 ** (1 / 50))  # half-life 50 steps
    assert ema_decay(0.999, 0.05, 10 ** 6) == 0.999
    assert [ema_decay(0.999, 0.05, s) for s in (10, 100, 1000)] == sorted(ema_decay(0.999, 0.05, s)
                                                                         for s in (10, 100, 1000))
    assert ema_decay(0.999, 0.0, 1) == 0.999 and ema_decay(0.0, 0.05, 1) == 0.0


@pytest.mark.parametrize("rampup,near", [("0.05", "G"), ("0", "start")])
def test_a_short_run_averages_the_trained_g_only_with_the_warm_up(rampup, near, tmp_path):
    """train.ema=0.999 over 30 steps: with the warm-up the average sits near the trained G; without
    it, the average is still mostly the initial weights (97% of them after 30 steps)."""
    torch.manual_seed(0)
    cfg = compose_train(TINY + RING + ["train.ema=0.999", f"train.ema_rampup={rampup}", "train.steps=30"])
    from gan_cli.run import setup
    start = {k: v.clone() for k, v in setup(cfg, torch.device("cpu"))[2].nets["G"].state_dict().items()}
    train(cfg, tmp_path)
    ckpt = weights(tmp_path)
    avg, G = ckpt["averaged"]["G"], ckpt["nets"]["G"]
    to_g = sum((avg[k] - G[k]).norm() for k in G)
    to_start = sum((avg[k] - start[k]).norm() for k in G)
    assert (to_g < to_start) == (near == "G"), (float(to_g), float(to_start))
