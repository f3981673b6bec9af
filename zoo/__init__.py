"""zoo: a plugin-based model zoo for recurrent language models (RNN, GRU, LSTM)."""

from __future__ import annotations

__version__ = "0.1.0"

from .cards import list_models  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .pretrained import Model, load  # noqa: E402
from .runner import RunResult, resume, run  # noqa: E402
from .vocab import Vocab  # noqa: E402

__all__ = ["__version__", "hookimpl", "load", "list_models", "run", "resume", "Model", "RunResult", "Vocab"]
