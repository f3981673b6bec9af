"""The simple RNN cell (Elman, 1990; d2l §8.4), in torch.nn.RNN's equations and weight layout.

    h' = φ(W_ih x + b_ih + W_hh h + b_hh),   φ = tanh or relu
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import torch
from torch import nn

import zoo
from zoo.cell import Cell, NpState, State
from zoo.options import option


@dataclasses.dataclass
class RNNOptions:
    """Options of the ``rnn`` cell (keys of the recipe's ``model`` section)."""

    nonlinearity: Literal["tanh", "relu"] = option("tanh", "the activation φ of h' = φ(W_ih x + b_ih + W_hh h + b_hh)")


class RNN(Cell):
    """Elman RNN; ``impl: nn`` runs ``torch.nn.RNN``, ``impl: scratch`` this equation."""

    gates = 1
    num_states = 1
    nn_class = nn.RNN
    Options = RNNOptions

    def nn_kwargs(self) -> dict[str, str]:
        """``nonlinearity`` for ``torch.nn.RNN``."""
        return {"nonlinearity": self.options.nonlinearity}

    def step(self, gx: torch.Tensor, state: State, weight_hh: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step; ``gx`` is (N, H), the input projection with ``bias_ih``."""
        (h,) = state
        pre = gx + torch.addmm(bias_hh, h, weight_hh.t())  # (N, H)
        h = torch.tanh(pre) if self.options.nonlinearity == "tanh" else torch.relu(pre)
        return h, (h,)


    def np_step(self, gx: np.ndarray, state: NpState, weight_hh: np.ndarray, bias_hh: np.ndarray) -> tuple[np.ndarray, NpState, tuple]:
        """The same step in NumPy; also returns what :meth:`np_step_backward` needs."""
        (h_prev,) = state
        pre = gx + h_prev @ weight_hh.T + bias_hh  # (N, H)
        h = np.tanh(pre) if self.options.nonlinearity == "tanh" else np.maximum(pre, 0)
        return h, (h,), (h_prev, h)

    def np_step_backward(self, dh: np.ndarray, dstate: NpState, cache: tuple, weight_hh: np.ndarray) -> tuple[np.ndarray, NpState, np.ndarray, np.ndarray]:
        """Gradients of one step: ``(dgx, dstate_prev, dweight_hh, dbias_hh)``."""
        h_prev, h = cache
        d = dh + dstate[0]  # the output and the carried state are the same h
        dpre = d * (1 - h * h) if self.options.nonlinearity == "tanh" else d * (h > 0)  # (N, H)
        return dpre, (dpre @ weight_hh,), dpre.T @ h_prev, dpre.sum(0)


@zoo.hookimpl
def register_cells(register):
    """Register ``rnn``."""
    register("rnn", RNN)
