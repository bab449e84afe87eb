"""The runner: the step loop and everything around it, once for every method.

Cadence (log / sample / evaluate / checkpoint), progress, stopping on a signal
(gan_cli/stopping.py), divergence, moving averages, exact resume, results.json and
TensorBoard HParams. It knows no GAN maths:
the method (gan_cli/methods/, chosen by `method=`) says what one iteration is.

`train(cfg, out_dir)` knows nothing of Hydra; cli.py calls it.
"""

import copy
import logging
import math
import os
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from gan_cli import distributed, rundir
from gan_cli.checkpoint import checkpoint_dict, rng_state, set_rng_state, write_checkpoint
from gan_cli.config import resolve_device, validate_train
from gan_cli.data import Data, load_data
from gan_cli.errors import ConfigError
from gan_cli.evaluate import print_metrics
from gan_cli.files import atomic_write, write_json
from gan_cli.health import grad_norm, print_verdict
from gan_cli.images import save_png
from gan_cli.methods import method_class
from gan_cli.models import count_params
from gan_cli.progress import TrainingProgress
from gan_cli.snapshots import Keeper
from gan_cli.stopping import Stop

log = logging.getLogger(__name__)


def ema_decay(decay: float, rampup: float, step: int) -> float:
    """The decay at this step: train.ema, or less while the half-life (in steps) that train.ema
    gives, ln 0.5 / ln decay, exceeds rampup * step (StyleGAN2-ADA's ema_rampup). Without it a
    0.999 average over 300 steps is still 74% the initial weights; with it, step 1 copies G."""
    if rampup <= 0 or decay <= 0:
        return decay
    return min(decay, 0.5 ** (1 / (rampup * step)))


