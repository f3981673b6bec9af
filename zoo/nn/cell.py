"""Cell: one recurrent step of one layer in one direction.

A cell holds equations, not weights. The stack (:mod:`zoo.nn.stack`) owns the
weights in PyTorch's ``nn.RNN``/``nn.GRU``/``nn.LSTM`` layout and hands each
step the input projection already computed for the whole sequence, so a cell
only writes the recurrent part. This is what lets any registered cell, a
third party's included, run deep and bidirectional with the same weight names.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
import torch

from zoo.options import NoOptions

__all__ = ["Cell", "State", "NpState", "Array", "RecurrentGradients"]

State = tuple[torch.Tensor, ...]
NpState = tuple[np.ndarray, ...]
Array = np.ndarray | torch.Tensor


class Cell(ABC):
    """Equations of one recurrent step, in PyTorch's weight layout.

    Subclasses set:

    ``gates``
        blocks stacked in ``weight_ih``/``weight_hh`` (RNN 1, GRU 3, LSTM 4);
    ``num_states``
        1 for state ``(h,)``, 2 for ``(h, c)``;
    ``nn_class``
        the ``torch.nn`` module with the same equations (``nn.GRU``), or ``None``
        when there is none, in which case only ``impl: scratch`` is offered;
    ``Options``
        a dataclass of cell-specific recipe keys under ``model`` (e.g. ``nonlinearity``).
    """

    gates: ClassVar[int]
    num_states: ClassVar[int] = 1
    nn_class: ClassVar[type[torch.nn.Module] | None] = None
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    def nn_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for ``nn_class`` (e.g. ``nonlinearity``)."""
        return {}

    @abstractmethod
    def step(self, gx: torch.Tensor, state: State, weight_hh: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Advance one time step.

        :param gx: (batch, gates*hidden) input projection ``x @ weight_ih.T + bias_ih``.
        :param state: the previous state, each tensor (batch, hidden).
        :param weight_hh: (gates*hidden, hidden) recurrent weights.
        :param bias_hh: (gates*hidden,) recurrent bias.
        :returns: ``(h, new_state)``: the output (batch, hidden) and the new state.
        """

    # A cell that also defines ``np_step`` and ``np_step_backward`` runs on the NumPy
    # backend, whose hand-written backpropagation through time calls them:
    #
    #   np_step(gx, state, weight_hh, bias_hh) -> (h, new_state, cache)
    #   np_step_backward(dh, dstate, cache, weight_hh) -> (dgx, dstate_prev, dgh)
    #
    # ``dh`` is the loss gradient reaching this step's output from above, ``dstate``
    # the gradient reaching its new state from the next step; ``dgh`` the gradient reaching
    # the recurrent projection ``state[0] @ weight_hh.T + bias_hh``, from which the stack
    # takes the recurrent weights' gradients as one product over all steps. (Returning
    # ``(dgx, dstate_prev, dweight_hh, dbias_hh)`` instead, per step, works too.)
    #
    # Written with ``xp = zoo.nn.ops.ops_for(gx)`` instead of ``np``, the same two methods also
    # take torch tensors; a cell that sets ``generic_equations = True`` then trains with
    # ``impl: scratch`` through the fused layer of :mod:`zoo.nn.fused`, whose backward pass is
    # these equations rather than autograd's record of every small operation.

    generic_equations: ClassVar[bool] = False

    def describe(self) -> str:
        """A short description, e.g. ``gru`` or ``rnn(relu)``."""
        fields = dataclasses.asdict(self.options) if dataclasses.is_dataclass(self.options) else {}
        inner = ",".join(str(v) for v in fields.values())
        return f"{type(self).__name__}({inner})" if inner else type(self).__name__


class RecurrentGradients:
    """A direction's recurrent weight gradients from its ``np_step_backward`` calls, NumPy or torch alike.

    Steps that return ``dgh`` fill ``dgh[t]`` (T, N, G*H); the gradients are then one product
    over all steps with the states each step started from. Steps that return per-step
    ``(dweight_hh, dbias_hh)`` (the older contract) are summed instead.
    """

    def __init__(self, dgh: Array):
        self.dgh = dgh
        self._summed: list[Array] | None = None

    def add(self, t: int, rest: list[Array]) -> None:
        """Record what step ``t`` returned after ``(dgx, dstate_prev)``."""
        if len(rest) == 1:
            self.dgh[t] = rest[0]
        else:
            self._summed = rest if self._summed is None else [a + b for a, b in zip(self._summed, rest)]

    def result(self, hprev: Array) -> tuple[Array, Array]:
        """``(dweight_hh, dbias_hh)``, given ``hprev`` (T, N, H), each step's starting ``state[0]``."""
        if self._summed is not None:
            return self._summed[0], self._summed[1]
        flat = self.dgh.reshape(-1, self.dgh.shape[2])  # (T*N, G*H)
        return flat.T @ hprev.reshape(-1, hprev.shape[2]), flat.sum(0)
