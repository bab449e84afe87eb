"""Keyword options from config, checked against a constructor's annotated signature.

Networks and optimizers are chosen by name from closed registries; their options
are plain values. A constructor declares what it accepts with annotations, e.g.

    def __init__(self, shape, z_dim: int, hidden: Count = 128): ...

and `check_options` refuses unknown keys, wrong types and out-of-range values with
one line naming the config key, before anything is built.
"""

import inspect
import typing
from dataclasses import dataclass
from typing import Annotated

from omegaconf import DictConfig, OmegaConf

from gan_cli.errors import ConfigError


@dataclass(frozen=True)
class Range:
    """Allowed interval for a number (or for each number of a fixed-length tuple)."""
    lo: float | None = None
    hi: float | None = None
    hi_open: bool = False   # True: value < hi; False: value <= hi

    def __contains__(self, v) -> bool:
        above = self.lo is None or v >= self.lo
        below = self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)
        return above and below

    def describe(self) -> str:
        if self.hi is None:
            return f">= {self.lo:g}"
        return f"in [{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


@dataclass(frozen=True)
class Choice:
    """Allowed names for a string option (a closed registry's keys)."""
    names: tuple[str, ...]

    def __contains__(self, v) -> bool:
        return v in self.names

    def describe(self) -> str:
        return f"one of {', '.join(self.names)}"


Count = Annotated[int, Range(1)]                           # layer widths, unit and block counts
Rate = Annotated[float, Range(1e-12)]                      # learning rates: > 0
NonNegative = Annotated[float, Range(0)]
NonNegativeInt = Annotated[int, Range(0)]                  # sizes where 0 means "off"
Fraction = Annotated[float, Range(0, 1, hi_open=True)]     # dropout, momentum, decay: [0, 1)
Betas = Annotated[tuple[float, float], Range(0, 1, hi_open=True)]  # Adam's (beta1, beta2)

PLAIN = (bool, int, float, str, type(None))


def plain(node) -> dict:
    """A config node (DictConfig, dict or None) as a plain dict."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})


def _type_ok(value, kind) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is str:
        return isinstance(value, str)
    return isinstance(value, PLAIN)


def _check_value(key: str, value, hint) -> None:
    """One option against its annotation: bool, int, float, str or a fixed tuple, optional Range
    (or Choice, for a str)."""
    kind, extras = hint, ()
    if typing.get_origin(hint) is Annotated:
        kind, *extras = typing.get_args(hint)
    limits = next((e for e in extras if isinstance(e, (Range, Choice))), None)
    if typing.get_origin(kind) is tuple:
        parts = typing.get_args(kind)
        what = f"a list of {len(parts)} numbers" + (f", each {limits.describe()}" if limits else "")
        if not isinstance(value, (list, tuple)) or len(value) != len(parts) or \
                not all(_type_ok(v, t) and (limits is None or v in limits) for v, t in zip(value, parts)):
            raise ConfigError(f"{key}={value} is not allowed: {what}")
        return
    if not _type_ok(value, kind):
        raise ConfigError(f"{key}={value} is not allowed: must be {getattr(kind, '__name__', kind)}")
    if limits is not None and value not in limits:
        raise ConfigError(f"{key}={value} is not allowed: must be {limits.describe()}")


def check_options(fn, options: dict, key: str, skip=("self", "shape", "z_dim", "params")) -> dict:
    """Plain keyword options for fn, checked: unknown keys, types, ranges. key is the config path
    (e.g. 'model.g') used in the error. Returns the options with tuples for tuple-typed values."""
    params = {n: p for n, p in inspect.signature(fn).parameters.items()
              if n not in skip and p.kind is not p.VAR_KEYWORD}
    hints = typing.get_type_hints(fn.__init__ if inspect.isclass(fn) else fn, include_extras=True)
    checked = {}
    for name, value in options.items():
        if name not in params:
            allowed = ", ".join(params) or "no options"
            raise ConfigError(f"{key}.{name} is not an option here: allowed {allowed}")
        if name in hints:
            _check_value(f"{key}.{name}", value, hints[name])
        elif not isinstance(value, PLAIN):
            raise ConfigError(f"{key}.{name}={value} is not allowed: a plain value")
        checked[name] = _as_hinted(value, hints.get(name))
    return checked


def _as_hinted(value, hint):
    """value with lists as tuples and ints as floats where the hint says float: `optim.g.betas=[0,0.99]`
    reaches torch as (0.0, 0.99), which Adam requires (it refuses a mix of int and float)."""
    kind = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
    if isinstance(value, (list, tuple)):
        parts = typing.get_args(kind) if typing.get_origin(kind) is tuple else ()
        return tuple(_as_hinted(v, t) for v, t in zip(value, parts)) if parts else tuple(value)
    return float(value) if kind is float and isinstance(value, int) and not isinstance(value, bool) else value