def ema_update(avg, net, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * net for the weights; buffers (batchnorm stats) copied.
    The _foreach forms launch one kernel for all tensors (a loop launches one per tensor)."""
    with torch.no_grad():
        torch._foreach_lerp_(list(avg.parameters()), list(net.parameters()), 1 - decay)
        buffers = list(avg.buffers())
        if buffers:
            torch._foreach_copy_(buffers, list(net.buffers()))


# What a resume may change: how long it trains, how often it logs, samples, evaluates and saves,
# and where and how it runs. Any other setting changes the experiment and is refused.
RESUME_MAY_CHANGE = ("train.steps", "train.log_every", "train.sample_every", "train.ckpt_every",
                     "train.n_samples", "train.resume", "train.progress", "train.diverged_exit_code",
                     "train.threads", "train.keep_snapshots", "train.precision", "train.channels_last",
                     "train.compile", "train.deterministic", "device", "eval", "paths", "data.root",
                     "data.download", "data.cache")


def leaves(node, prefix: str = ""):
    """(dotted key, value) of every setting in a nested config; a list is one setting."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, node


def changed_settings(old: dict, new: dict) -> dict:
    """key -> (old, new) for every setting that both configs hold and that differs."""
    before, after = dict(leaves(old)), dict(leaves(new))
    return {key: (before[key], after[key]) for key in sorted(before.keys() & after.keys())
            if before[key] != after[key]}


def check_resumable(ckpt: dict, cfg, info: dict, path) -> dict:
    """Resuming continues the same experiment: same method, architecture, data, loss, seed and
    optimizer settings. Returns the settings it changes (all in RESUME_MAY_CHANGE)."""
    old, new = ckpt["config"], OmegaConf.to_container(cfg, resolve=True)
    changed = changed_settings(old, new)
    refused = [f"{k}={v[1]} (was {v[0]})" for k, v in changed.items()
               if not any(k == p or k.startswith(p + ".") for p in RESUME_MAY_CHANGE)]
    if refused:
        raise ConfigError(f"train.resume={path}: {', '.join(refused)} would change the experiment; "
                          "resume with the checkpoint's settings (a resume may change only "
                          "train.steps, the logging, sample, eval and checkpoint cadence, "
                          "train.threads/progress/keep_snapshots, precision, compile, "
                          "channels_last, deterministic, device and paths)")
    # Settings one of the configs lacks (a gan-cli 0.1 checkpoint): what must still agree.
    from gan_cli.models import with_added_keys  # keys filled in on load: compare like with like

    for key in ("method", "model"):
        same = (with_added_keys(old.get(key)) == with_added_keys(new[key]) if key == "model"
                else old.get(key) == new[key])
        if not same:
            raise ConfigError(f"train.resume={path}: the checkpoint was trained with {key}={old.get(key)}"
                              f", this run asks for {key}={new[key]}; use the same {key} options")
    shapes = {k: v for k, v in ckpt["data"].items() if k not in ("source", "plot_limit")}
    if shapes != {k: v for k, v in info.items() if k not in ("source", "plot_limit")}:
        raise ConfigError(f"train.resume={path}: the checkpoint's data is {shapes}, this run's data is "
                          f"{ {k: v for k, v in info.items() if k in shapes} }")
    for net, node in new["optim"].items():
        if old["optim"].get(net, {}).get("name") != node["name"]:
            raise ConfigError(f"train.resume={path}: optim.{net} was {old['optim'].get(net, {}).get('name')}"
                              f", this run asks for {node['name']}")
    return changed


def setup(cfg, device):
    """The data, the method (its nets and optimizers) and the moving averages (train.ema > 0).
    Under torchrun every rank builds the same nets (same seed, then rank 0's broadcast), then
    draws its own batches and noise from seed * world + rank."""
    data = load_data(cfg.data, device)
    Method = method_class(cfg.method)
    info = Method.info(data)
    method = Method(cfg, info, device)
    if not cfg.train.resume and distributed.is_main():  # a resume's checkpoint holds what this set up
        method.pretrain(data, feature_cache(cfg))  # StackGAN's cached text encoder; else nothing
    distributed.broadcast_nets(method.nets)
    if distributed.world() > 1:
        torch.manual_seed(int(cfg.seed) * distributed.world() + distributed.rank())
    prepare(method, cfg.train)
    averaged = {name: copy.deepcopy(method.nets[name]).requires_grad_(False)
                for name in method.averaged} if cfg.train.ema > 0 else {}
    return data, info, method, averaged


def prepare(method, t) -> None:
    """train.channels_last and train.compile on every net, by name; a net the method marks as
    unable to compile (method.no_compile: name -> why) stays eager with one warning."""
    for name, net in method.nets.items():
        if not any(True for _ in net.parameters()):  # buffers only (an image pool): nothing to run faster
            continue
        if t.get("channels_last"):
            net.to(memory_format=torch.channels_last)  # 4-D weights only: a no-op for an MLP
        if t.get("compile"):
            if name in method.no_compile:
                log.warning(f"train.compile: {name} stays eager: {method.no_compile[name]}")
            else:
                net.compile()  # in place: state_dict keys and attributes stay as they are


def restore_rng(cfg, ckpt: dict) -> None:
    """Each rank's own RNG state; with another number of processes, fresh streams (said so)."""
    ranks = ckpt.get("rng_ranks") or [ckpt["rng"]]
    if len(ranks) == distributed.world():
        set_rng_state(ranks[distributed.rank()])
        return
    torch.manual_seed(int(cfg.seed) * distributed.world() + distributed.rank() + int(ckpt["step"]))
    log.warning(f"train.resume: the checkpoint was written by {len(ranks)} process(es), this run has "
                f"{distributed.world()}: weights and optimizers continue exactly, the random streams "
                f"start afresh and the effective batch is now {distributed.world()} x train.batch_size")


def resume_from(cfg, info: dict, method, averaged: dict, device) -> tuple[int, dict]:
    """Load train.resume's states into the nets, optimizers and averages; return its step and the
    settings this part changes. A checkpoint already at train.steps is refused: a finished run's
    results are never replaced by a run that trained nothing."""
    path = cfg.train.resume
    ckpt = rundir.read_checkpoint(path, map_location=device)
    changed = check_resumable(ckpt, cfg, info, path)
    if ckpt["step"] >= cfg.train.steps:
        raise ConfigError(f"train.steps={cfg.train.steps}: the checkpoint {path} is already at step "
                          f"{ckpt['step']}; ask for more steps to continue it")
    rundir.load_state(method, ckpt, f"train.resume={path}", averaged)
    method.amp.load_state_dict(ckpt.get("scaler"))
    restore_rng(cfg, ckpt)
    log.info(f"Resuming from {path} at step {ckpt['step']}"
             + "".join(f"; {k}: {v[0]} -> {v[1]}" for k, v in changed.items() if k != "train.resume"))
    return int(ckpt["step"]), changed


def log_start(writer: SummaryWriter, cfg, data: Data, method, device) -> None:
    """Parameter counts, data source and the resolved config, to the log and TensorBoard."""
    log.info(" | ".join(f"{name}: {count_params(net):,} parameters" for name, net in method.nets.items()
                        if count_params(net)))  # not the nets that are only state (image pools)
    log.info(f"Data: {data.source}, shape {data.shape}, device {device}")
    writer.add_text("data/source", data.source)
    yaml = OmegaConf.to_yaml(cfg, resolve=True)
    writer.add_text("config", "\n".join("    " + line for line in yaml.splitlines()))


def saved_config(cfg, data: Data) -> dict:
    """The resolved config plus data.source: which data the run really used (MNIST or fallback)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config["data"]["source"] = data.source
    return config


def caption_table(captions: list[str]) -> str:
    """The sample grid's captions as a Markdown table, in the grid's rows (image_grid's layout)."""
    per_row = max(1, int(math.sqrt(len(captions))))
    rows = [captions[i:i + per_row] for i in range(0, len(captions), per_row)]
    return "\n".join(["| row | " + " | ".join(f"column {j + 1}" for j in range(per_row)) + " |",
                      "|---" * (per_row + 1) + "|"] + [f"| {i + 1} | " + " | ".join(r) + " |"
                                                     for i, r in enumerate(rows)])


def log_diagnostics(writer, step: int, stats: dict, method, view: dict, probe: dict) -> dict:
    """The step's stats under the method's tags, every trained net's gradient norm and the
    method's own diagnostics (drawn from `view`, the averaged nets where there are any)."""
    entry = {"step": step, **{k: float(v) for k, v in stats.items()}}
    for key, value in entry.items():
        if key in method.tags:
            writer.add_scalar(method.tags[key], value, step)
    extra = {f"grad_norm_{name.lower()}": grad_norm(net) for name, net in method.nets.items()
             if count_params(net)}
    extra.update(method.diagnostics(view, probe))
    for key, value in extra.items():
        writer.add_scalar(f"diag/{key}", value, step)
    return {**entry, **extra}


def log_metrics(writer, step: int, values: dict) -> dict:
    """Write each figure of an evaluation under metrics/."""
    for key, value in values.items():
        writer.add_scalar(f"metrics/{key}", value, step)
    return {"step": step, **values}


def on_every_rank(evaluate):
    """Rank 0 evaluates; under torchrun the other ranks get a stand-in that returns None, so that
    every rank enters each evaluation and joins its collectives (rank 0's figures, best.pt's
    gather of RNG states) at the same step instead of waiting in different ones."""
    if distributed.broadcast(evaluate is not None) and evaluate is None:
        return lambda view: None
    return evaluate


class NullWriter:
    """TensorBoard for ranks other than 0: only rank 0 writes events."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def finite(nets: dict) -> bool:
    """Whether every weight is finite: one read back from the device for all of them."""
    checks = [torch.isfinite(p).all() for net in nets.values() for p in net.parameters()]
    return bool(torch.stack(checks).all()) if checks else True


def refresh(kept, new):
    """A copy of `new` (a checkpoint's nested dicts and lists), written into the tensors of `kept`,
    an earlier copy, where shapes, dtypes and devices agree: no new allocations at each log step."""
    if torch.is_tensor(new):
        same = (torch.is_tensor(kept) and kept.shape == new.shape and kept.dtype == new.dtype
                and kept.device == new.device)
        return kept.copy_(new) if same else new.detach().clone()
    if isinstance(new, dict):
        kept = kept if isinstance(kept, dict) else {}
        return {key: refresh(kept.get(key), value) for key, value in new.items()}
    if isinstance(new, (list, tuple)):
        kept = kept if isinstance(kept, (list, tuple)) and len(kept) == len(new) else [None] * len(new)
        return type(new)(refresh(k, v) for k, v in zip(kept, new))
    return copy.deepcopy(new)


@contextmanager
def writing(what, note: str = ""):
    """A file that cannot be written (a full disk, a read-only folder) ends the run with one line."""
    try:
        yield
    except OSError as e:
        raise ConfigError(f"could not write {what} ({e.strerror or e}){note}") from None


class Checkpoints:
    """checkpoints/last.pt and the step it holds (`step`, None while there is none), and the last
    finite state, copied in memory at each log step, so that a run that diverges before (or
    long after) its last checkpoint leaves that state to inspect."""

    def __init__(self, path: Path, method, averaged: dict, record: dict, stop: Stop, keep: int = 0):
        self.path, self.method, self.averaged, self.stop, self.step = path, method, averaged, stop, None
        self.record = record  # config and data, as checkpoint_dict takes them
        self.last_finite = None
        self.keeper = Keeper(path.parent.parent, keep, writes=distributed.is_main())  # snapshots, best.pt

    def state(self, step: int) -> dict:
        rngs = distributed.gather(rng_state())  # a collective: every rank calls state() alike
        return checkpoint_dict(step=step, nets=self.method.nets, opts=self.method.opts,
                               averaged=self.averaged, scaler=self.method.amp.state_dict(),
                               rng_ranks=rngs, **self.record)

    def remember(self, step: int) -> None:
        if finite(self.method.nets):
            self.last_finite = refresh(self.last_finite, self.state(step))

    def write(self, ckpt: dict) -> None:
        """Never cut in half by a signal; a full disk leaves the previous file whole."""
        kept = f"; it still holds step {self.step}" if self.step is not None else ""
        if not distributed.is_main():  # only rank 0 writes; the others only keep count
            self.step = ckpt["step"]
            return
        with self.stop.protected():
            with writing(f"the checkpoint of step {ckpt['step']} to {self.path}", kept):
                write_checkpoint(self.path, ckpt)
                self.keeper.snapshot(ckpt["step"])
            self.step = ckpt["step"]

    def save(self, step: int) -> bool:
        """Write the current state; if it holds NaN/Inf, the last finite one instead, and False."""
        if finite(self.method.nets):
            self.write(self.state(step))
            return True
        self.save_last_finite()
        return False

    def save_best(self, step: int, metrics: dict) -> None:
        """best.pt when this evaluation is the best so far by the headline metric. Every rank
        decides alike (same figures, same record) and takes part in state()'s gather."""
        def save_to(step, path) -> bool:
            if not finite(self.method.nets):
                return False
            ckpt = self.state(step)
            if distributed.is_main():
                with self.stop.protected(), writing(f"the best checkpoint to {path}"):
                    write_checkpoint(path, ckpt)
            return True
        self.keeper.consider(step, metrics, save_to)

    def save_last_finite(self) -> None:
        if self.last_finite and (self.step is None or self.last_finite["step"] > self.step):
            self.write(self.last_finite)
            log.warning(f"Diverged: {self.path} holds the last finite state, step {self.step}")


def evaluate_safely(out: dict, writer, step: int, evaluate, view: dict, ckpts: Checkpoints) -> bool:
    """Evaluate (and keep best.pt); an error is logged and recorded in out["eval_error"], and never
    ends training."""
    values, error = None, None
    try:
        values = evaluate(view)  # rank 0's figures; None on the other ranks
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        log.exception(f"The evaluation at step {step} failed; no more metrics in this run")
    values, error = distributed.broadcast((values, error))  # every rank takes rank 0's outcome
    if error:
        out.update(eval_error=error, eval_error_step=step)
        return False
    out["evals"].append(log_metrics(writer, step, values))
    ckpts.save_best(step, out["evals"][-1])
    return True


def loop(cfg, out_dir: Path, writer, data: Data, method, averaged: dict, start: int, evaluate,
         ckpts: Checkpoints, out: dict) -> None:
    """Steps start+1 .. train.steps with logging, evaluation, samples and checkpoints, stopping
    early on a signal (ckpts.stop) or divergence; `out` records how far it got."""
    t, every, stop = cfg.train, cfg.eval.every, ckpts.stop
    probe = method.probe(data, t.n_samples, int(cfg.seed))
    if probe.get("captions") and writer is not None:  # text-to-image: what each grid cell was asked for
        writer.add_text("samples/captions", caption_table(probe["captions"]))
    device = next(p.device for net in method.nets.values() for p in net.parameters())  # for rank votes
    view = {**method.nets, **averaged}  # samples and metrics come from the averages when on
    tick, tick_step = time.perf_counter(), start
    main = distributed.is_main()
    progress = t.progress if main else "log"  # other ranks log errors only (cli.py): silent
    with TrainingProgress(progress, start, t.steps) as bar:
        for step in range(start + 1, t.steps + 1):
            stats = method.step(data, step)
            for name, avg in averaged.items():
                ema_update(avg, method.nets[name], ema_decay(t.ema, t.ema_rampup, step))
            out.update(steps_done=step, final=stats)
            bar.advance()
            if step % t.log_every == 0 or step == t.steps:
                now = time.perf_counter()
                out["history"].append(log_diagnostics(writer, step, stats, method, view, probe))
                bar.update(step, method.status(out["history"][-1]), (step - tick_step) / (now - tick))
                tick, tick_step = now, step
                if distributed.any_rank(not all(math.isfinite(float(v)) for v in stats.values()), device):
                    out.update(status="diverged", diverged_at=step)
                    break
            if evaluate and every and step % every == 0 and step != t.steps:  # the last: after saving
                evaluate = evaluate if evaluate_safely(out, writer, step, evaluate, view, ckpts) else None
            if main and (step % t.sample_every == 0 or step == t.steps):
                img = method.show(view, probe, data)
                writer.add_image("samples", img, step)
                with writing(f"a sample grid to {out_dir / rundir.SAMPLES}"):
                    save_png(img, out_dir / rundir.SAMPLES / f"step_{step:06d}.png")
            if step % t.log_every == 0:
                ckpts.remember(step)
            if step % t.ckpt_every == 0 and step != t.steps and not ckpts.save(step):
                out.update(status="diverged", diverged_at=step)
                break
            # every rank leaves at the same step; under torchrun the vote (a collective and a read
            # back) is held at log steps only, so a stop takes effect within train.log_every steps
            voting = distributed.world() == 1 or step % t.log_every == 0
            signum = distributed.largest(int(stop.signum or 0), device) if voting else 0
            if signum:  # the signal any rank got (this rank may have got none)
                out.update(status="interrupted", signal=signal.Signals(signum).name)
                break


def finish(out: dict, ckpts: Checkpoints, writer, evaluate, view: dict, t) -> None:
    """The last checkpoint, then (for a run that trained all its steps) the final evaluation:
    an evaluation that fails cannot lose the training."""
    if out["status"] == "diverged":
        ckpts.save_last_finite()
    elif ckpts.step != out["steps_done"] and not ckpts.save(out["steps_done"]):
        out.update(status="diverged", diverged_at=out["steps_done"])
    ckpts.stop.armed = False  # nothing left to save: a signal now ends the evaluation at once
    if evaluate and out["status"] == "completed" and out["steps_done"] == t.steps:
        evaluate_safely(out, writer, t.steps, evaluate, view, ckpts)


def feature_cache(cfg) -> Path:
    """Where feature classifiers are cached: beside the datasets."""
    return Path(str(cfg.paths.data_dir)) / "gan_cli_features"


def summarise(outcome: dict, method, t, start: int) -> dict:
    """results.json fields from the loop's outcome: throughput, final metrics, health verdict."""
    history, evals = outcome.pop("history"), outcome.pop("evals")
    done = outcome["steps_done"] - start
    outcome["final"] = {k: float(v) for k, v in outcome["final"].items()}
    metrics = {k: v for k, v in evals[-1].items() if k != "step"} if evals else {}
    findings = method.verdict(history, evals, outcome.get("diverged_at"))
    return {**outcome, "metrics": metrics, "metrics_step": evals[-1]["step"] if evals else None,
            "health": findings,  # real images through D per second, all ranks together
            "images_per_s": done * t.batch_size * t.d_steps * distributed.world() / outcome["loop_s"]}


def log_hparams(writer: SummaryWriter, hparams: dict, results: dict) -> None:
    """One HParams session for TensorBoard: the job's swept settings and status, with its
    metrics/* scalars as the metric columns (the same keys in every job of a sweep)."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary

    keys = results.get("eval", {}).get("keys", [])
    exp, ssi, sei = hparams_summary({**hparams, "status": results["status"]},
                                    {f"metrics/{k}": 0.0 for k in keys})  # only names are used
    for summary in (exp, ssi, sei):
        writer.file_writer.add_summary(summary)


def train(cfg, out_dir, hparams: dict | None = None) -> dict:
    """Train as cfg says; write events, samples, checkpoints/last.pt and results.json to out_dir,
    holding its lock. hparams (a sweep's swept settings) also go to TensorBoard's HParams."""
    validate_train(cfg)
    stop = Stop()
    with rundir.locked(out_dir), stop.installed():
        return run(cfg, Path(out_dir), hparams, stop)


def ended_early(results: dict, out: dict, ckpts: Checkpoints, start: int) -> None:
    """A run ended by an error or a second signal: its results describe its checkpoint on disk
    (where a resume continues), and stopped_at says how far it had trained."""
    kept = ckpts.step if ckpts.step is not None else start
    if out["steps_done"] != kept:
        results["stopped_at"] = out["steps_done"]
    results["steps_done"] = kept


def save_results(out_dir: Path, results: dict, stop: Stop) -> bool:
    """results.json, whole; False (and a logged line) if it cannot be written."""
    try:
        with stop.protected():
            write_json(out_dir / rundir.RESULTS, results)
        return True
    except OSError as e:
        log.error(f"could not write {out_dir / rundir.RESULTS} ({e.strerror or e})")
        return False


def first_results(cfg, data: Data, device, ckpts: Checkpoints, start: int, changed: dict) -> dict:
    """results.json as it stands until the run ends (a run that never gets further has failed).
    A resume into its own checkpoint starts with that checkpoint on disk."""
    if cfg.train.resume and rundir.find_checkpoint(cfg.train.resume).resolve() == ckpts.path.resolve():
        ckpts.step = start
    results = {"status": "failed", "steps_done": start, "steps_requested": int(cfg.train.steps),
               "data_source": data.source, "device": str(device), "method": cfg.method.name,
               "checkpoint": str(ckpts.path)}
    if start:
        results["resumed"] = {"from_step": start, "changed": {k: list(v) for k, v in changed.items()}}
    return results


def kernels(device, deterministic: bool) -> None:
    """cuDNN's autotuner picks the fastest kernels on a GPU, and some of those (and some atomics-
    based ones) do not give the same bits twice, so a GPU resume matches an unbroken run only
    approximately. train.deterministic trades that speed for bit-identity; the CPU is exact either way."""
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS's condition for it
    torch.use_deterministic_algorithms(deterministic)


def run(cfg, out_dir: Path, hparams: dict | None, stop: Stop) -> dict:
    """train()'s work, under its lock and signal handler."""
    wall0, device = time.perf_counter(), distributed.local_device(resolve_device(cfg.device))
    main = distributed.is_main()
    kernels(device, bool(cfg.train.get("deterministic", False)))
    torch.manual_seed(int(cfg.seed))
    data, info, method, averaged = setup(cfg, device)
    start, changed = resume_from(cfg, info, method, averaged, device) if cfg.train.resume else (0, {})
    # On resume, TensorBoard drops events logged after the checkpoint: no duplicate steps.
    writer = (SummaryWriter(str(out_dir), purge_step=start + 1 if start else None) if main
              else NullWriter())  # only rank 0 writes events
    ckpts = Checkpoints(rundir.checkpoint_file(out_dir), method, averaged,
                        {"config": saved_config(cfg, data), "data": info}, stop, cfg.train.keep_snapshots)
    results = first_results(cfg, data, device, ckpts, start, changed)
    out = {"status": "completed", "steps_done": start, "history": [], "evals": [], "final": {}}
    try:
        log_start(writer, cfg, data, method, device)
        if main:
            with writing(out_dir / rundir.CONFIG):
                atomic_write(out_dir / rundir.CONFIG, lambda tmp: OmegaConf.save(ckpts.record["config"], tmp))
        # Rank 0 evaluates alone; the others wait in the broadcast of its figures (distributed.TIMEOUT).
        # Setting the metrics up (building a classifier, scoring the real data) leaves the run's
        # random streams as they were: a resumed run then goes on exactly as the unbroken one
        with torch.random.fork_rng(devices=list(range(torch.cuda.device_count()))):
            evaluate, results["eval"] = (method.evaluator(data, cfg.eval, feature_cache(cfg)) if main
                                         else (None, {}))
        evaluate = on_every_rank(evaluate)
        t0, stop.armed = time.perf_counter(), True
        loop(cfg, out_dir, writer, data, method, averaged, start, evaluate, ckpts, out)
        finish(out, ckpts, writer, evaluate, {**method.nets, **averaged}, cfg.train)
        results.update(summarise({**out, "loop_s": time.perf_counter() - t0}, method, cfg.train, start))
        if distributed.world() > 1:
            results.update(ranks=distributed.world(), ranks_in_sync=distributed.in_sync(method.nets),
                           effective_batch=int(cfg.train.batch_size) * distributed.world())
        if main and results["metrics"]:
            print_metrics(results["metrics"], results["eval"])
        if main:
            print_verdict(results["health"])
    except KeyboardInterrupt as e:  # a second signal, or one in start-up: the checkpoint on disk stands
        results.update(status="interrupted", signal=signal.Signals(getattr(e, "signum", signal.SIGINT)).name)
        ended_early(results, out, ckpts, start)
        raise
    except Exception as e:
        results["error"] = f"{type(e).__name__}: {e}"
        ended_early(results, out, ckpts, start)
        raise
    finally:
        if hparams and main:
            log_hparams(writer, hparams, results)
        writer.close()
        results.update(wall_time_s=time.perf_counter() - wall0, checkpoint_step=ckpts.step)
        saved = save_results(out_dir, results, stop) if main else True
        log.info(f"Run {results['status']} at step {results['steps_done']}: {out_dir}")
    if not saved:
        raise ConfigError(f"could not write {out_dir / rundir.RESULTS}; the checkpoint of step "
                          f"{ckpts.step} is in {ckpts.path}")
    return results
