"""Checks of an edited checkpoint, before anything is restored from it.

The sha256 in ``checkpoint.json`` covers only the tensor file, so the JSON itself is input like any other:
each layer checks its own part against what it writes (the store the pointer, the runner its ``run`` state
here, the trainer's session its ``trainer`` state and tensors, see :mod:`zoo.train.session`, and a trainer its own
numbers there) and turns a :class:`Damage` into the store's one-line refusal,
:meth:`zoo.train.checkpoint.CheckpointStore.damaged`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from zoo.hub.download import is_sha256
from zoo.train.checkpoint import show
from zoo.train.rngstate import check_rng

__all__ = ["Damage", "integer", "number", "records", "check_tensor", "check_run_state"]


class Damage(Exception):
    """What is wrong with a checkpoint, in words: ``"trainer.batch must be ≥ 0, got -5"``."""


def integer(value: Any, key: str, low: int, high: int | None = None) -> int:
    """``value`` if it is a whole number in ``[low, high]``, else :class:`Damage` naming ``key``."""
    if type(value) is not int:
        raise Damage(f"{key} must be a whole number, got {show(value)}")
    if value < low:
        raise Damage(f"{key} must be ≥ {low}, got {value}")
    if high is not None and value > high:
        raise Damage(f"{key} must be ≤ {high}, got {value}")
    return value


def number(value: Any, key: str, low: float | None = None, finite: bool = True) -> float:
    """``value`` if it is a (finite, unless told otherwise) number ≥ ``low``, else :class:`Damage` naming ``key``."""
    if type(value) not in (int, float):
        raise Damage(f"{key} must be a number, got {show(value)}")
    if finite and not math.isfinite(value):
        raise Damage(f"{key} must be finite, got {show(value)}")
    if low is not None and value < low:
        raise Damage(f"{key} must be ≥ {low}, got {show(value)}")
    return float(value)


def records(value: Any, key: str) -> list[dict[str, Any]]:
    """``value`` if it is a list of metrics records: mappings of numbers (or null), with a whole ``epoch`` ≥ 1 and
    numeric ``loss`` and ``perplexity``; or, for an evaluation within an epoch, a whole ``batch`` ≥ 1 and numeric
    ``valid_loss`` and ``valid_perplexity``."""
    if not isinstance(value, list):
        raise Damage(f"{key} must be a list of per-epoch metrics, got {show(value)}")
    for i, rec in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(rec, dict):
            raise Damage(f"{where} must be a mapping, got {show(rec)}")
        integer(rec.get("epoch"), f"{where}.epoch", 1)
        if "batch" in rec:
            integer(rec["batch"], f"{where}.batch", 1)
        for name in ("valid_loss", "valid_perplexity") if "batch" in rec else ("loss", "perplexity"):
            number(rec.get(name), f"{where}.{name}", finite=False)
        for name, v in rec.items():
            if v is not None:
                number(v, f"{where}.{name if name.isidentifier() else show(name)}", finite=False)
    return value


def check_tensor(
    tensors: dict[str, torch.Tensor], name: str, shape: tuple[int, ...], dtype: torch.dtype
) -> torch.Tensor:
    """The tensor ``name``, if it is there with this shape and dtype, else :class:`Damage` saying what differs."""
    t = tensors.get(name)
    if t is None:
        raise Damage(f"the tensor {name} is missing")
    if t.dtype != dtype:
        raise Damage(
            f"the tensor {name} is {str(t.dtype).removeprefix('torch.')}, expected {str(dtype).removeprefix('torch.')}"
        )
    if tuple(t.shape) != tuple(shape):
        raise Damage(f"the tensor {name} has shape {tuple(t.shape)}, but the recipe's model needs {tuple(shape)}")
    return t


def check_run_state(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """The runner's part of a checkpoint (``state["run"]`` and the ``rng.*`` tensors), as the runner wrote it.

    The recipe is only checked to be a mapping here: resolving it needs the registry (see
    :func:`zoo.train.runner.resume`).
    """
    run = state.get("run")
    if not isinstance(run, dict):
        raise Damage(f"state.run must be a mapping, got {show(run)}")
    missing = [k for k in ("recipe", "corpus", "metrics", "samples", "rng") if k not in run]
    if missing:
        raise Damage(f"state.run lacks {', '.join(missing)}")
    if not isinstance(run["recipe"], dict):
        raise Damage(f"run.recipe must be a mapping, got {show(run['recipe'])}")
    if not is_sha256(run["corpus"]):
        raise Damage(f"run.corpus must be a sha256 of 64 hexadecimal digits, got {show(run['corpus'])}")
    records(run["metrics"], "run.metrics")
    if not isinstance(run["samples"], list) or not all(isinstance(s, str) for s in run["samples"]):
        raise Damage(f"run.samples must be a list of texts, got {show(run['samples'])}")
    if "loggers" in run:  # the loggers' place (a checkpoint from before zoo had loggers has none)
        loggers = run["loggers"]
        if not isinstance(loggers, dict) or not isinstance(loggers.get("loggers"), dict):
            raise Damage(f"run.loggers must be a mapping with steps and loggers, got {show(loggers)}")
        integer(loggers.get("steps"), "run.loggers.steps", 0)
        for name, own in loggers["loggers"].items():
            if not isinstance(own, dict):
                raise Damage(f"run.loggers.loggers.{name} must be a mapping, got {show(own)}")
    try:
        check_rng(run["rng"], tensors, ["engine"])
    except ValueError as exc:
        raise Damage(str(exc)) from None
