"""``zoo sweep``'s parameter specs: ``KEY=choice(128,256)``, ``int(1,3)``, ``uniform(0,0.5)``,
``loguniform(1e-4,1e-1)``.

A :class:`Spec` is one recipe key and the values a sweep may give it: it draws them through an Optuna trial
(:meth:`Spec.suggest`), lists them for the grid sampler (:meth:`Spec.grid`, ``choice`` and ``int`` only), and names the
values that stand for all of them when a recipe is checked before anything trains (:meth:`Spec.corners`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import yaml

from zoo.errors import UsageError
from zoo.yamlfile import load_yaml

__all__ = ["KINDS", "Spec", "parse_spec", "parse_specs"]

KINDS = ("choice", "int", "uniform", "loguniform")
_FORM = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$", re.DOTALL)
_HOW = "choice(A,B,...), int(LOW,HIGH), uniform(LOW,HIGH) or loguniform(LOW,HIGH)"


@dataclasses.dataclass(frozen=True)
class Spec:
    """The values a sweep gives one recipe key: ``kind`` is one of :data:`KINDS`; ``values`` the choices, or the two
    bounds (both included) of a range. ``text`` is the spec as written (``choice(128,256)``)."""

    key: str
    kind: str
    values: tuple[Any, ...]
    text: str

    def suggest(self, trial: Any) -> Any:
        """The value an Optuna trial draws (or was given: an enqueued grid point)."""
        if self.kind == "choice":
            return trial.suggest_categorical(self.key, list(self.values))
        low, high = self.values
        if self.kind == "int":
            return trial.suggest_int(self.key, low, high)
        return trial.suggest_float(self.key, low, high, log=self.kind == "loguniform")

    def grid(self) -> list[Any]:
        """Every value, in order, for the grid sampler; only ``choice`` and ``int`` have them."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return list(range(self.values[0], self.values[1] + 1))
        raise UsageError(
            f"--param {self.key}={self.text}: the grid sampler takes only choice(...) and int(...); "
            "use --sampler random or tpe for a continuous range"
        )

    def corners(self) -> list[Any]:
        """The values that stand for all of them when the recipe is checked: every choice, or both bounds."""
        return list(self.values)

    @property
    def log(self) -> bool:
        """Whether the values are spread on a log scale (a plot's axis)."""
        return self.kind == "loguniform"


def _number(text: str, where: str) -> float:
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{where}: {text.strip()!r} is not a number; write it as 0.5 or 1e-3")
    return value


def parse_spec(pair: str) -> Spec:
    """Parse ``KEY=SPEC`` (``model.hidden_size=choice(128,256)``); one line naming what is wrong otherwise."""
    key, sep, text = pair.partition("=")
    key, text = key.strip(), text.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UsageError(
            f"--param expects KEY=SPEC with a dotted recipe key, e.g. trainer.lr=loguniform(1e-4,1e-1); got {pair!r}"
        )
    where = f"--param {key}={text}"
    match = _FORM.match(text)
    if not match or match.group(1) not in KINDS:
        raise UsageError(f"{where}: expected {_HOW}")
    kind, inside = match.group(1), match.group(2)
    parts = [p.strip() for p in inside.split(",")] if inside.strip() else []
    if kind == "choice":
        if not parts or any(not p for p in parts):
            raise UsageError(f"{where}: choice needs one or more values separated by commas, e.g. choice(128,256)")
        values = tuple(_scalar(p) for p in parts)
        if len(set(map(repr, values))) < len(values):
            raise UsageError(f"{where}: a value is given twice; give each once")
        return Spec(key, kind, values, text)
    if len(parts) != 2:
        raise UsageError(f"{where}: {kind} takes two numbers, LOW and HIGH, e.g. {kind}(1,3)")
    low, high = (_number(p, where) for p in parts)
    if kind == "int" and not all(isinstance(v, int) for v in (low, high)):
        raise UsageError(f"{where}: int takes two whole numbers, e.g. int(1,3)")
    if not low < high:
        raise UsageError(f"{where}: LOW must be below HIGH, got {low} and {high}")
    if kind == "loguniform" and low <= 0:
        raise UsageError(f"{where}: loguniform needs LOW above 0, got {low}")
    if kind in ("uniform", "loguniform"):
        low, high = float(low), float(high)
    return Spec(key, kind, (low, high), text)


def _scalar(text: str) -> Any:
    """One choice, read as a YAML scalar (``128``, ``0.5``, ``true``, ``adam``)."""
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        return text
    return value if value is None or isinstance(value, (bool, int, float, str)) else text


def parse_specs(pairs: list[str] | tuple[str, ...]) -> list[Spec]:
    """Every ``--param``, each key once."""
    specs = [parse_spec(pair) for pair in pairs]
    keys = [s.key for s in specs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise UsageError(f"--param {twice[0]} is given twice; give each key once")
    if not specs:
        raise UsageError("zoo sweep needs at least one --param KEY=SPEC, e.g. --param trainer.lr=loguniform(1e-4,1e-1)")
    return specs
