"""The `gan` command: a small router that hands `train`, `sample` and `eval` to their Hydra
apps, and `report` (which reads a finished sweep) to report.main.

Hydra stays at this edge: each app turns its composed config into a call of a Hydra-free
function (train.train, sample.sample, evaluate.evaluate_checkpoint). Bad input, whether Hydra
finds it while composing (an unknown key or option, a wrong type) or config.py does (a value out
of range), becomes one line on stderr and exit code 2, with no traceback; a bug keeps its
traceback. A signal (Ctrl-C, SIGTERM) before training starts exits quietly with 128 + its
number (130, 143); once training runs, gan_cli/stopping.py and run.py save before exiting so.
"""

import contextlib
import functools
import io
import logging
import os
import re
import signal
import sys
import time
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException, MissingConfigException, OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    InterpolationResolutionError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

import gan_cli.schema  # noqa: F401  (registers the config schemas before Hydra composes)
from gan_cli import confhelp, rundir
from gan_cli.config import validate_evaluate, validate_sample, validate_train
from gan_cli.errors import ConfigError
from gan_cli.files import write_json
from gan_cli.papers import with_paper
from gan_cli.stopping import exit_quietly, raise_interrupted

log = logging.getLogger("gan_cli")
USAGE = "usage: gan {train,sample,eval,report} [ARGS...]   (gan <command> --help for its options)"
COMMAND_HELP = {
    "train": "train a GAN (or a sweep with -m) on configs composed from conf/",
    "sample": "turn a checkpoint into images",
    "eval": "metrics and a health verdict for one checkpoint",
    "report": "tables, plots and a summary of a finished sweep",
}


def conf_dir() -> str:
    """Configs ship in the wheel as gan_cli/conf; in a source checkout they sit in ../conf."""
    here = Path(__file__).resolve().parent
    return str(here / "conf" if (here / "conf").is_dir() else here.parent / "conf")


confhelp.register(conf_dir())  # `gan <command> --help` shows every key's comment


def record_failure(error: str) -> None:
    """A sweep job that died before train() wrote its results.json still gets one."""
    path = Path(HydraConfig.get().runtime.output_dir) / rundir.RESULTS
    if not path.exists():
        write_json(path, {"status": "failed", "error": error})


def out_of_memory(e: Exception) -> str | None:
    """How much torch (CPU or CUDA) or numpy failed to allocate; None if e is not out of memory."""
    text = str(e)
    cpu = re.search(r"(?:can't allocate memory|not enough memory): you tried to allocate (\d+) bytes", text)
    if cpu:
        return f"tried to allocate {int(cpu[1]) / 2**30:,.1f} GiB"
    if type(e).__name__ == "OutOfMemoryError" or isinstance(e, MemoryError):
        cuda = re.search(r"Tried to allocate ([\d.]+ \w+)", text)
        return f"tried to allocate {cuda[1]}" if cuda else type(e).__name__
    return None


def bad_input(e: Exception, cfg: DictConfig, memory_key: str) -> str | None:
    """The one line for an error that is the input's fault; None for anything else (a bug)."""
    if isinstance(e, ConfigError):
        return str(e).splitlines()[0]
    if isinstance(e, MissingMandatoryValue):
        return f"{e.full_key} is required: set it on the command line ({e.full_key}=...)"
    if isinstance(e, InterpolationResolutionError):  # e.g. ${oc.env:NAME} with NAME unset
        return f"{e.full_key}: {str(e).splitlines()[0]}"
    memory = out_of_memory(e)
    if memory:
        value = OmegaConf.select(cfg, memory_key)
        return f"out of memory ({memory}): lower {memory_key} (now {value}), or the data or model size"
    return None


def clear_errors(memory_key: str):
    """Bad input: one line and exit 2 (memory_key is the setting to lower when memory runs out).
    In a multirun sweep, any failure is logged (with its traceback) in the job's log and
    recorded, and the sweep goes on with the other jobs."""
    def decorate(fn):
        @functools.wraps(fn)
        def task(cfg: DictConfig):
            sweeping = HydraConfig.get().mode == RunMode.MULTIRUN
            try:
                return fn(cfg)
            except Exception as e:
                msg = bad_input(e, cfg, memory_key)
                if msg is None and not sweeping:
                    raise  # a bug: its traceback
                if not sweeping:
                    print(f"error: {msg}", file=sys.stderr)
                    sys.exit(2)
                if msg:
                    log.error(f"error: {msg}")
                else:
                    log.exception("job failed")
                record_failure(msg or traceback.format_exc().strip().splitlines()[-1])
                return None
        return task
    return decorate


