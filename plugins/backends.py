"""Backends on PyTorch: ``torch`` (CPU) and ``auto`` (CUDA when present, else CPU)."""

from __future__ import annotations

import torch

import zoo
from zoo.errors import UsageError
from zoo.interfaces import NoOptions


class TorchBackend:
    """PyTorch on the CPU: autograd gives the gradients."""

    Options = NoOptions
    name = "torch"

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

    @property
    def device(self) -> torch.device:
        """Always the CPU."""
        return torch.device("cpu")

    def check(self) -> None:
        """The CPU is always there."""


class AutoBackend(TorchBackend):
    """Picks ``cuda`` when an NVIDIA GPU is visible to torch, otherwise ``torch`` (CPU)."""

    def __init__(self, options: NoOptions | None = None):
        super().__init__(options)
        self.name = "cuda" if torch.cuda.is_available() else "torch"

    @property
    def device(self) -> torch.device:
        """``cuda`` when available, else the CPU."""
        return torch.device("cuda" if self.name == "cuda" else "cpu")


class CudaBackend(TorchBackend):
    """PyTorch on an NVIDIA GPU."""

    name = "cuda"

    @property
    def device(self) -> torch.device:
        """The current CUDA device."""
        return torch.device("cuda")

    def check(self) -> None:
        """Fail with one line when torch sees no GPU."""
        if not torch.cuda.is_available():
            raise UsageError("backend: cuda needs an NVIDIA GPU with a CUDA build of torch, and none is visible here; use backend: torch or auto")


@zoo.hookimpl
def register_backends(register):
    """Register ``torch``, ``cuda`` and ``auto``."""
    register("torch", TorchBackend, aliases=("cpu",))
    register("cuda", CudaBackend)
    register("auto", AutoBackend)
