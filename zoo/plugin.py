"""What a plugin may import: ``from zoo.plugin import Cell, hookimpl, option, UsageError``.

Everything a plugin needs is here, and only this module is promised to stay where it is; the rest of ``zoo`` may move
between versions. The built-in plugins (``plugins/``) import from here too, as any third party would.

- **Hooks**: :data:`hookimpl` marks a plugin's ``register_<kind>s(register)`` and ``register_commands(cli)``
  functions (:mod:`zoo.hookspecs`).
- **What a component implements**: :class:`Cell` (subclass it; ``State``, ``NpState`` and ``Array`` are its array
  types, and :func:`ops_for` gives the array namespace its equations are written with), and the protocols
  :class:`Dataset`, :class:`Sampler`, :class:`Backend` (with its :class:`Engine` and :class:`Inference`),
  :class:`Trainer`, :class:`Schedule`, :class:`Predictor` and :class:`Logger` (told of a run with :class:`RunStart` and
  :class:`RunEnd`) (:mod:`zoo.interfaces`). Subclass a protocol to inherit
  the defaults of its optional members.
- **What it is given**: :class:`Corpus`, :class:`Vocab`, :class:`TrainContext`, :class:`TrainSettings` and the model,
  a :class:`LanguageModel`.
- **Options and errors**: :func:`option` declares a field of a component's ``Options`` dataclass, :class:`NoOptions`
  is the empty one; raise :class:`UsageError` (one line a user can act on), :class:`RunError` (a run failed) or
  :class:`Interrupted` (a run stopped on a signal, resumable).
- **Helpers**: a dataset finds its corpus file with :func:`fetch` and reads text with :func:`read_text` (or checks a
  user's path with :func:`check_regular`); a logger takes a record's numbers with :func:`measures` and writes a file
  whole or not at all with :func:`write_text`; a trainer scores a split with :func:`score` and runs prediction loops
  under :func:`prediction_scope`; a predictor reuses the default predictor's :func:`generate_batch`, :func:`perplexity`
  and :func:`label`, refuses bidirectional models with :func:`check_unidirectional`, and reads an empty prefix as
  :data:`NO_INPUT` (the all-zero input).
- **Trainers** train through the :class:`Session` that ``TrainContext.session`` opens (:class:`Position` is where
  training stands), and check the state they keep in a checkpoint with :func:`integer`, :func:`number` and
  :func:`check_tensor`, which raise :class:`Damage` (:func:`show` quotes a bad value in its message).
- **Backends**: :class:`NumpyLanguageModel` is the model in NumPy, with its forward and backward passes by hand.

Each name is imported from its module when first used, so a plugin that needs no torch (a dataset, a command) does not
load it, and ``zoo --help`` stays quick with such plugins installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and editors see; at run time, __getattr__ below
    from zoo.atomic import write_text
    from zoo.errors import Interrupted, RunError, UsageError
    from zoo.files import check_regular, read_text
    from zoo.hookspecs import hookimpl
    from zoo.hub.data import fetch
    from zoo.interfaces import (
        Backend,
        Corpus,
        Dataset,
        Engine,
        Inference,
        Logger,
        Position,
        Predictor,
        RunEnd,
        RunStart,
        Sampler,
        Schedule,
        Session,
        TrainContext,
        Trainer,
        TrainSettings,
        measures,
    )
    from zoo.nn.cell import Array, Cell, NpState, State
    from zoo.nn.evaluate import score
    from zoo.nn.model import LanguageModel, prediction_scope
    from zoo.nn.npmodel import NumpyLanguageModel
    from zoo.nn.ops import ops_for
    from zoo.nn.predict import check_unidirectional, generate_batch, label, perplexity
    from zoo.nn.stack import NO_INPUT
    from zoo.options import NoOptions, option
    from zoo.train.checkpoint import show
    from zoo.train.checkpoint_check import Damage, check_tensor, integer, number
    from zoo.vocab import Vocab

__all__ = [
    "hookimpl",
    "Cell",
    "State",
    "NpState",
    "Array",
    "ops_for",
    "Dataset",
    "Sampler",
    "Backend",
    "Engine",
    "Inference",
    "Trainer",
    "Schedule",
    "Predictor",
    "Logger",
    "RunStart",
    "RunEnd",
    "measures",
    "Corpus",
    "Vocab",
    "TrainContext",
    "TrainSettings",
    "LanguageModel",
    "option",
    "NoOptions",
    "UsageError",
    "RunError",
    "Interrupted",
    "fetch",
    "read_text",
    "check_regular",
    "write_text",
    "score",
    "prediction_scope",
    "generate_batch",
    "perplexity",
    "label",
    "check_unidirectional",
    "NO_INPUT",
    "Session",
    "Position",
    "Damage",
    "integer",
    "number",
    "check_tensor",
    "show",
    "NumpyLanguageModel",
]

_HOMES = {
    "zoo.hookspecs": ("hookimpl",),
    "zoo.nn.cell": ("Cell", "State", "NpState", "Array"),
    "zoo.nn.ops": ("ops_for",),
    "zoo.interfaces": (
        "Dataset",
        "Sampler",
        "Backend",
        "Engine",
        "Inference",
        "Trainer",
        "Schedule",
        "Predictor",
        "Logger",
        "RunStart",
        "RunEnd",
        "measures",
        "Corpus",
        "TrainContext",
        "TrainSettings",
        "Session",
        "Position",
    ),
    "zoo.vocab": ("Vocab",),
    "zoo.nn.model": ("LanguageModel", "prediction_scope"),
    "zoo.options": ("option", "NoOptions"),
    "zoo.errors": ("UsageError", "RunError", "Interrupted"),
    "zoo.hub.data": ("fetch",),
    "zoo.files": ("read_text", "check_regular"),
    "zoo.atomic": ("write_text",),
    "zoo.nn.evaluate": ("score",),
    "zoo.nn.predict": ("generate_batch", "perplexity", "label", "check_unidirectional"),
    "zoo.nn.stack": ("NO_INPUT",),
    "zoo.train.checkpoint": ("show",),
    "zoo.train.checkpoint_check": ("Damage", "integer", "number", "check_tensor"),
    "zoo.nn.npmodel": ("NumpyLanguageModel",),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """``name`` from its module, imported now (and kept here, so this runs once per name)."""
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo.plugin' has no attribute {name!r} (zoo.plugin.__all__ lists what it holds)")
    value = globals()[name] = getattr(importlib.import_module(module), name)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
