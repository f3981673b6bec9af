"""zoo: a plugin-based model zoo for recurrent language models (RNN, GRU, LSTM)."""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.hub.cards import list_models
from zoo.hub.pretrained import Model, load
from zoo.train.runner import RunResult, resume, run
from zoo.version import __version__
from zoo.vocab import Vocab

__all__ = ["__version__", "hookimpl", "load", "list_models", "run", "resume", "Model", "RunResult", "Vocab"]
