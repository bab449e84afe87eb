"""The runner: the step loop and everything around it, once for every method.

Cadence (log / sample / evaluate / checkpoint), progress, Ctrl-C, divergence, moving
averages, exact resume, results.json and TensorBoard HParams. It knows no GAN maths:
the method (gan_cli/methods/, chosen by `method=`) says what one iteration is.

`train(cfg, out_dir)` knows nothing of Hydra; cli.py calls it.
"""

import copy
import logging
import math
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from omegaconf import OmegaConf
from torch.utils.tensorboard import SummaryWriter

from gan_cli import rundir
from gan_cli.checkpoint import atomic_write, load_checkpoint, save_checkpoint, set_rng_state, write_json
from gan_cli.config import ConfigError, resolve_device, validate_train
from gan_cli.data import Data, load_data
from gan_cli.evaluate import print_metrics
from gan_cli.health import grad_norm, print_verdict
from gan_cli.images import save_png
from gan_cli.methods import method_class
from gan_cli.models import count_params
from gan_cli.progress import TrainingProgress

log = logging.getLogger(__name__)


def ema_update(avg, net, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * net for the weights; buffers (batchnorm stats) copied."""
    with torch.no_grad():
        for e, p in zip(avg.parameters(), net.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(avg.buffers(), net.buffers()):
            e.copy_(b)


@contextmanager
def deferred_sigint():
    """First Ctrl-C sets flag['stop'] so the loop ends at an iteration boundary; a second one
    raises KeyboardInterrupt at once."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["stop"]:
            raise KeyboardInterrupt
        flag["stop"] = True
        log.warning("Ctrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def check_resumable(ckpt: dict, cfg, info: dict, path) -> None:
    """Resuming needs the same method, architecture, data shape and optimizer types."""
    old, new = ckpt["config"], OmegaConf.to_container(cfg, resolve=True)
    for key in ("method", "model"):
        if old.get(key) != new[key]:
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


def setup(cfg, device):
    """The data, the method (its nets and optimizers) and the moving averages (train.ema > 0)."""
    data = load_data(cfg.data, device)
    Method = method_class(cfg.method)
    info = Method.info(data)
    method = Method(cfg, info, device)
    averaged = {name: copy.deepcopy(method.nets[name]).requires_grad_(False)
                for name in method.averaged} if cfg.train.ema > 0 else {}
    return data, info, method, averaged


def resume_from(cfg, info: dict, method, averaged: dict, device) -> int:
    """Load train.resume's states into the nets, optimizers and averages; return its step."""
    ckpt = load_checkpoint(cfg.train.resume, map_location=device)
    check_resumable(ckpt, cfg, info, cfg.train.resume)
    rundir.load_state(method, ckpt, f"train.resume={cfg.train.resume}", averaged)
    set_rng_state(ckpt["rng"])
    log.info(f"Resuming from {cfg.train.resume} at step {ckpt['step']}")
    return int(ckpt["step"])


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


def log_metrics(writer, step: int, evaluate, view: dict) -> dict:
    """Run the evaluator and write each figure under metrics/."""
    values = evaluate(view)
    for key, value in values.items():
        writer.add_scalar(f"metrics/{key}", value, step)
    return {"step": step, **values}


def finite(nets: dict) -> bool:
    return all(torch.isfinite(p).all() for net in nets.values() for p in net.parameters())


def loop(cfg, out_dir: Path, writer, data: Data, info: dict, method, averaged: dict, start: int,
         evaluate) -> dict:
    """Steps start+1 .. train.steps with logging, evaluation, samples and checkpoints."""
    t, every = cfg.train, cfg.eval.every
    probe = method.probe(data, t.n_samples, int(cfg.seed))
    view = {**method.nets, **averaged}  # samples and metrics come from the averages when on
    ckpt_path, config = rundir.checkpoint_file(out_dir), saved_config(cfg, data)

    def save(step) -> bool:  # never overwrite the last good checkpoint with NaN weights
        if finite(method.nets):
            save_checkpoint(ckpt_path, step=step, nets=method.nets, opts=method.opts, config=config,
                            data=info, averaged=averaged)
            return True
        return False

    out = {"status": "completed", "steps_done": start, "history": [], "evals": []}
    t0 = tick = time.perf_counter()
    tick_step = start
    with deferred_sigint() as stop, TrainingProgress(t.progress, start, t.steps) as bar:
        for step in range(start + 1, t.steps + 1):
            stats = method.step(data, step)
            for name, avg in averaged.items():
                ema_update(avg, method.nets[name], t.ema)
            out["steps_done"] = step
            bar.advance()
            if step % t.log_every == 0 or step == t.steps:
                now = time.perf_counter()
                out["history"].append(log_diagnostics(writer, step, stats, method, view, probe))
                bar.update(step, method.status(out["history"][-1]), (step - tick_step) / (now - tick))
                tick, tick_step = now, step
                if not all(math.isfinite(float(v)) for v in stats.values()):
                    out.update(status="diverged", diverged_at=step)
                    break
            if evaluate and (every and step % every == 0 or step == t.steps):
                out["evals"].append(log_metrics(writer, step, evaluate, view))
            if step % t.sample_every == 0 or step == t.steps:
                img = method.show(view, probe, data)
                writer.add_image("samples", img, step)
                save_png(img, out_dir / rundir.SAMPLES / f"step_{step:06d}.png")
            if step % t.ckpt_every == 0 and step != t.steps and not save(step):
                out.update(status="diverged", diverged_at=step)
                break
            if stop["stop"]:
                out["status"] = "interrupted"
                break
        final_save = out["status"] != "diverged" and (out["steps_done"] > start or not ckpt_path.exists())
        if final_save and not save(out["steps_done"]):
            out.update(status="diverged", diverged_at=out["steps_done"])
    out["loop_s"] = time.perf_counter() - t0
    out["final"] = {k: float(v) for k, v in stats.items()} if out["steps_done"] > start else {}
    return out


def feature_cache(cfg) -> Path:
    """Where feature classifiers are cached: beside the datasets."""
    return Path(str(cfg.paths.data_dir)) / "gan_cli_features"


def summarise(outcome: dict, method, t, start: int) -> dict:
    """results.json fields from the loop's outcome: throughput, final metrics, health verdict."""
    history, evals = outcome.pop("history"), outcome.pop("evals")
    done = outcome["steps_done"] - start
    metrics = {k: v for k, v in evals[-1].items() if k != "step"} if evals else {}
    findings = method.verdict(history, evals, outcome.get("diverged_at"))
    return {**outcome, "metrics": metrics, "metrics_step": evals[-1]["step"] if evals else None,
            "health": findings, "images_per_s": done * t.batch_size * t.d_steps / outcome["loop_s"]}


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
    """Train as cfg says; write events, samples, checkpoints/last.pt and results.json to out_dir.
    hparams (a sweep's swept settings) also go to TensorBoard's HParams dashboard."""
    validate_train(cfg)
    out_dir, wall0 = Path(out_dir), time.perf_counter()
    device = resolve_device(cfg.device)
    torch.backends.cudnn.benchmark = device.type == "cuda"
    torch.manual_seed(int(cfg.seed))
    data, info, method, averaged = setup(cfg, device)
    start = resume_from(cfg, info, method, averaged, device) if cfg.train.resume else 0
    # On resume, TensorBoard drops events logged after the checkpoint: no duplicate steps.
    writer = SummaryWriter(str(out_dir), purge_step=start + 1 if start else None)
    results = {"status": "failed", "steps_done": start, "steps_requested": int(cfg.train.steps),
               "data_source": data.source, "device": str(device), "method": cfg.method.name}
    try:
        log_start(writer, cfg, data, method, device)
        atomic_write(out_dir / rundir.CONFIG, lambda tmp: OmegaConf.save(saved_config(cfg, data), tmp))
        evaluate, results["eval"] = method.evaluator(data, cfg.eval, feature_cache(cfg))
        outcome = loop(cfg, out_dir, writer, data, info, method, averaged, start, evaluate)
        results.update(summarise(outcome, method, cfg.train, start))
        if results["metrics"]:
            print_metrics(results["metrics"], results["eval"])
        print_verdict(results["health"])
    except KeyboardInterrupt:  # second Ctrl-C: the last periodic checkpoint stands
        results["status"] = "interrupted"
        raise
    except Exception as e:
        results["error"] = f"{type(e).__name__}: {e}"
        raise
    finally:
        if hparams:
            log_hparams(writer, hparams, results)
        writer.close()
        results["wall_time_s"] = time.perf_counter() - wall0
        results["checkpoint"] = str(rundir.checkpoint_file(out_dir))
        write_json(out_dir / rundir.RESULTS, results)
        log.info(f"Run {results['status']} at step {results['steps_done']}: {out_dir}")
    return results
