"""The ``numpy`` backend: forward and backward passes written by hand, no torch on the training path.

Weights keep torch.nn's names and shapes, so a model trained here is an ordinary
zoo model: it loads on ``torch`` or ``cuda`` with the same logits, and back. The engine and the
inference are in :mod:`zoo_plugins.numpy_engine`, imported when the backend is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.plugin import Backend, NoOptions, UsageError, hookimpl

if TYPE_CHECKING:
    import numpy as np
    import torch
    from zoo_plugins.numpy_engine import NumpyEngine, NumpyInference

    from zoo.plugin import LanguageModel, TrainSettings


class NumpyBackend(Backend):
    """NumPy on the CPU, with backpropagation through time written by hand."""

    Options = NoOptions
    name = "numpy"

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

    @property
    def device(self) -> torch.device:
        """The torch copy of the weights stays on the CPU."""
        import torch

        return torch.device("cpu")

    def check(self, model_options: Any = None, cell: Any = None) -> None:
        """Refuse cells without hand-written gradients (``cell.has_backward_step()``)."""
        if cell is not None and not cell.has_backward_step():
            raise UsageError(
                f"backend: numpy needs NumPy equations (forward_step, backward_step) that cell "
                f"'{type(cell).__name__}' does not define; use backend: torch"
            )

    def engine(self, model: LanguageModel, settings: TrainSettings, rng: np.random.Generator) -> NumpyEngine:
        """Hand-written training steps; dropout masks come from ``rng``."""
        from zoo_plugins.numpy_engine import NumpyEngine

        return NumpyEngine(model, settings, rng)

    def inference(self, model: LanguageModel) -> NumpyInference:
        """Forward passes in NumPy."""
        from zoo_plugins.numpy_engine import NumpyInference

        return NumpyInference(model)


@hookimpl
def register_backends(register):
    """Register ``numpy``."""
    register("numpy", NumpyBackend, aliases=("np",))
