"""The simple RNN cell (Elman, 1990; d2l §8.4), in torch.nn.RNN's equations and weight layout.

    h' = φ(W_ih x + b_ih + W_hh h + b_hh),   φ = tanh or relu
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch
from torch import nn

import zoo
from zoo.nn.cell import Array, Cell, State
from zoo.nn.ops import ops_for
from zoo.options import option


@dataclasses.dataclass
class RNNOptions:
    """Options of the ``rnn`` cell (keys of the recipe's ``model`` section)."""

    nonlinearity: Literal["tanh", "relu"] = option("tanh", "the activation φ of h' = φ(W_ih x + b_ih + W_hh h + b_hh)")


class RNN(Cell):
    """Elman RNN; ``impl: nn`` runs ``torch.nn.RNN``, ``impl: scratch`` this equation."""

    gates = 1
    num_states = 1
    generic_equations = True
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


    def np_step(self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array) -> tuple[Array, tuple[Array, ...], tuple]:
        """The same step on NumPy arrays or torch tensors; also returns what :meth:`np_step_backward` needs."""
        xp = ops_for(gx)
        (h_prev,) = state
        pre = gx + h_prev @ weight_hh.T + bias_hh  # (N, H)
        h = xp.tanh(pre) if self.options.nonlinearity == "tanh" else xp.relu(pre)
        return h, (h,), (h,)

    def np_step_backward(self, dh: Array, dstate: tuple[Array, ...], cache: tuple, weight_hh: Array) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx, dstate_prev, dgh)``, ``dgh`` reaching the recurrent projection ``h_prev @ weight_hh.T + bias_hh``."""
        (h,) = cache
        d = dh + dstate[0]  # the output and the carried state are the same h
        dpre = d * (1 - h * h) if self.options.nonlinearity == "tanh" else d * (h > 0)  # (N, H)
        return dpre, (dpre @ weight_hh,), dpre


@zoo.hookimpl
def register_cells(register):
    """Register ``rnn``."""
    register("rnn", RNN)