TYPE_NAMES = {"Integer": "an integer", "Float": "a number", "bool": "true or false"}


def unknown_key(cause: OmegaConfBaseException) -> str:
    """`train.stepz=3` -> the keys that are there instead."""
    parent = cause.full_key.rpartition(".")[0]
    node = getattr(cause, "parent_node", None)
    keys = [k for k in node.keys() if k != "hydra"] if node is not None else []
    where = f"the keys of {parent} are" if parent else "the top-level keys are"
    return f"{cause.full_key} is not a known key: {where} {', '.join(map(str, keys))}"


# Options that Hydra plugins of the [sweep] extra provide: without them Hydra knows only `basic`.
SWEEP_EXTRA = {"hydra/launcher": ("joblib", "submitit_local", "submitit_slurm"), "hydra/sweeper": ("optuna",)}


def needs_sweep_extra(option: str, args: list[str]) -> str:
    """`hydra/launcher=joblib` (or a preset that picks it) without the plugin installed."""
    preset = next((a for a in args if a.startswith("sweep=")), None)
    via = f" (which {preset} uses)" if preset and option not in args else ""
    return f"{option}{via} needs the [sweep] extra, which is not installed: pip install 'gan-cli[sweep]'"


def compose_error(e: Exception, args: list[str]) -> str:
    """Hydra's multi-line composition error as one line naming the key and what is allowed."""
    cause = e.__cause__ if isinstance(e.__cause__, OmegaConfBaseException) else e
    if isinstance(e, ValueError) and "Got NoneType" in str(e):  # `data=null`
        group = next((a for a in args if a.endswith("=null") and "." not in a), "a config group=null")
        return f"{group} is not allowed: a config group takes one of its options (see --help)"
    if isinstance(e, MissingConfigException) and e.options and e.missing_cfg_file:
        group, _, option = e.missing_cfg_file.rpartition("/")
        if option in SWEEP_EXTRA.get(group, ()):
            return needs_sweep_extra(f"{group}={option}", args)
        choices = ", ".join(o for o in e.options if not o.startswith("_"))  # _budget: a fragment
        return f"{group}={option} is not allowed: one of {choices}"
    if isinstance(e, OverrideParseException):
        reason = e.message.splitlines()[0]
        return f"cannot parse '{e.override}': {reason} (quote values with special characters)"
    if isinstance(cause, (ConfigAttributeError, ConfigKeyError)) and cause.full_key:
        return unknown_key(cause)
    wrong_type = (re.match(r"Value '(.*)' of type '\w+' could not be converted to (\w+)", str(cause))
                  or re.match(r"Value '(.*)' is not a valid (bool)", str(cause)))
    if isinstance(cause, ValidationError) and wrong_type:
        expected = TYPE_NAMES.get(wrong_type[2], wrong_type[2].lower())
        return f"{cause.full_key}={wrong_type[1]} is not allowed: must be {expected}"
    merging = re.match(r"Error merging override (.*)", str(e))
    if merging and "is not a ListConfig" in str(cause):
        return f"{merging[1]} is not allowed: must be a list, e.g. [0,1,2]"
    if merging and cause is not e:
        return f"cannot apply {merging[1]}: {str(cause).splitlines()[0]}"
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    lines = lines[:next((i for i, line in enumerate(lines) if line.startswith("Config search path")),
                        len(lines))]
    if cause is not e:
        lines.append(str(cause).splitlines()[0])
    return " ".join(lines)


def raised_in_task(e: BaseException) -> bool:
    """Did e come from inside an app (a bug there), rather than from Hydra composing its config?"""
    tasks = {app.__code__ for app in APPS.values()}  # clear_errors' wrapper, around every app
    return any(frame.f_code in tasks for frame, _ in traceback.walk_tb(e.__traceback__))


def resume_run_dir(resume) -> Path | None:
    """The run directory that train.resume (a run directory or its checkpoints/*.pt) belongs to."""
    path = Path(str(resume))
    if path.is_dir():
        return path
    if path.is_file() and path.parent.name == rundir.CHECKPOINT.parent.name:
        return rundir.run_dir_of(path)
    return None


def run_dir(cfg: DictConfig) -> str:
    """The run's directory: a resumed run continues in its own directory."""
    resumed = resume_run_dir(cfg.train.resume) if cfg.train.resume else None
    return str(resumed) if resumed else HydraConfig.get().runtime.output_dir


