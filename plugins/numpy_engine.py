"""The training step and the inference of the ``numpy`` backend: forward and backward passes written by hand,
SGD and Adam in NumPy. Imported when the backend is used, so that registering it loads no torch."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from zoo.plugin import Engine, Inference, LanguageModel, NumpyLanguageModel, TrainSettings

__all__ = ["NumpyEngine", "NumpyInference", "NumpySGD", "NumpyAdam"]


def _weights(model: LanguageModel) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


class NumpySGD:
    """Plain SGD: ``p -= lr * g``."""

    def __init__(self, lr: float):
        self.lr = lr

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` in place."""
        for k, g in grads.items():
            params[k] -= self.lr * g

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain SGD keeps no state."""
        return {}

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Nothing to restore."""


class NumpyAdam:
    """Adam with torch's defaults and arithmetic (betas 0.9, 0.999; eps 1e-8 added after the bias-corrected root)."""

    def __init__(self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Update ``params`` in place."""
        b1, b2 = self.betas
        self.t += 1
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for k, g in grads.items():
            m = self.m.setdefault(k, np.zeros_like(g))
            v = self.v.setdefault(k, np.zeros_like(g))
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            denom = np.sqrt(v)  # the update, with temporaries reused in place
            denom /= np.sqrt(c2)
            denom += self.eps
            np.divide(m, denom, out=denom)
            denom *= self.lr / c1
            params[k] -= denom

    def state_dict(self) -> dict[str, np.ndarray]:
        """The step count and both moments of every weight."""
        return (
            {"step": np.asarray(self.t, dtype=np.int64)}
            | {f"{k}.m": m for k, m in self.m.items()}
            | {f"{k}.v": v for k, v in self.v.items()}
        )

    def load_state_dict(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.t = int(arrays.get("step", 0))
        self.m = {k.removesuffix(".m"): a.copy() for k, a in arrays.items() if k.endswith(".m")}
        self.v = {k.removesuffix(".v"): a.copy() for k, a in arrays.items() if k.endswith(".v")}


class NumpyEngine(Engine):
    """Training steps in NumPy: hand-written BPTT, d2l clipping, SGD or Adam."""

    def __init__(self, model: LanguageModel, settings: TrainSettings, rng: np.random.Generator):
        self.model, self.settings, self.rng = model, settings, rng
        self.net = NumpyLanguageModel(model.cell, model.options, _weights(model))
        self.optimizer = NumpySGD(settings.lr) if settings.optimizer == "sgd" else NumpyAdam(settings.lr)

    def train_step(self, X: np.ndarray, Y: np.ndarray, state: Any) -> tuple[float, Any]:
        """See :meth:`zoo.interfaces.Engine.train_step`; the state is a tuple of arrays."""
        scale = Y.shape[1] if self.settings.reduction == "sum" else 1
        o = self.model.options
        dropout = o.dropout or o.input_dropout or o.output_dropout
        loss, grads, state = self.net.loss_and_grads(X, Y, state, self.rng if dropout else None, scale)
        if self.settings.clip_norm is not None:
            norm = np.sqrt(sum(float(np.vdot(g, g)) for g in grads.values()))
            if norm > self.settings.clip_norm:
                for g in grads.values():
                    g *= self.settings.clip_norm / norm
        if self.settings.clip_value is not None:
            for g in grads.values():
                np.clip(g, -self.settings.clip_value, self.settings.clip_value, out=g)
        if np.isfinite(loss):
            self.optimizer.step(self.net.params, grads)
        return loss, state

    def set_lr(self, lr: float) -> None:
        """See :meth:`zoo.interfaces.Engine.set_lr`."""
        self.optimizer.lr = lr

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Weights (``model.*``) and optimizer state (``optimizer.*``), for a checkpoint."""
        arrays = {f"model.{k}": v for k, v in self.net.params.items()}
        arrays |= {f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()}
        return {
            k: torch.from_numpy(np.require(v, requirements="C")) for k, v in arrays.items()
        }  # Adam's 0-d step stays 0-d

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned."""
        for k, t in tensors.items():
            if k.startswith("model."):
                self.net.params[k.removeprefix("model.")][...] = t.numpy()
        self.optimizer.load_state_dict(
            {k.removeprefix("optimizer."): t.numpy() for k, t in tensors.items() if k.startswith("optimizer.")}
        )
        self.sync()

    def sync(self) -> None:
        """Copy the NumPy weights into the torch model."""
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                v.copy_(torch.from_numpy(self.net.params[k]))


class NumpyInference(Inference):
    """The model's twin for predictors (an :class:`~zoo.interfaces.Inference`): tensors in and out, NumPy inside."""

    def __init__(self, model: LanguageModel):
        self.options, self.training = model.options, False
        self.net = NumpyLanguageModel(model.cell, model.options, _weights(model))

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Run a predictor's loop here with torch on one thread, restored afterwards.

        Between NumPy's steps torch only picks tokens; its thread pool, spinning while NumPy's
        BLAS threads work (and the other way round), made each step about 30 times slower.
        """
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    device = torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype, as torch names it."""
        return torch.float64 if self.options.dtype == "float64" else torch.float32

    def eval(self) -> NumpyInference:
        """Inference never drops out."""
        return self

    def train(self, mode: bool = True) -> NumpyInference:
        """No training mode here."""
        return self

    def step(self, ids: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One generation step, as :meth:`zoo.nn.model.LanguageModel.step`."""
        logits, state = self.net.step(ids.numpy(), tuple(s.numpy() for s in state))
        return torch.from_numpy(logits), tuple(torch.from_numpy(s) for s in state)

    def __call__(self, ids: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        logits, state, _ = self.net.forward(
            ids.cpu().numpy(), None if state is None else tuple(s.numpy() for s in state)
        )
        return torch.from_numpy(logits), tuple(torch.from_numpy(s) for s in state)
