"""zoo: a plugin-based model zoo for recurrent language models (RNN, GRU, LSTM).

The names below load on first use: ``import zoo`` (and with it ``zoo --help``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from zoo.hookspecs import hookimpl
from zoo.version import __version__
from zoo.vocab import Vocab

if TYPE_CHECKING:
    from zoo.experiments.compare import compare
    from zoo.experiments.sweep import sweep
    from zoo.hub.cards import list_models
    from zoo.hub.pretrained import Model, load
    from zoo.train.runner import RunResult, resume, run

__all__ = [
    "__version__",
    "hookimpl",
    "load",
    "list_models",
    "run",
    "resume",
    "compare",
    "sweep",
    "Model",
    "RunResult",
    "Vocab",
]

_LAZY = {
    "load": "zoo.hub.pretrained",
    "Model": "zoo.hub.pretrained",
    "list_models": "zoo.hub.cards",
    "run": "zoo.train.runner",
    "resume": "zoo.train.runner",
    "RunResult": "zoo.train.runner",
    "compare": "zoo.experiments.compare",
    "sweep": "zoo.experiments.sweep",
}


def __getattr__(name: str) -> Any:
    """``zoo.load``, ``zoo.run`` and the rest, imported from their modules when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The module's names, the ones not imported yet included."""
    return sorted(set(globals()) | set(__all__))
