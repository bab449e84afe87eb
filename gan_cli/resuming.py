"""The settings of a resume: the experiment's from the checkpoint's own config, and on top only what
the user typed on the command line.

`gan train train.resume=<run>` alone continues that run as it was trained, even when a recipe or
a default has changed since (a ring8 run of gan-cli 0.1 was refused because today's ring8 recipe
has another lr, batch and EMA). A typed setting is then checked as before (run.check_resumable):
those a resume may change are applied, the others refused in one line that names them.
"""

import copy

from omegaconf import OmegaConf

from gan_cli.rundir import read_checkpoint

# Where and how this process runs: taken from this invocation, not from the checkpoint, since a
# run may be continued on another machine or from another folder.
ENVIRONMENT = ("paths", "device", "train.threads", "train.progress", "train.resume", "data.root",
               "data.download", "data.cache")
# Keys added after a checkpoint was written whose default would change what the run does: the
# value that keeps an older run as it was (train.ema_rampup: the EMA had no warm-up before;
# train.lr_decay_from: the lr was constant, and MNIST's recipe now decays it; method.text_encoder:
# D learned StackGAN's text encoder; method.digit_weight: its D had no digit head). Model keys
# are filled in when the checkpoint loads (models.with_added_keys).
NEUTRAL = {"train.ema_rampup": 0.0, "train.lr_decay_from": 1.0, "method.text_encoder": "joint",
           "method.digit_weight": 0.0}


def _get(node: dict, key: str):
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return KeyError
        node = node[part]
    return node


def _set(node: dict, key: str, value) -> None:
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = copy.deepcopy(value)


def _fill(saved: dict, today: dict, prefix: str = "") -> None:
    """Keys today's config has and the saved one lacks (written by an older version): the neutral
    value, else today's default. A group chosen differently (another model) is left as it was."""
    if "name" in saved and "name" in today and saved["name"] != today["name"]:
        return
    for key, value in today.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in saved:
            saved[key] = copy.deepcopy(NEUTRAL.get(dotted, value))
        elif isinstance(saved[key], dict) and isinstance(value, dict):
            _fill(saved[key], value, dotted)


def typed_keys(overrides) -> list[str]:
    """The config keys (or groups: `model`, `data`, ...) that command-line overrides set."""
    keys = []
    for override in overrides:
        key, eq, _ = str(override).partition("=")
        key = key.lstrip("+~")
        if eq and key and not key.startswith("hydra.") and key != "hydra":
            keys.append(key.split("@")[0])
    return keys


def resumed_settings(today: dict, saved: dict, typed: list[str]) -> dict:
    """The checkpoint's settings (saved), this invocation's environment, and what was typed, each
    taken from today's composed config (today), where Hydra has checked its type."""
    merged = copy.deepcopy(saved)
    if isinstance(merged.get("data"), dict):
        merged["data"].pop("source", None)  # recorded by the run, not a setting
    _fill(merged, today)
    for key in (*ENVIRONMENT, *typed):
        value = _get(today, key)
        if value is not KeyError:
            _set(merged, key, value)
    return merged


def resumed_config(cfg, overrides):
    """cfg (composed from the command line) for a run that continues train.resume's checkpoint."""
    saved = read_checkpoint(cfg.train.resume)["config"]
    today = OmegaConf.to_container(cfg, resolve=True)
    return OmegaConf.create(resumed_settings(today, saved, typed_keys(overrides)))
