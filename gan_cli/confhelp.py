"""`gan <command> --help` shows the composed config with each key's one-line comment.

Hydra reads conf/ with a YAML parser, which drops comments, so its `$CONFIG` help has none.
Here the comments are read from the very files the config was composed from (the primary
config and the chosen option of each group, named in hydra.runtime.choices) and put back at the
end of each key's line. The help templates in conf/hydra/help/ call `${gan_config_help:}`.
"""

import copy
import re
from pathlib import Path

from omegaconf import OmegaConf, open_dict

KEY_LINE = re.compile(r"^(\s*)'?([A-Za-z_][\w.\-]*)'?:(.*)$")  # `  key: value   # comment`
COMMENT = re.compile(r"\s#\s?(.*)$")
INCLUDE = re.compile(r"^\s*-\s*/(\w+)/(\w+)\s*(#.*)?$")  # a defaults entry `- /sweep/_budget`
COLUMN = 34  # where the comments start, as in the files


def file_comments(path: Path, package: str) -> dict[str, str]:
    """Dotted key -> the comment at the end of its line in one conf/ file; `package` is the
    group the file's keys land in ('' for the primary config and `# @package _global_` files)."""
    lines = path.read_text().splitlines()
    if "# @package _global_" in lines[:3]:
        package = ""
    comments, stack, skipping = {}, [], False
    for line in lines:
        match = KEY_LINE.match(line)
        if not match:
            continue
        indent, key, rest = len(match[1]), match[2], match[3]
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, key)]
        if indent == 0:  # the defaults list and Hydra's own settings are not the app's keys
            skipping = key in ("defaults", "hydra")
        note = COMMENT.search(rest)
        if not skipping and note:
            comments[".".join([package] * bool(package) + [k for _, k in stack])] = note[1].strip()
    return comments


def included(path: Path, conf: Path) -> list[Path]:
    """Files a defaults list pulls in by absolute name (`- /sweep/_budget`), before the file itself."""
    found = []
    for line in path.read_text().splitlines():
        match = INCLUDE.match(line)
        if match and (conf / match[1] / f"{match[2]}.yaml").is_file():
            found.append(conf / match[1] / f"{match[2]}.yaml")
    return found


def config_comments(conf: Path, config_name: str, choices: dict) -> dict[str, str]:
    """Every key's comment: the primary config's, then each chosen group option's (a later
    file's comment wins, as its value does: `loss=wgan` says what train.d_steps means there)."""
    comments = file_comments(conf / f"{config_name}.yaml", "")
    for group, choice in choices.items():
        path = conf / group / f"{choice}.yaml"
        if group.startswith("hydra") or choice is None or not path.is_file():
            continue
        for extra in included(path, conf):
            comments.update(file_comments(extra, group))
        comments.update(file_comments(path, group))
    return comments


def annotate(yaml_text: str, comments: dict[str, str]) -> str:
    """The YAML text with `# comment` after every key that has one."""
    out, stack = [], []
    for line in yaml_text.splitlines():
        match = KEY_LINE.match(line)
        if not match:
            out.append(line)  # list items, continuation lines
            continue
        indent = len(match[1])
        stack = [(i, k) for i, k in stack if i < indent] + [(indent, match[2])]
        note = comments.get(".".join(k for _, k in stack))
        out.append(f"{line:<{COLUMN - 2}}  # {note}" if note else line)
    return "\n".join(out)


def config_help(root, conf_dir: str) -> str:
    """The resolver behind `${gan_config_help:}`: root is the composed config, hydra included.
    `$` is doubled because Hydra passes the template through string.Template afterwards."""
    runtime = root.hydra.runtime
    cfg = copy.deepcopy(root)
    with open_dict(cfg):
        del cfg["hydra"]
    config_name = str(root.hydra.job.config_name)
    comments = config_comments(Path(conf_dir), config_name, dict(runtime.choices))
    return annotate(OmegaConf.to_yaml(cfg), comments).replace("$", "$$")


def register(conf_dir: str) -> None:
    """Make `${gan_config_help:}` available to the help templates."""
    if not OmegaConf.has_resolver("gan_config_help"):
        OmegaConf.register_new_resolver("gan_config_help", lambda *, _root_: config_help(_root_, conf_dir))


def _header(path: Path) -> str:
    """A conf/ file's opening comment lines (what the option is), joined."""
    text = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            text.append(line.lstrip("# ").strip())
    return " ".join(text)


def _rows(path: Path) -> list[str]:
    """Markdown table rows `key | default | comment` of one conf/ file, keys as the file writes them."""
    values = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    rows = []
    for key, note in file_comments(path, "").items():
        value = values
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, list):
            shown = "[" + ", ".join(str(v) for v in value) + "]"
        else:
            shown = "" if isinstance(value, dict) else OmegaConf.to_yaml({"v": value})[3:].strip()
        note = note.replace("|", "\\|").replace("<", "&lt;")
        rows.append(f"| `{key}` | `{shown}` | {note} |" if shown else f"| `{key}` | | {note} |")
    return rows


def reference(conf_dir: str) -> str:
    """The configuration reference as Markdown, from the same files and comments that `gan train
    --help` reads: the primary configs' keys, then every option of every group."""
    conf, out = Path(conf_dir), []
    table = ["| key | default | what it does |", "| --- | --- | --- |"]
    for name in ("train", "sample", "evaluate"):
        out += [f"## `gan {'eval' if name == 'evaluate' else name}`: conf/{name}.yaml", "",
                _header(conf / f"{name}.yaml"), "", *table, *_rows(conf / f"{name}.yaml"), ""]
    for group in sorted(p for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        out += [f"## `{group.name}=`", ""]
        for path in sorted(group.glob("*.yaml")):
            if path.stem.startswith("_"):
                continue
            out += [f"### `{group.name}={path.stem}`", "", _header(path), ""]
            rows = _rows(path)
            out += [*table, *rows, ""] if rows else []
    return "\n".join(out)
