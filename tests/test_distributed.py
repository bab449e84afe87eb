"""Data-parallel training through torchrun with the gloo backend: 2 real processes on the CPU."""

import json
import logging
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import TINY, compose_train

from gan_cli import distributed
from gan_cli.run import setup, train
from gan_cli.rundir import read_checkpoint

RING = ["data=ring8", "data.n_points=500", "model=mlp"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(tmp_path, *args, nproc=2, timeout=600):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           f"--master_port={free_port()}", "-m", "gan_cli", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=tmp_path, env=env)


def test_torchrun_two_processes_one_run_directory_then_resume_on_one(tmp_path, caplog):
    """One run directory, rank 0 the only writer, weights equal on both ranks; a resume by one
    process continues and says what changed."""
    out = tmp_path / "outputs"
    done = torchrun(tmp_path, *TINY, *RING, "train.steps=6", "train.threads=1", f"paths.output_dir={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = [p.parent for p in out.rglob("results.json")]
    assert len(runs) == 1, runs  # one directory for the run, not one per rank
    run = runs[0]
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_done"] == 6
    assert results["ranks"] == 2 and results["ranks_in_sync"] is True and results["effective_batch"] == 16
    assert len(list(run.glob("events.out.tfevents.*"))) == 1  # only rank 0 writes events
    assert len(list(out.rglob("hydra.yaml"))) == 1           # ... and Hydra's record
    ckpt = read_checkpoint(run)
    assert len(ckpt["rng_ranks"]) == 2
    assert not torch.equal(ckpt["rng_ranks"][0]["cpu"], ckpt["rng_ranks"][1]["cpu"])  # own streams
    with caplog.at_level(logging.WARNING):
        results = train(compose_train(TINY + RING + ["train.steps=8", f"train.resume={run}"]), run)
    assert results["status"] == "completed" and results["steps_done"] == 8
    assert any("written by 2 process(es), this run has 1" in r.getMessage() for r in caplog.records)


def test_torchrun_with_evaluation_completes_and_keeps_the_best(tmp_path):
    """Rank 0 evaluates alone: every rank still enters each evaluation, so that best.pt's gather
    of RNG states and the final evaluation never leave one rank waiting in another collective
    (this hung until the 2-hour timeout)."""
    tiny = [a for a in TINY if a != "eval=off"]
    done = torchrun(tmp_path, *tiny, *RING, "train.steps=6", "train.threads=1", "eval.every=2",
                    "eval.n_samples=200", f"hydra.run.dir={tmp_path / 'run'}", timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["ranks"] == 2
    assert results["metrics_step"] == 6 and "mode_score" in results["metrics"], results
    assert (tmp_path / "run" / "checkpoints" / "best.pt").is_file()
    best = read_checkpoint(tmp_path / "run" / "checkpoints" / "best.pt")
    assert len(best["rng_ranks"]) == 2  # gathered from both ranks


def _rank(rank: int, init: str, out: dict) -> None:
    os.environ.update(WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank))
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    torch.set_num_threads(1)
    cfg = compose_train(TINY + RING)
    torch.manual_seed(0)
    data, _, method, _ = setup(cfg, torch.device("cpu"))
    batch = data.sample(4)
    for it in range(1, 4):
        method.step(data, it)
    synced = distributed.in_sync(method.nets)
    with torch.no_grad():  # now break it: rank 1's G moves
        next(method.nets["G"].parameters()).add_(rank)
    out[rank] = {"batch": batch, "synced": synced, "after": distributed.in_sync(method.nets)}
    dist.destroy_process_group()


def test_the_python_api_under_torchrun_trains_one_run_on_both_ranks(tmp_path):
    """gan_cli.api.train joins torchrun's process group as `gan train` does: one run directory,
    two ranks (each rank trained alone before, into the same directory)."""
    script = tmp_path / "job.py"
    overrides = [*TINY, *RING, "train.steps=4", "train.threads=1"]
    script.write_text(f"from gan_cli import api\napi.train({overrides!r}, {str(tmp_path / 'run')!r})\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={free_port()}", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["ranks"] == 2 and results["ranks_in_sync"] is True


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_finish_ends_the_gloo_threads_when_the_training_code_is_imported_after_init(tmp_path):
    """`gan train` joins the group before it imports the training code (torchvision, and through
    it torch._dynamo). That import once kept the group alive past finish(): its gloo threads
    outlived the interpreter, and 2 exits in about 180 aborted with SIGABRT (CI, 2026-12-07)."""
    script = tmp_path / "job.py"
    script.write_text("import gc, os\nfrom gan_cli import distributed\ndistributed.init()\n"
                      "import gan_cli.run  # noqa: F401\ndistributed.finish()\ngc.collect()\n"
                      "print('threads', len(os.listdir('/proc/self/task')))\n")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={free_port()}", str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stdout.splitlines() if line.startswith("threads")] == ["threads 1"] * 2


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (torchrun's workers), from /proc."""
    found = []
    for stat in os.listdir("/proc"):
        if stat.isdigit():
            try:
                fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(stat))
    return found


def test_sigterm_to_one_rank_stops_both_at_the_same_log_step(tmp_path):
    """The stop vote is held at log steps (a collective and a read back each time): both ranks
    leave at the same multiple of train.log_every, write the checkpoint and say interrupted."""
    import signal
    import time

    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           f"--master_port={free_port()}", "-m", "gan_cli", "train", *RING, "train.steps=100000",
           "train.log_every=5", "train.batch_size=8", "train.progress=log", "device=cpu", "eval=off",
           "train.threads=1", f"hydra.run.dir={tmp_path / 'run'}"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = tmp_path / "run" / "train.log"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and "step 10/" in log.read_text()):
        time.sleep(0.5)
    workers = children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(max(workers), signal.SIGTERM)  # one rank only
    proc.communicate(timeout=120)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "interrupted" and results["steps_done"] % 5 == 0, results
    assert read_checkpoint(tmp_path / "run")["step"] == results["steps_done"]


def _fp16_rank(rank: int, init: str, out: dict) -> None:
    from gan_cli.precision import Precision

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    before = [p.detach().clone() for p in net.parameters()]
    opt, amp = torch.optim.SGD(net.parameters(), lr=0.1), Precision("fp16", "cpu")
    loss = net(torch.ones(2, 3)).sum() * (float("inf") if rank == 1 else 1.0)  # rank 1 overflows
    amp.minimize(loss, opt)
    amp.update()
    out[rank] = {"scale": amp.scaler.get_scale(),
                 "moved": any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))}
    dist.destroy_process_group()


