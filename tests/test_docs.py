"""Every `gan train ...` line in the README's and the docs' code blocks still composes (as
`gan train <overrides> --cfg job` would) and passes the range checks: no documented command has
gone stale. A transcript line followed by `error: ...` shows refused input, and must still be
refused. Lines that continue a run (train.resume=...) need a run on disk and are skipped."""

import re
import shlex
from pathlib import Path

import pytest
from conftest import compose_train
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from gan_cli.cli import conf_dir
from gan_cli.confhelp import reference
from gan_cli.config import validate_train
from gan_cli.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FLAGS = {"-m", "--multirun", "--cfg", "job", "hydra", "all", "--help", "--info", "--resolve"}
NEEDS_A_RUN = ("train.resume=",)
MARKER = "<!-- config-reference -->"  # where docs/hooks.py puts the generated reference


def code_lines(text: str) -> list[str]:
    """The lines inside fenced code blocks, with backslash continuations joined (a line that an
    `error:` line follows keeps it, after a newline)."""
    lines, inside, held = [], False, ""
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            inside = not inside
            continue
        if inside:
            held += line.rstrip()
            if held.endswith("\\"):
                held = held[:-1] + " "
                continue
            if held.startswith("error:") and lines:
                lines[-1] += "\n" + held
            else:
                lines.append(held)
            held = ""
    return lines


def train_commands() -> list[tuple[str, list[str], bool]]:
    """(where, overrides, refused) of every `gan train` line in the pages' code blocks."""
    found = []
    for page in PAGES:
        for line in code_lines(page.read_text()):
            command, _, error = line.partition("\n")
            match = re.search(r"(?:^|[\s/])gan train\b(.*)", command)
            if not match or any(k in command for k in NEEDS_A_RUN):
                continue
            words = [w for w in shlex.split(match[1], comments=True) if w not in FLAGS]
            found.append((f"{page.relative_to(ROOT)}: {command.strip()}", words, bool(error)))
    return found


def first_of_sweeps(overrides: list[str]) -> list[str]:
    """A sweep's first job: `a=1,2` -> `a=1` (Hydra's own parser reads the sweep)."""
    parser, out = OverridesParser.create(), []
    for text in overrides:
        override = parser.parse_override(text)
        if override.is_sweep_override():
            first = next(override.sweep_string_iterator())
            text = f"{override.get_key_element()}={first}"
        out.append(text)
    return out


COMMANDS = train_commands()


def test_the_docs_hold_train_commands_and_the_finder_reads_blocks():
    assert len(COMMANDS) > 30
    block = "x\n```bash\ngan train a=1 \\\n  b=2  # c\n```\ngan train z=9\n"
    assert code_lines(block) == ["gan train a=1    b=2  # c"]
    assert code_lines("```\n$ gan train a=x\nerror: a=x is not allowed\n```") == [
        "$ gan train a=x\nerror: a=x is not allowed"]
    assert sum(refused for _, _, refused in COMMANDS) >= 2
    assert first_of_sweeps(["optim.g.lr=1e-4,2e-4", "seed=3"]) == ["optim.g.lr=0.0001", "seed=3"]


@pytest.mark.parametrize("where,overrides,refused", COMMANDS, ids=[c[0][:90] for c in COMMANDS])
def test_every_documented_train_command_composes(where, overrides, refused):
    if not refused:
        validate_train(compose_train(first_of_sweeps(overrides)))
        return
    with pytest.raises((ConfigError, HydraException, OmegaConfBaseException)):
        validate_train(compose_train(first_of_sweeps(overrides)))


def test_the_configuration_reference_is_generated_from_every_conf_file():
    text = reference(conf_dir())
    conf = Path(conf_dir())
    for group in (p for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        for option in group.glob("[!_]*.yaml"):
            assert f"### `{group.name}={option.stem}`" in text
    assert "| `train.augment` | `none` |" in text and "| `model.g.width_max` | `64` |" in text
    assert "docs/configuration.md" not in text and MARKER in (ROOT / "docs" / "configuration.md").read_text()
