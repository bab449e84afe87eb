"""The training loop: Goodfellow et al. 2014, Algorithm 1, with k = train.d_steps.

    for each iteration:
        k times:  x ~ data, z ~ N(0, I);  D step on J_D with G fixed
        once:     z ~ N(0, I);            G step on J_G with D fixed

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

from gan_cli.checkpoint import atomic_write, load_checkpoint, save_checkpoint, set_rng_state, write_json
from gan_cli.config import ConfigError, resolve_device, validate_train
from gan_cli.data import Data, load_data
from gan_cli.evaluate import make_evaluator, print_metrics
from gan_cli.health import diversity, grad_norm, print_verdict, verdict
from gan_cli.images import image_grid, plot_limit, save_png, scatter_image
from gan_cli.losses import Game, gradient_penalty, make_game, r1_penalty
from gan_cli.models import build_models, class_labels, count_params, load_weights, noise
from gan_cli.optimizers import build_optimizer
from gan_cli.progress import TrainingProgress

log = logging.getLogger(__name__)


def ema_update(G_ema, G, decay: float) -> None:
    """G_ema <- decay * G_ema + (1 - decay) * G for the weights; buffers (batchnorm stats) copied."""
    with torch.no_grad():
        for e, p in zip(G_ema.parameters(), G.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(G_ema.buffers(), G.buffers()):
            e.copy_(b)


def train_step(G, D, opt_g, opt_d, data: Data, game: Game, *, batch_size: int, d_steps: int) -> dict:
    """One iteration of Algorithm 1. Returns detached tensors of the last D step and the G step."""
    z_dim, conditional = G.z_dim, hasattr(G, "num_classes")
    for _ in range(d_steps):
        # fresh real minibatch (conditional: fakes get the real batch's labels y)
        real, y = data.sample_labelled(batch_size) if conditional else (data.sample(batch_size), None)
        with torch.no_grad():                               # G fixed
            fake = G(noise(batch_size, z_dim, real.device), y)  # fresh noise
        real_logits, fake_logits = D(real, y), D(fake, y)
        loss_d = game.d_loss(real_logits=real_logits, fake_logits=fake_logits)
        if game.gp_weight:
            loss_d = loss_d + game.gp_weight * gradient_penalty(lambda x, y=y: D(x, y), real, fake)
        if game.r1_gamma:
            loss_d = loss_d + game.r1_gamma * r1_penalty(lambda x, y=y: D(x, y), real)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        if game.clip:  # WGAN: keep the critic (roughly) K-Lipschitz
            with torch.no_grad():
                for p in D.parameters():
                    p.clamp_(-game.clip, game.clip)

    D.requires_grad_(False)                                 # D fixed: no grads for its weights
    y = torch.randint(G.num_classes, (batch_size,), device=real.device) if conditional else None
    fake = G(noise(batch_size, z_dim, real.device), y)
    loss_g = game.g_loss(fake_logits=D(fake, y))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    real_logits, fake_logits = real_logits.detach(), fake_logits.detach()
    summary = (lambda s: s.mean()) if game.critic else (lambda s: torch.sigmoid(s).mean())
    return {"loss_d": loss_d.detach(), "loss_g": loss_g.detach(),
            "D_real": summary(real_logits),    # D(x), or the mean critic score on real data
            "D_fake": summary(fake_logits),    # D(G(z)), or the mean critic score on fakes
            "D_acc_real": (real_logits > 0).float().mean(),         # share of reals called real
            "D_acc_fake": (fake_logits < 0).float().mean()}         # share of fakes called fake


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


def check_resumable(ckpt: dict, cfg, data: Data, path) -> None:
    """Resuming needs the same architecture, data shape and optimizer types as the checkpoint."""
    old, new = ckpt["config"], OmegaConf.to_container(cfg, resolve=True)
    if old["model"] != new["model"]:
        raise ConfigError(f"train.resume={path}: the checkpoint was trained with model={old['model']}"
                          f", this run asks for model={new['model']}; use the same model options")
    if tuple(ckpt["data"]["shape"]) != data.shape:
        raise ConfigError(f"train.resume={path}: the checkpoint's data shape is "
                          f"{tuple(ckpt['data']['shape'])}, this run's data is {data.shape}")
    for net in ("g", "d"):
        if old["optim"][net]["name"] != new["optim"][net]["name"]:
            raise ConfigError(f"train.resume={path}: optim.{net} was {old['optim'][net]['name']}"
                              f", this run asks for {new['optim'][net]['name']}")


def setup(cfg, device):
    """Data, G, D, their optimizers and (train.ema > 0) G's moving average, built from config."""
    data = load_data(cfg.data, device)
    G, D = build_models(cfg.model, data.shape, device, data.num_classes)
    opt_g = build_optimizer(cfg.optim.g, G.parameters(), "optim.g")
    opt_d = build_optimizer(cfg.optim.d, D.parameters(), "optim.d")
    G_ema = copy.deepcopy(G).requires_grad_(False) if cfg.train.ema > 0 else None
    return data, G, D, opt_g, opt_d, G_ema


