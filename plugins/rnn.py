"""The simple RNN cell (Elman, 1990; d2l §8.4), in torch.nn.RNN's equations and weight layout.

h' = φ(W_ih x + b_ih + W_hh h + b_hh),   φ = tanh or relu
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from zoo.plugin import Array, Cell, hookimpl, ops_for, option


@dataclasses.dataclass
class RNNOptions:
    """Options of the ``rnn`` cell (keys of the recipe's ``model`` section)."""

    nonlinearity: Literal["tanh", "relu"] = option("tanh", "the activation φ of h' = φ(W_ih x + b_ih + W_hh h + b_hh)")


class RNN(Cell):
    """Elman RNN; ``impl: nn`` runs ``torch.nn.RNN``, ``impl: scratch`` and ``backend: numpy`` this equation."""

    gates = 1
    num_states = 1
    nn_module = "RNN"
    Options = RNNOptions

    def nn_kwargs(self) -> dict[str, str]:
        """``nonlinearity`` for ``torch.nn.RNN``."""
        return {"nonlinearity": self.options.nonlinearity}

    def forward_step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple]:
        """One step; ``gx`` is (N, H), the input projection with ``bias_ih``."""
        xp = ops_for(gx)
        (h_prev,) = state
        pre = gx + h_prev @ weight_hh.T + bias_hh  # (N, H)
        h = xp.tanh(pre) if self.options.nonlinearity == "tanh" else xp.relu(pre)
        return h, (h,), (h,)

    def backward_step(
        self, dh: Array, dstate: tuple[Array, ...], cache: tuple, weight_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx, dstate_prev, dgh)``; ``gx`` and ``gh`` enter alike, so ``dgh`` is ``dgx``."""
        (h,) = cache
        d = dh + dstate[0]  # the output and the carried state are the same h
        dpre = d * (1 - h * h) if self.options.nonlinearity == "tanh" else d * (h > 0)  # (N, H)
        return dpre, (dpre @ weight_hh,), dpre


@hookimpl
def register_cells(register):
    """Register ``rnn``."""
    register("rnn", RNN)