def resolve_latest(args: list[str]) -> list[str]:
    """`train.resume=latest` -> the newest run under paths.output_dir (the command line's, else
    conf/train.yaml's), before Hydra composes, so that the run's own directory is known."""
    if not any(a.lstrip("+") == "train.resume=latest" for a in args):
        return args
    given = [a.partition("=")[2].strip("'\"") for a in args if a.startswith("paths.output_dir=")]
    output_dir = given[-1] if given else OmegaConf.load(Path(conf_dir()) / "train.yaml").paths.output_dir
    run = rundir.latest_run(output_dir)
    print(f"train.resume=latest: {run}")  # before Hydra sets up logging
    return [f"train.resume='{run}'" if a.lstrip("+") == "train.resume=latest" else a for a in args]


def resume_overrides(args: list[str]) -> list[str]:
    """`gan train train.resume=<run>` without hydra.run.dir: log (train.log) into that run's own
    directory, with this part's Hydra record in .hydra/resume-<time>/ beside the original's."""
    if any(a in ("-m", "--multirun") or a.startswith(("sweep=", "hydra.run.dir=", "hydra.mode="))
           for a in args):
        return []
    parser, resume = OverridesParser.create(), None
    for arg in args:
        if arg.lstrip("+").startswith("train.resume="):
            try:
                override = parser.parse_override(arg)
            except OverrideParseException:
                return []  # Hydra reports it
            resume = None if override.is_sweep_override() else override.value()
    run = resume_run_dir(resume) if resume else None
    if run is None or any(c in str(run) for c in "'\\$"):  # those would need escaping for Hydra
        return []
    subdir = [] if any(a.startswith("hydra.output_subdir=") for a in args) else [
        f"hydra.output_subdir=.hydra/resume-{time.strftime('%Y-%m-%d_%H-%M-%S')}"]
    return [f"hydra.run.dir='{run}'", *subdir]


