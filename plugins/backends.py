"""Backends on PyTorch: ``torch`` (CPU), ``cuda`` (an NVIDIA GPU) and ``auto`` (CUDA when present, else CPU).

Gradients come from autograd; the engine is d2l's training step (:mod:`zoo_plugins.torch_engine`). This module imports
torch only when a backend is used, so that ``zoo plugins`` and ``zoo validate`` need none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from zoo.plugin import Backend, NoOptions, UsageError, hookimpl

if TYPE_CHECKING:
    import numpy as np
    import torch
    from zoo_plugins.torch_engine import TorchEngine

    from zoo.plugin import LanguageModel, TrainSettings


class TorchBackend(Backend):
    """PyTorch on the CPU: autograd gives the gradients."""

    Options = NoOptions
    name = "torch"
    distributed = True

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

    @property
    def device(self) -> torch.device:
        """Always the CPU."""
        import torch

        return torch.device("cpu")

    def check(self, model_options: Any = None, cell: Any = None) -> None:
        """The CPU is always there."""

    def engine(self, model: LanguageModel, settings: TrainSettings, rng: np.random.Generator) -> TorchEngine:
        """Autograd training steps (dropout draws from torch's seeded generator)."""
        from zoo_plugins.torch_engine import TorchEngine

        return TorchEngine(model, settings)

    def inference(self, model: LanguageModel) -> LanguageModel:
        """The model itself."""
        return model


class CudaBackend(TorchBackend):
    """PyTorch on an NVIDIA GPU: ``nn`` cells through cuDNN, ``scratch`` cells on the device."""

    name = "cuda"

    @property
    def device(self) -> torch.device:
        """The current CUDA device."""
        import torch

        return torch.device("cuda")

    def check(self, model_options: Any = None, cell: Any = None) -> None:
        """Fail with one line when torch sees no GPU."""
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                "backend: cuda needs an NVIDIA GPU and a CUDA build of torch, and torch sees none here; use backend: "
                "torch (or auto)"
            )


class AutoBackend(TorchBackend):
    """Picks ``cuda`` when torch sees an NVIDIA GPU, otherwise ``torch`` (CPU)."""

    def __init__(self, options: NoOptions | None = None):
        import torch

        super().__init__(options)
        self.name = "cuda" if torch.cuda.is_available() else "torch"

    @property
    def device(self) -> torch.device:
        """``cuda`` when available, else the CPU."""
        import torch

        return torch.device("cuda" if self.name == "cuda" else "cpu")


@hookimpl
def register_backends(register):
    """Register ``torch`` and ``cuda``."""
    register("torch", TorchBackend, aliases=("cpu",))
    register("cuda", CudaBackend)


@hookimpl(trylast=True, specname="register_backends")
def register_auto_backend(register):
    """Register ``auto``: the automatic choice, a fallback another plugin may replace (``trylast``), for instance
    with one that also knows its own accelerator."""
    register("auto", AutoBackend)
