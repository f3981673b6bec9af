"""The few array operations a cell's equations and the time loop need, for NumPy arrays and torch tensors alike.

A cell that writes ``forward_step``/``backward_step`` with ``xp = ops_for(gx)`` (and the
operators ``@ * + -``, ``.T``, ``.sum(0)``) runs the same equations on the NumPy backend and
in the fused torch layer (:mod:`zoo.nn.fused`), whose backward pass is hand-written.
"""

from __future__ import annotations

import functools
import sys
import types
from typing import Any

import numpy as np

__all__ = ["ops_for", "NUMPY", "torch_ops"]


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # stable for large |x|


NUMPY = types.SimpleNamespace(
    split=lambda x, n: np.split(x, n, axis=1),
    cat=lambda xs: np.concatenate(xs, axis=1),
    tanh=np.tanh,
    sigmoid=_np_sigmoid,
    relu=lambda x: np.maximum(x, 0),
    stack=lambda xs, axis: np.stack(xs, axis=axis),
    empty=lambda shape, like: np.empty(shape, dtype=like.dtype),
    zeros=lambda shape, like: np.zeros(shape, dtype=like.dtype),
    linear=lambda x, w, b: x @ w.T + b,
)


@functools.cache
def torch_ops() -> types.SimpleNamespace:
    """The namespace for torch tensors, made on first use: a module of cells loads no torch."""
    import torch

    return types.SimpleNamespace(
        split=lambda x, n: x.chunk(n, dim=1),
        cat=lambda xs: torch.cat(xs, dim=1),
        tanh=torch.tanh,
        sigmoid=torch.sigmoid,
        relu=torch.relu,
        stack=lambda xs, axis: torch.stack(xs, dim=axis),
        empty=lambda shape, like: like.new_empty(shape),
        zeros=lambda shape, like: like.new_zeros(shape),
        linear=lambda x, w, b: torch.addmm(b, x, w.t()),
    )


def ops_for(x: Any) -> types.SimpleNamespace:
    """:func:`torch_ops` for a tensor, :data:`NUMPY` otherwise.

    Each namespace holds ``split(x, n)`` and ``cat(xs)`` along the feature axis (1), ``tanh``,
    ``sigmoid``, ``relu``, ``stack(xs, axis)``, ``empty(shape, like)`` and ``zeros(shape, like)``
    (``like``'s dtype and device), and ``linear(x, w, b)`` = ``x @ w.T + b``.
    """
    torch = sys.modules.get("torch")  # a tensor exists only once torch is loaded
    return torch_ops() if torch is not None and isinstance(x, torch.Tensor) else NUMPY
