"""The autograd training step of the torch backends (``torch``, ``cuda``, ``auto``): d2l's, with DDP in a
distributed run. Imported when a backend makes an engine, so that registering the backends loads no torch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from zoo.plugin import Engine, LanguageModel, TrainSettings

__all__ = ["TorchEngine", "clip_grad_norm", "clip_grad_value"]


def clip_grad_norm(params: list[torch.nn.Parameter], theta: float) -> None:
    """d2l's clipping: if the global norm exceeds ``theta``, scale every gradient by theta/norm.

    Stays on the device (no host synchronisation).
    """
    grads = [p.grad for p in params if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    scale = torch.clamp(theta / norm, max=1.0)
    for g in grads:
        g.mul_(scale)


def clip_grad_value(params: list[torch.nn.Parameter], value: float) -> None:
    """Clamp every gradient entry to [-value, value], like ``np.clip`` in the dinosaur exercise."""
    for p in params:
        if p.grad is not None:
            p.grad.clamp_(-value, value)


class TorchEngine(Engine):
    """Training steps on autograd: cross-entropy over every position, backward, clip, SGD or Adam.

    In a distributed run (a ``torch.distributed`` process group of more than one process) the model
    is wrapped in ``DistributedDataParallel``: each process's gradients, from its share of the batch,
    are averaged before clipping, so every process takes the same step as one process on the whole batch.
    """

    def __init__(self, model: LanguageModel, settings: TrainSettings):
        self.model, self.settings = model, settings
        self.net: torch.nn.Module = model  # what the forward pass runs through: the model, or its DDP wrapper
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            self.net = DistributedDataParallel(
                model, device_ids=[model.device.index] if model.device.type == "cuda" else None
            )
        self.params = list(model.parameters())
        opt = torch.optim.SGD if settings.optimizer == "sgd" else torch.optim.Adam
        self.optimizer = opt(self.params, lr=settings.lr)

    def train_step(self, X: np.ndarray, Y: np.ndarray, state: Any) -> tuple[float, Any]:
        """See :meth:`zoo.interfaces.Engine.train_step`."""
        device = self.model.device
        X = torch.from_numpy(X).to(device)  # (N, T)
        Y = torch.from_numpy(Y).to(device)  # (N, T)
        self.net.train()
        logits, state = self.net(X, state)  # (N, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), Y.reshape(-1))
        self.optimizer.zero_grad(set_to_none=True)
        (loss * Y.shape[1] if self.settings.reduction == "sum" else loss).backward()
        if self.settings.clip_norm is not None:
            clip_grad_norm(self.params, self.settings.clip_norm)
        if self.settings.clip_value is not None:
            clip_grad_value(self.params, self.settings.clip_value)
        value = loss.item()
        if math.isfinite(value):
            self.optimizer.step()
        return value, tuple(s.detach() for s in state)

    def sync(self) -> None:
        """The weights already live in the model."""

    def set_lr(self, lr: float) -> None:
        """See :meth:`zoo.interfaces.Engine.set_lr`."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Weights (``model.*``) and optimizer moments (``optimizer.<param>.<key>``), for a checkpoint."""
        out = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        names = [n for n, _ in self.model.named_parameters()]
        for i, moments in self.optimizer.state_dict()["state"].items():
            out |= {f"optimizer.{names[i]}.{key}": t for key, t in moments.items()}
        return out

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")})
        index = {n: i for i, (n, _) in enumerate(self.model.named_parameters())}
        state = self.optimizer.state_dict()
        for key, t in tensors.items():
            if key.startswith("optimizer."):
                name, moment = key.removeprefix("optimizer.").rsplit(".", 1)
                state["state"].setdefault(index[name], {})[moment] = t
        self.optimizer.load_state_dict(state)