def test_fp16_skips_a_step_that_overflowed_on_any_rank(tmp_path):
    """The averaged gradients keep their inf: every rank's scaler skips the step and halves the
    scale (cleaning them first hid the overflow and stepped on garbage)."""
    out = mp.Manager().dict()
    mp.spawn(_fp16_rank, args=(f"file://{tmp_path / 'rendezvous'}", out), nprocs=2)
    for rank in (0, 1):
        assert out[rank] == {"scale": 2.0 ** 15, "moved": False}, (rank, dict(out[rank]))


def test_ranks_draw_their_own_batches_and_stay_in_sync(tmp_path):
    """setup() + step() on 2 gloo ranks: different real batches, identical weights after
    averaged updates, and in_sync() notices when they are not."""
    out = mp.Manager().dict()
    mp.spawn(_rank, args=(f"file://{tmp_path / 'rendezvous'}", out), nprocs=2)
    assert not torch.equal(out[0]["batch"], out[1]["batch"])
    assert out[0]["synced"] and out[1]["synced"]
    assert not out[0]["after"] and not out[1]["after"]


@pytest.mark.slow
def test_torchrun_resume_with_the_same_world_size_is_exact(tmp_path):
    base = [*TINY, *RING, "train.threads=1"]
    for name, steps in (("full", 6), ("part", 3)):
        done = torchrun(tmp_path, *base, f"train.steps={steps}", f"hydra.run.dir={tmp_path / name}")
        assert done.returncode == 0, done.stderr[-3000:]
    done = torchrun(tmp_path, *base, "train.steps=6", f"train.resume={tmp_path / 'part'}")
    assert done.returncode == 0, done.stderr[-3000:]
    full, part = read_checkpoint(tmp_path / "full"), read_checkpoint(tmp_path / "part")
    for name in full["nets"]:
        for key, value in full["nets"][name].items():
            assert torch.equal(value, part["nets"][name][key]), (name, key)


def test_torchrun_refuses_a_sweep(monkeypatch):
    from gan_cli.cli import torchrun_overrides
    from gan_cli.errors import ConfigError

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="torchrun runs one training job"):
        torchrun_overrides(["-m", "seed=0,1"])
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert torchrun_overrides(["-m", "seed=0,1"]) == []


@pytest.mark.slow
def test_submitit_tasks_per_node_train_one_run_together(tmp_path):
    """The SLURM path through submitit's local executor: 2 tasks of one job become 2 ranks."""
    done = subprocess.run([sys.executable, "-m", "gan_cli", "train", "-m", *TINY, *RING, "train.threads=1",
                           "hydra/launcher=submitit_local", "hydra.launcher.tasks_per_node=2",
                           f"paths.output_dir={tmp_path}"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    (found,) = tmp_path.rglob("results.json")
    results = json.loads(found.read_text())
    assert results["status"] == "completed" and results["ranks"] == 2 and results["ranks_in_sync"] is True


def test_torchrun_trains_stackgan_across_its_stage_switch(tmp_path):
    """StackGAN under 2 ranks: Stage I, then Stage II with Stage I frozen, weights in sync at the end
    (Stage II's nets get gradients only after the switch, on every rank at the same step)."""
    stack = ["method=stackgan", "data.n_images=64", "model.g.width=8", "model.d.width=8", "model.z_dim=8",
             "model.g.c_dim=8", "model.d.c_dim=8", "model.g.emb_dim=16", "model.d.emb_dim=16",
             "model.stage1_steps=2", "train.steps=4", "train.batch_size=8", "train.threads=1",
             "train.progress=log", "eval=off", f"hydra.run.dir={tmp_path / 'run'}"]
    done = torchrun(tmp_path, *stack, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["status"] == "completed" and results["steps_done"] == 4, results
    assert results["ranks"] == 2 and results["ranks_in_sync"] is True
    assert int(read_checkpoint(tmp_path / "run")["nets"]["G"]["stage"]) == 2