def resume_from(cfg, data, G, D, opt_g, opt_d, G_ema) -> int:
    """Load train.resume's states into the models and optimizers; return its step."""
    ckpt = load_checkpoint(cfg.train.resume, map_location=data.x.device)
    check_resumable(ckpt, cfg, data, cfg.train.resume)
    load_weights(G, ckpt["G"], f"train.resume={cfg.train.resume}")
    load_weights(D, ckpt["D"], f"train.resume={cfg.train.resume}")
    opt_g.load_state_dict(ckpt["opt_g"])
    opt_d.load_state_dict(ckpt["opt_d"])
    if G_ema is not None:  # a run that had no EMA starts its average from the current G
        G_ema.load_state_dict(ckpt.get("G_ema", ckpt["G"]))
    set_rng_state(ckpt["rng"])
    log.info(f"Resuming from {cfg.train.resume} at step {ckpt['step']}")
    return int(ckpt["step"])


def log_start(writer: SummaryWriter, cfg, data: Data, G, D, device) -> None:
    """Parameter counts, data source and the resolved config, to the log and TensorBoard."""
    log.info(f"G: {count_params(G):,} parameters | D: {count_params(D):,} parameters")
    log.info(f"Data: {data.source}, shape {data.shape}, device {device}")
    writer.add_text("data/source", data.source)
    yaml = OmegaConf.to_yaml(cfg, resolve=True)
    writer.add_text("config", "\n".join("    " + line for line in yaml.splitlines()))


def log_samples(writer, out_dir: Path, step: int, G, probe: dict, data: Data) -> None:
    """G(fixed z) in eval mode (batchnorm running stats) as a grid (conditional: a column per
    class) or as a scatter over the real data."""
    G.eval()
    with torch.no_grad():
        fake = G(probe["z"], probe["y"])
    G.train()
    if data.is_image:
        img = image_grid(fake, nrow=getattr(G, "num_classes", None))
    else:
        real = data.x[:2000]
        img = scatter_image(fake, real, plot_limit(real))
    writer.add_image("samples", img, step)
    save_png(img, out_dir / "samples" / f"step_{step:06d}.png")


def log_scalars(writer: SummaryWriter, step: int, stats: dict, critic: bool = False) -> dict:
    """Write loss/d, loss/g and D/real = D(x), D/fake = D(G(z)) (critic/real, critic/fake: raw
    scores, for critic losses); return them as floats."""
    values = {k: float(v) for k, v in stats.items()}
    d = "critic" if critic else "D"
    for tag, key in (("loss/d", "loss_d"), ("loss/g", "loss_g"),
                     (f"{d}/real", "D_real"), (f"{d}/fake", "D_fake")):
        writer.add_scalar(tag, values[key], step)
    return values


def data_info(data: Data) -> dict:
    """What `gan sample` needs to know about the data without loading it."""
    info = {"shape": list(data.shape), "source": data.source, "num_classes": data.num_classes}
    if not data.is_image:
        info["plot_limit"] = plot_limit(data.x)
    return info


