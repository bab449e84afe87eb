"""What a first-time user meets (issue 9): where the run goes, `gan --help`/`--version`, tab
completion, `gan train --help` with every key's comment, one name per figure."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, run_gan

ROOT = Path(__file__).resolve().parent.parent
RING = ["model=mlp", "data=ring8", "data.n_points=500"]


def test_train_names_its_directory_and_tensorboard_at_start(ring_run):
    out, result = ring_run
    lines = result.stdout.splitlines()
    where = next(i for i, line in enumerate(lines) if f"tensorboard --logdir {out}" in line)
    assert f"Run directory: {out}" in lines[where]
    first_step = next(i for i, line in enumerate(lines) if "step 2/4" in line)
    assert where < first_step  # said before training starts, not only at the end
    assert f"tensorboard --logdir {out}" in (out / "train.log").read_text()


def test_sweep_names_its_directory_at_start(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", *TINY, *RING, "seed=0,1", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Sweep directory: {sweep}   (watch it with: tensorboard --logdir {sweep})"


def test_gan_help_lists_commands_one_line_each():
    result = run_gan("--help")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for command in ("train", "sample", "eval", "report"):
        [line] = [line for line in lines if line.strip().startswith(command + " ")]
        assert len(line.split()) > 2  # the command and what it does
    assert run_gan("-h").stdout == result.stdout


def test_gan_version():
    version = re.search(r'^version = "(.+)"', (ROOT / "pyproject.toml").read_text(), re.M)[1]
    for flag in ("--version", "-V"):
        result = run_gan(flag)
        assert result.returncode == 0 and result.stdout.strip() == f"gan-cli {version}"


def completion_query(line: str, shell: str = "bash") -> list[str]:
    """What `gan -sc query=<shell>` offers for the line typed so far (as Hydra's shell script asks)."""
    result = run_gan("-sc", f"query={shell}", env={"COMP_LINE": line, "COMP_POINT": str(len(line))})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout.split()


@pytest.mark.parametrize("line,expected", [
    ("gan train data=ri", ["data=ring8"]),
    ("gan train train.st", ["train.steps="]),
    ("gan eval eval=", ["eval=default", "eval=off"]),
    ("gan tr", ["train"]),
    ("gan ", ["train", "sample", "eval", "report"]),
    ("gan report ou", []),  # a path: the shell's own file completion
])
def test_completion_query_through_the_router(line, expected):
    assert completion_query(line) == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_script_completes_data_ring8(tmp_path):
    """The real thing: install Hydra's bash completion for `gan`, then press Tab (call its
    completion function the way bash does) after `gan train data=ri`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gan = bin_dir / "gan"
    gan.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "from gan_cli.cli import main; main()" "$@"\n')
    gan.chmod(0o755)
    script = ('eval "$(gan -sc install=bash)"\n'
              'COMP_LINE="gan train data=ri"; COMP_POINT=${#COMP_LINE}; COMP_CWORD=2\n'
              'hydra_bash_completion\nprintf "%s\\n" "${COMPREPLY[@]}"\n')
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["data=ring8"]
    assert "unknown command" not in result.stdout + result.stderr


def config_section(help_text: str) -> list[str]:
    """The lines of the `== Config ... ==` section of a --help text."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("== Config ("))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].strip())
    return lines[start + 1:end]


@pytest.mark.parametrize("args", [
    ["train"], ["train", "model=mlp", "data=ring8", "optim=sgd"],
    ["train", "loss=wgan_gp", "data=image_folder"],
    ["train", "sweep=balance", "data=stacked_mnist", "model=slides_mnist"], ["sample"], ["eval", "eval=off"],
])
def test_help_shows_every_keys_comment(args):
    """Every key that holds a value carries the one-line comment of the conf/ file it came from."""
    result = run_gan(*args[:1], "--help", *args[1:])
    assert result.returncode == 0, result.stderr
    section = config_section(result.stdout)
    values = [line for line in section if not line.lstrip().startswith("-") and not line.endswith(":")]
    assert len(values) > 5
    without = [line for line in values if "  # " not in line]
    assert not without, without


def test_train_help_comments_follow_the_chosen_options():
    default = config_section(run_gan("train", "--help").stdout)
    # mnist's recipe sets train.steps, so its comment (from conf/data/mnist.yaml) is the one shown
    assert any(line.startswith("  steps: 2000") and "# recipe: generator updates" in line for line in default)
    assert any(line.startswith("  data_dir: ${oc.env:GAN_DATA_DIR,data}") for line in default)  # `$` intact
    ring = config_section(run_gan("train", "--help", "data=ring8", "loss=wgan").stdout)
    assert any(line.startswith("  radius: 2.0") and "# circle radius" in line for line in ring)
    assert any(line.startswith("  d_steps: 5") and "n_critic" in line for line in ring)


def test_one_name_per_figure_in_terminal_tensorboard_and_results(ring_run):
    """The terminal prints each figure under its TensorBoard tag; results.json holds it under the
    same name with `_` for `/`; all three carry the same value."""
    import json

    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    out, result = ring_run
    line = next(line for line in result.stdout.splitlines() if "step 4/4 |" in line)
    shown = dict(re.findall(r"(\S+/\S+) (-?\d+\.\d+)", line.split("|")[1]))
    assert list(shown) == ["loss/d", "loss/g", "D/real", "D/fake"]
    acc = EventAccumulator(str(out), size_guidance={SCALARS: 0})
    acc.Reload()
    final = json.loads((out / "results.json").read_text())["final"]
    for name, text in shown.items():
        [event] = [e for e in acc.Scalars(name) if e.step == 4]
        assert abs(event.value - float(text)) < 1e-3
        assert abs(final[name.replace("/", "_")] - float(text)) < 1e-3


def test_hparams_columns_are_what_the_sweep_varies(tmp_path):
    """Constant settings are no columns (they go to a text summary), a swept integer stays an
    integer, and the metric `gan report` ranks by (mode_score on ring8) comes first."""
    from tensorboard.backend.event_processing.event_accumulator import TENSORS, EventAccumulator
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams import plugin_data_pb2

    sweep = tmp_path / "sweep"
    result = run_gan("train", "-m", *RING, "train.steps=6", "train.batch_size=16", "train.log_every=3",
                     "train.progress=log", "device=cpu", "eval.every=0", "eval.n_samples=100",
                     "optim=sgd", "model.g.hidden=16", "train.d_steps=1,2", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    (sweep / "0" / "results.json").write_text('{"status": "interrupted"}')  # as if stopped
    report = run_gan("report", str(sweep))  # writes them again: still one session a job
    assert report.returncode == 0, report.stderr
    assert all(len(list((sweep / j).glob("*.hparams"))) == 1 for j in "01")
    mux = EventMultiplexer().AddRunsFromDirectory(str(sweep))
    mux.Reload()
    sessions = mux.PluginRunToTagToContent("hparams")
    assert sorted(sessions) == ["0", "1"]
    d_steps, statuses = [], []
    for job, tags in sorted(sessions.items()):
        start = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/session_start_info"])
        values = start.session_start_info.hparams
        assert set(values) == {"train.d_steps", "status"}  # not model, data, optim, model.g.hidden...
        d_steps.append(values["train.d_steps"].string_value)
        statuses.append(values["status"].string_value)
        exp = plugin_data_pb2.HParamsPluginData.FromString(tags["_hparams_/experiment"]).experiment
        metrics = [m.name.tag for m in exp.metric_infos]
        assert metrics[0] == "metrics/mode_score" and "metrics/plane_fid" in metrics
        info = {h.name: h for h in exp.hparam_infos}
        assert [v.string_value for v in info["train.d_steps"].domain_discrete.values] == ["1", "2"]
        acc = EventAccumulator(str(sweep / job), size_guidance={TENSORS: 0})
        acc.Reload()
        text = acc.Tensors("sweep/settings/text_summary")[0].tensor_proto.string_val[0].decode()
        assert "model=mlp" in text and "model.g.hidden=16" in text and "train.d_steps" not in text
    assert d_steps == ["1", "2"] and statuses == ["interrupted", "completed"]


def test_every_third_party_import_is_declared():
    """Each package gan_cli imports is a dependency in pyproject.toml (matplotlib was not), except
    the optional ones whose absence gan-cli reports in one line (torchmetrics for fid_inception)."""
    import ast
    from importlib.metadata import packages_distributions

    text = (ROOT / "pyproject.toml").read_text()
    block = text[text.index("dependencies = ["):text.index("]", text.index("dependencies = ["))]
    declared = {re.split(r"[<>=\[ ]", name)[0].lower() for name in re.findall(r'"([^"]+)"', block)}
    stdlib, owners = set(sys.stdlib_module_names), packages_distributions()
    imported = set()
    for path in (ROOT / "gan_cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
    # Optional, imported only where they are needed: torchmetrics (Inception FID), and submitit
    # inside a job that the [sweep] extra's submitit launcher started.
    third_party = imported - stdlib - {"gan_cli", "torchmetrics", "submitit"}
    assert "matplotlib" in third_party
    missing = {m for m in third_party if not {d.lower() for d in owners.get(m, [m])} & declared}
    assert not missing, missing


BLOCK_EXTRA = """import importlib.abc, pkgutil, sys
BLOCK = ("hydra_plugins.hydra_joblib_launcher", "hydra_plugins.hydra_optuna_sweeper",
         "hydra_plugins.hydra_submitit_launcher")
class Absent(importlib.abc.MetaPathFinder):  # as if the [sweep] extra were not installed
    def find_spec(self, name, path=None, target=None):
        if name.startswith(BLOCK):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Absent())
walk = pkgutil.walk_packages  # Hydra's plugin scan walks hydra_plugins/ itself
pkgutil.walk_packages = lambda *a, **k: (m for m in walk(*a, **k) if not m[1].startswith(BLOCK))
from gan_cli.cli import main; main()
"""


@pytest.mark.parametrize("args,option", [
    (["-m", "hydra/launcher=joblib", "seed=0,1"], "hydra/launcher=joblib"),
    (["-m", "hydra/launcher=submitit_slurm", "seed=0,1"], "hydra/launcher=submitit_slurm"),
    (["sweep=search_lr"], "hydra/sweeper=optuna (which sweep=search_lr uses)"),
])
def test_sweep_options_without_the_extra_say_how_to_install_it(args, option, tmp_path):
    from conftest import one_line_error
    result = subprocess.run([sys.executable, "-c", BLOCK_EXTRA, "train", *args, *RING,
                             f"hydra.sweep.dir={tmp_path}"], capture_output=True, text=True, timeout=120)
    one_line_error(result, f"error: {option} needs the [sweep] extra", "pip install 'gan-cli[sweep]'")


def test_sample_nearest_uses_the_runs_own_classifier(tmp_path, data_dir):
    """`gan sample mode=nearest` reads eval.classifier_epochs from the checkpoint, so it finds
    the classifier the run trained and cached, instead of training a second one (16 epochs)."""
    from conftest import write_idx
    write_idx(data_dir / "MNIST" / "raw", n=64)
    run = tmp_path / "run"
    result = run_gan("train", *TINY, "data.download=false", "data.fallback=none", "model=mlp",
                     "eval=default", "eval.metrics=[classes]", "eval.classifier_epochs=1",
                     "eval.n_samples=20", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr + result.stdout
    cached = sorted((data_dir / "gan_cli_features").glob("classifier-*.pt"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    result = run_gan("sample", f"checkpoint={run}", "mode=nearest", "n=2", "k=2")
    assert result.returncode == 0, result.stderr
    assert sorted((data_dir / "gan_cli_features").glob("classifier-*.pt")) == cached
    assert cached[0].stat().st_mtime_ns == mtime