def torchrun_overrides(args: list[str]) -> list[str]:
    """Under torchrun, one run directory for all ranks: rank 0's clock names it (Hydra would give
    each rank its own), and only rank 0 keeps Hydra's record and the log (others log errors)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:  # distributed.launched(), before importing torch
        return []
    from gan_cli import distributed

    if any(a in ("-m", "--multirun") or a.startswith("sweep=") for a in args):
        raise ConfigError("torchrun runs one training job: run sweeps through a Hydra launcher instead")
    distributed.init()
    pinned = any(a.startswith("hydra.run.dir=") for a in args)
    stamp = distributed.broadcast(time.strftime("%Y-%m-%d/%H-%M-%S"))
    overrides = [] if pinned else [f"hydra.run.dir=${{paths.output_dir}}/{stamp}"]
    if not distributed.is_main():
        overrides += ["hydra.output_subdir=null", "hydra.job_logging.root.level=ERROR"]
    return overrides


def cpu_times() -> tuple[int, int] | None:
    """(idle, total) jiffies of all cores since boot, from /proc/stat; None where there is none."""
    try:
        with open("/proc/stat") as f:
            # user nice system idle iowait irq softirq steal
            fields = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    return fields[3] + fields[4], sum(fields)


def idle_cores(cores: int, window: float = 0.25) -> int:
    """Cores idle now (at least 1): the idle share of /proc/stat over `window` seconds, times the
    cores. The 1-minute load average (the fallback where /proc/stat is missing) still counts work
    that ended a minute ago: after one run, the next ran alone on 1 of 2 idle cores. More torch
    threads than idle cores compete with the other work: measured in docs/sweeps.md ("Threads
    beside other work")."""
    first = cpu_times()
    if first is not None:
        time.sleep(window)
        second = cpu_times()
        total = second[1] - first[1]
        if total > 0:
            return max(1, min(cores, round(cores * (second[0] - first[0]) / total)))
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average on this platform
        return cores
    return max(1, min(cores, round(cores - busy)))


def job_threads(cfg: DictConfig) -> int | None:
    """torch threads for this job: train.threads, or for auto, the machine's cores divided among
    the jobs a parallel launcher runs at once (None: torch's default, all cores)."""
    if cfg.train.threads != "auto":
        return int(cfg.train.threads)
    hydra_cfg = HydraConfig.get()
    target = str(hydra_cfg.launcher.get("_target_", ""))
    cores = os.cpu_count() or 1
    if hydra_cfg.mode != RunMode.MULTIRUN:  # alone: the cores other work leaves idle
        idle = idle_cores(cores)
        return None if idle == cores else idle
    if "joblib" in target:
        n_jobs = hydra_cfg.launcher.get("n_jobs") or -1
        return max(1, cores // (cores if n_jobs < 0 else n_jobs))
    if "submitit" in target:
        return hydra_cfg.launcher.get("cpus_per_task") or None
    return None


def train_locked(cfg: DictConfig) -> dict:
    from gan_cli import distributed
    from gan_cli.run import train

    distributed.join_submitit_tasks()  # SLURM: several tasks per job train one run together
    if not distributed.is_main():
        logging.getLogger().setLevel(logging.ERROR)  # only rank 0 logs
    threads = job_threads(cfg)
    if threads:
        import torch
        torch.set_num_threads(threads)
        log.info(f"torch threads: {threads}")
    out_dir = run_dir(cfg)
    log.info(f"Run directory: {out_dir}   (watch it with: tensorboard --logdir {out_dir})")
    try:
        return train(cfg, out_dir)  # a sweep's HParams are written when it ends (sweep.py)
    finally:
        distributed.finish()


@clear_errors(memory_key="train.batch_size")
def train_app(cfg: DictConfig):
    if cfg.train.resume:  # the run's own settings, and on top what was typed (gan_cli/resuming.py)
        from gan_cli.resuming import resumed_config

        cfg = resumed_config(cfg, HydraConfig.get().overrides.task)
    validate_train(cfg)  # fail fast, before the seconds it takes to import torch
    with rundir.locked(run_dir(cfg)):  # another gan train in this run directory: refused as fast
        results = train_locked(cfg)
    if results["status"] == "interrupted":
        exit_quietly(signal.Signals[results["signal"]])
    single = HydraConfig.get().mode != RunMode.MULTIRUN  # a sweep records it and goes on
    if results.get("eval_error") and single:
        error = results["eval_error"].splitlines()[0][:200]
        print(f"error: the evaluation at step {results['eval_error_step']} failed ({error}); the "
              f"training is kept in {results['checkpoint']} (traceback in the log)", file=sys.stderr)
        sys.exit(1)
    if results["status"] == "diverged" and cfg.train.diverged_exit_code and single:
        sys.exit(cfg.train.diverged_exit_code)
    if cfg.eval.objective:  # for a search sweeper (Optuna); a job without it counts as failed
        return results["metrics"].get(cfg.eval.objective)


def sample_options(cfg: DictConfig) -> dict:
    """The sample modes' options from a composed conf/sample.yaml (the CLI and gan_cli.api)."""
    return {"seeds": list(cfg.seeds), "steps": cfg.steps, "arithmetic": cfg.arithmetic,
            "k": cfg.k, "data_dir": cfg.paths.data_dir, "label": cfg.label,
            "input": cfg.input, "direction": cfg.direction, "out": cfg.out,
            "truncation": cfg.truncation, "mix_seeds": list(cfg.mix_seeds), "code": cfg.code,
            "span": cfg.span, "caption": cfg.caption}


@clear_errors(memory_key="n")
def sample_app(cfg: DictConfig):
    validate_sample(cfg)
    from gan_cli.sample import sample

    for path in sample(cfg.checkpoint, n=cfg.n, seed=cfg.seed, out=cfg.out, device=cfg.device,
                       mode=cfg.mode, options=sample_options(cfg)):
        print(f"wrote {path}")


@clear_errors(memory_key="eval.n_samples")
def eval_app(cfg: DictConfig):
    validate_evaluate(cfg)
    from gan_cli.evaluate_cmd import evaluate_checkpoint

    evaluate_checkpoint(cfg.checkpoint, cfg.eval, cfg.paths.data_dir, seed=cfg.seed,
                        device=cfg.device, out=cfg.out)


APPS = {"train": train_app, "sample": sample_app, "eval": eval_app}
CONFIGS = {"train": "train", "sample": "sample", "eval": "evaluate"}
COMMANDS = ("train", "sample", "eval", "report")


# Keys whose values are paths: a path the shell passed as one argument stays one path.
PATH_KEYS = ("data.path", "checkpoint", "input", "out", "train.resume", "hydra.run.dir", "hydra.sweep.dir")


def quote_paths(args: list[str]) -> list[str]:
    """key=value -> key='value' for path keys whose value Hydra's override grammar cannot read bare
    (a space, letters beyond ASCII, quotes): `data.path=/data/my photos` fails to parse otherwise.
    Values already quoted, null and plain ones (so that a sweep's a,b still splits) pass unchanged."""
    out = []
    for arg in args:
        key, eq, value = arg.partition("=")
        bare = key.lstrip("+~")
        awkward = any(c.isspace() or not c.isascii() or c in "'\"" for c in value)
        if eq and (bare in PATH_KEYS or bare.startswith("paths.")) and awkward and value[:1] not in "'\"":
            arg = f"{key}='{value.replace(chr(39), chr(92) + chr(39))}'"
        out.append(arg)
    return out


def run_app(command: str, args: list[str], prog: str | None = None) -> None:
    """Run one Hydra app; Hydra's own errors (composing the config) become one line and exit 2.
    HYDRA_FULL_ERROR=1 set by the user keeps Hydra's full tracebacks, for debugging."""
    debugging = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing and exiting 1
    args = quote_paths(args)
    if command == "train":
        args = with_paper(args)
        args = resolve_latest(args)
        args = args + resume_overrides(args)
        args = args + torchrun_overrides(args)
    sys.argv = [prog or f"gan {command}", *args]
    app = hydra.main(config_path=conf_dir(), config_name=CONFIGS[command], version_base="1.3")
    try:
        app(APPS[command])()
    except (HydraException, OmegaConfBaseException, OSError, ValueError) as e:
        if debugging or raised_in_task(e):
            raise
        print(f"error: {compose_error(e, args)}", file=sys.stderr)
        sys.exit(2)


COMPLETION_FLAGS = ("-sc", "--shell-completion", "--shell_completion")


def shell_completion(args: list[str]) -> None:
    """Hydra's tab completion through the router. `gan -sc install=bash` prints the script that
    registers it for `gan`; on Tab the shell runs `gan -sc query=bash` with COMP_LINE set to the
    line typed so far (`gan train data=ri`). The command word picks the Hydra app, which then
    completes the rest of the line as if it were its own (`data=ring8`)."""
    flag = next(a for a in args if a in COMPLETION_FLAGS)
    request = next((a for a in args if a.partition("=")[0] in ("install", "uninstall", "query")), "")
    if not request.startswith("query="):
        return run_app("train", [flag, request], prog="gan")  # the script names `gan`, not a command
    shell, line = request.partition("=")[2], os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):  # still typing the command
        typed = words[1] if len(words) == 2 else ""
        print(("\n" if shell == "fish" else " ").join(c for c in COMMANDS if c.startswith(typed)))
        return None
    if words[1] not in APPS:  # `gan report <dir>`: nothing to offer, the shell completes paths
        return None
    os.environ["COMP_LINE"] = re.sub(r"^(\s*\S+)\s+\S+", r"\1", line, count=1)  # drop the command
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # stderr would print into the prompt
            run_app(words[1], [flag, request], prog="gan")
    except (Exception, SystemExit):
        pass  # a line Hydra cannot read yet offers nothing


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("gan-cli")
    except PackageNotFoundError:
        from gan_cli import __version__
        return __version__


def print_usage(file=sys.stdout) -> None:
    """The usage line and one line per command."""
    lines = [USAGE, "", "commands:"] + [f"  {name:<8}{text}" for name, text in COMMAND_HELP.items()]
    print("\n".join(lines), file=file)


def main() -> None:
    args = sys.argv[1:]
    if args and args[0] in ("-V", "--version"):
        print(f"gan-cli {version()}")
        return
    if not args or args[0] in ("-h", "--help"):
        print_usage(sys.stdout if args else sys.stderr)
        sys.exit(0 if args else 2)
    if any(a in COMPLETION_FLAGS for a in args[:2]):
        return shell_completion(args)
    if args[0] not in COMMANDS:
        print(f"gan: unknown command '{args[0]}'", file=sys.stderr)
        print_usage(sys.stderr)
        sys.exit(2)
    for signum in (signal.SIGINT, signal.SIGTERM):  # end quietly, see below (SIGTERM like Ctrl-C)
        signal.signal(signum, raise_interrupted)
    try:
        if args[0] == "report":  # not a Hydra app: it reads a finished sweep
            from gan_cli.report import main as report_main
            return report_main(args[1:])
        run_app(args[0], args[1:])
    except ConfigError as e:  # found before Hydra starts (train.resume=latest with no run, torchrun -m)
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as e:  # a signal in start-up, or a second one in training
        signum = getattr(e, "signum", signal.SIGINT)
        exit_quietly(signum, "interrupted" if signum == signal.SIGINT
                     else f"terminated ({signal.Signals(signum).name})")