def saved_config(cfg, data: Data) -> dict:
    """The resolved config plus data.source: which data the run really used (MNIST or fallback)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    config["data"]["source"] = data.source
    return config


def make_probe(data: Data, n: int, G, seed: int) -> dict:
    """Fixed noise (and labels) for sample images and a fixed real batch for diagnostics (own RNG
    streams, so that logging never changes the training run)."""
    device = data.x.device
    gen = torch.Generator(device).manual_seed(seed)
    n_fixed = n if data.is_image else max(n, 1000)  # a scatter needs more points
    real_idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(seed))[:256]
    return {"z": noise(n_fixed, G.z_dim, device, gen), "y": class_labels(G, n_fixed, device),
            "z_div": noise(256, G.z_dim, device, gen), "y_div": class_labels(G, 256, device),
            "real": data.batch(real_idx.to(device))}


def log_diagnostics(writer, step: int, stats: dict, G, D, probe: dict, critic: bool) -> dict:
    """Scalars plus health diagnostics (grad norms, D accuracy, D(x) - D(G(z)), diversity)."""
    entry = {"step": step, **log_scalars(writer, step, stats, critic),
             "grad_norm_g": grad_norm(G), "grad_norm_d": grad_norm(D)}
    entry["D_gap"] = entry["D_real"] - entry["D_fake"]
    G.eval()
    with torch.no_grad():
        entry["diversity"] = diversity(G(probe["z_div"], probe["y_div"]), probe["real"])
    G.train()
    for key in ("grad_norm_g", "grad_norm_d", "D_acc_real", "D_acc_fake", "D_gap", "diversity"):
        writer.add_scalar(f"diag/{key}", entry[key], step)
    return entry


def log_metrics(writer, step: int, evaluate, G) -> dict:
    """Run the evaluator and write each figure under metrics/."""
    values = evaluate(G)
    for key, value in values.items():
        writer.add_scalar(f"metrics/{key}", value, step)
    return {"step": step, **values}


def finite(*modules) -> bool:
    return all(torch.isfinite(p).all() for m in modules for p in m.parameters())


def loop(cfg, out_dir: Path, writer, data: Data, G, D, opt_g, opt_d, start: int, evaluate,
         game: Game, G_ema=None) -> dict:
    """Steps start+1 .. train.steps with logging, evaluation, samples and checkpoints.
    With an EMA of G, samples, diversity and metrics use the EMA weights."""
    t, every = cfg.train, cfg.eval.every
    probe = make_probe(data, t.n_samples, G, int(cfg.seed))
    G_eval = G if G_ema is None else G_ema  # samples and metrics come from the EMA when on
    ckpt_path, config = out_dir / "checkpoints" / "last.pt", saved_config(cfg, data)

    def save(step) -> bool:  # never overwrite the last good checkpoint with NaN weights
        if finite(G, D):
            save_checkpoint(ckpt_path, step=step, G=G, D=D, opt_g=opt_g, opt_d=opt_d,
                            config=config, data=data_info(data), G_ema=G_ema)
            return True
        return False

    out = {"status": "completed", "steps_done": start, "history": [], "evals": []}
    t0 = tick = time.perf_counter()
    tick_step = start
    with deferred_sigint() as stop, TrainingProgress(t.progress, start, t.steps, game.critic) as bar:
        for step in range(start + 1, t.steps + 1):
            stats = train_step(G, D, opt_g, opt_d, data, game,
                               batch_size=t.batch_size, d_steps=t.d_steps)
            if G_ema is not None:
                ema_update(G_ema, G, t.ema)
            out["steps_done"] = step
            bar.advance()
            if step % t.log_every == 0 or step == t.steps:
                now = time.perf_counter()
                out["history"].append(log_diagnostics(writer, step, stats, G_eval, D, probe, game.critic))
                bar.update(step, out["history"][-1], (step - tick_step) / (now - tick))
                tick, tick_step = now, step
                if not math.isfinite(out["history"][-1]["loss_d"] + out["history"][-1]["loss_g"]):
                    out.update(status="diverged", diverged_at=step)
                    break
            if evaluate and (every and step % every == 0 or step == t.steps):
                out["evals"].append(log_metrics(writer, step, evaluate, G_eval))
            if step % t.sample_every == 0 or step == t.steps:
                log_samples(writer, out_dir, step, G_eval, probe, data)
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


def summarise(outcome: dict, data: Data, t, start: int, critic: bool) -> dict:
    """results.json fields from the loop's outcome: throughput, final metrics, health verdict."""
    history, evals = outcome.pop("history"), outcome.pop("evals")
    done = outcome["steps_done"] - start
    metrics = {k: v for k, v in evals[-1].items() if k != "step"} if evals else {}
    findings = verdict(history, evals, outcome.get("diverged_at"), critic=critic,
                       num_modes=None if data.is_image else data.num_classes,
                       num_classes=data.num_classes if data.is_image else None)
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
    data, G, D, opt_g, opt_d, G_ema = setup(cfg, device)
    start = resume_from(cfg, data, G, D, opt_g, opt_d, G_ema) if cfg.train.resume else 0
    # On resume, TensorBoard drops events logged after the checkpoint: no duplicate steps.
    writer = SummaryWriter(str(out_dir), purge_step=start + 1 if start else None)
    results = {"status": "failed", "steps_done": start, "steps_requested": int(cfg.train.steps),
               "data_source": data.source, "device": str(device)}
    try:
        log_start(writer, cfg, data, G, D, device)
        atomic_write(out_dir / "config.yaml", lambda tmp: OmegaConf.save(saved_config(cfg, data), tmp))
        evaluate, results["eval"] = make_evaluator(data, cfg.eval, feature_cache(cfg))
        game = make_game(cfg.loss)
        outcome = loop(cfg, out_dir, writer, data, G, D, opt_g, opt_d, start, evaluate, game, G_ema)
        results.update(summarise(outcome, data, cfg.train, start, game.critic))
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
        results["checkpoint"] = str(out_dir / "checkpoints" / "last.pt")
        write_json(out_dir / "results.json", results)
        log.info(f"Run {results['status']} at step {results['steps_done']}: {out_dir}")
    return results
