"""The `gan` command: a small router that hands `train`, `sample` and `eval` to their Hydra
apps, and `report` (which reads a finished sweep) to report.main.

Hydra stays at this edge: each app turns its composed config into a call of a Hydra-free
function (train.train, sample.sample, evaluate.evaluate_checkpoint). Bad input becomes one
line on stderr and exit code 2, with no traceback.
"""

import functools
import logging
import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from gan_cli.config import ConfigError, validate_train

log = logging.getLogger("gan_cli")
USAGE = "usage: gan {train,sample,eval,report} [ARGS...]   (gan <command> --help for its options)"


def conf_dir() -> str:
    """Configs ship in the wheel as gan_cli/conf; in a source checkout they sit in ../conf."""
    here = Path(__file__).resolve().parent
    return str(here / "conf" if (here / "conf").is_dir() else here.parent / "conf")


def record_failure(error: str) -> None:
    """A sweep job that died before train() wrote its results.json still gets one."""
    path = Path(HydraConfig.get().runtime.output_dir) / "results.json"
    if not path.exists():
        from gan_cli.checkpoint import write_json
        write_json(path, {"status": "failed", "error": error})


def clear_errors(fn):
    """Bad input: one line and exit 2. In a multirun sweep, any failure is logged (with its
    traceback) in the job's log and recorded, and the sweep goes on with the other jobs."""
    @functools.wraps(fn)
    def wrapper(cfg: DictConfig):
        sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
        try:
            return fn(cfg)
        except (ConfigError, MissingMandatoryValue) as e:
            msg = str(e).splitlines()[0]
            if isinstance(e, MissingMandatoryValue):
                msg = f"{e.full_key} is required: set it on the command line ({e.full_key}=...)"
            if sweeping:
                log.error(f"error: {msg}")
                record_failure(msg)
                return None
            print(f"error: {msg}", file=sys.stderr)
            sys.exit(2)
        except Exception:
            if not sweeping:
                raise
            log.exception("job failed")
            record_failure(traceback.format_exc().strip().splitlines()[-1])
            return None
    return wrapper


def run_dir(cfg: DictConfig) -> str:
    """The run's directory: a resumed run continues in its own directory."""
    resume = cfg.train.resume
    if resume:
        path = Path(str(resume))
        if path.is_dir():
            return str(path)
        if path.parent.name == "checkpoints":
            return str(path.parent.parent)
    return HydraConfig.get().runtime.output_dir


def swept_settings(cfg: DictConfig) -> dict | None:
    """In a sweep, this job's command-line settings (key -> value) for TensorBoard's HParams."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    settings = {}
    for item in hydra_cfg.overrides.task:
        key, _, text = item.lstrip("+~").partition("=")
        if key.startswith("hydra.") or key == "sweep":
            continue
        value = OmegaConf.select(cfg, key, default=text)
        settings[key] = value if isinstance(value, (int, float, str, bool)) else text
    return settings


def job_threads(cfg: DictConfig) -> int | None:
    """torch threads for this job: train.threads, or for auto, the machine's cores divided among
    the jobs a parallel launcher runs at once (None: torch's default, all cores)."""
    if cfg.train.threads != "auto":
        return int(cfg.train.threads)
    hydra_cfg = HydraConfig.get()
    target = str(hydra_cfg.launcher.get("_target_", ""))
    cores = os.cpu_count() or 1
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return None
    if "joblib" in target:
        n_jobs = hydra_cfg.launcher.get("n_jobs") or -1
        return max(1, cores // (cores if n_jobs < 0 else n_jobs))
    if "submitit" in target:
        return hydra_cfg.launcher.get("cpus_per_task") or None
    return None


@hydra.main(config_path=conf_dir(), config_name="train", version_base="1.3")
@clear_errors
def train_app(cfg: DictConfig):
    validate_train(cfg)  # fail fast, before the seconds it takes to import torch
    from gan_cli.train import train

    threads = job_threads(cfg)
    if threads:
        import torch
        torch.set_num_threads(threads)
        log.info(f"torch threads: {threads}")
    results = train(cfg, run_dir(cfg), hparams=swept_settings(cfg))
    if results["status"] == "interrupted":
        sys.exit(130)
    single = HydraConfig.get().mode != RunMode.MULTIRUN  # a sweep records it and goes on
    if results["status"] == "diverged" and cfg.train.diverged_exit_code and single:
        sys.exit(cfg.train.diverged_exit_code)
    if cfg.eval.objective:  # for a search sweeper (Optuna); a job without it counts as failed
        return results["metrics"].get(cfg.eval.objective)


@hydra.main(config_path=conf_dir(), config_name="sample", version_base="1.3")
@clear_errors
def sample_app(cfg: DictConfig):
    from gan_cli.sample import sample

    options = {"seeds": list(cfg.seeds), "steps": cfg.steps, "arithmetic": cfg.arithmetic,
               "k": cfg.k, "data_dir": cfg.paths.data_dir, "label": cfg.label}
    for path in sample(cfg.checkpoint, n=cfg.n, seed=cfg.seed, out=cfg.out, device=cfg.device,
                       mode=cfg.mode, options=options):
        print(f"wrote {path}")


@hydra.main(config_path=conf_dir(), config_name="evaluate", version_base="1.3")
@clear_errors
def eval_app(cfg: DictConfig):
    from gan_cli.evaluate import evaluate_checkpoint

    evaluate_checkpoint(cfg.checkpoint, cfg.eval, cfg.paths.data_dir, seed=cfg.seed,
                        device=cfg.device, out=cfg.out)


APPS = {"train": train_app, "sample": sample_app, "eval": eval_app}
COMMANDS = ("train", "sample", "eval", "report")


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        sys.exit(0 if args else 2)
    if args[0] not in COMMANDS:
        print(f"gan: unknown command '{args[0]}'\n{USAGE}", file=sys.stderr)
        sys.exit(2)
    if args[0] == "report":  # not a Hydra app: it reads a finished sweep
        from gan_cli.report import main as report_main
        return report_main(args[1:])
    sys.argv = [f"gan {args[0]}"] + args[1:]
    APPS[args[0]]()
