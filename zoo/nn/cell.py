"""Cell: the equations of one recurrent step of one layer in one direction.

A cell holds equations, not weights. The stack (:mod:`zoo.nn.stack`) owns the
weights in PyTorch's ``nn.RNN``/``nn.GRU``/``nn.LSTM`` layout and hands each
step the input projection already computed for the whole sequence, so a cell
only writes the recurrent part. This is what lets any registered cell, a
third party's included, run deep and bidirectional with the same weight names.
The time loop that calls a cell step after step is :mod:`zoo.nn.loop`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from zoo.options import NoOptions

if TYPE_CHECKING:  # a plugin module that defines a cell loads neither: ``zoo plugins`` and ``zoo validate`` stay quick
    import numpy as np
    import torch

__all__ = ["Cell", "State", "NpState", "Array"]

State: TypeAlias = "tuple[torch.Tensor, ...]"
NpState: TypeAlias = "tuple[np.ndarray, ...]"
Array: TypeAlias = "np.ndarray | torch.Tensor"


class Cell:
    """The equations of one recurrent step, in PyTorch's weight layout.

    **Class attributes.**

    ``gates``
        blocks stacked in ``weight_ih``/``weight_hh`` (RNN 1, GRU 3, LSTM 4), G below;
    ``num_states``
        1 for state ``(h,)``, 2 for ``(h, c)``;
    ``nn_module``
        the name of the ``torch.nn`` module with the same equations (``"GRU"`` for ``torch.nn.GRU``),
        or ``None`` when there is none, in which case only ``impl: scratch`` is offered;
    ``Options``
        a dataclass of cell-specific recipe keys under ``model`` (e.g. ``nonlinearity``).

    **Shapes.** The stack owns ``weight_ih`` (G·H, in), ``weight_hh`` (G·H, H), ``bias_ih`` and
    ``bias_hh`` (G·H,), and hands each step ``gx = x @ weight_ih.T + bias_ih`` (N, G·H) for a batch
    of N. A state is a tuple of ``num_states`` arrays (N, H); its first, ``state[0]``, is what the
    recurrent projection ``gh = state[0] @ weight_hh.T + bias_hh`` (N, G·H) multiplies.

    **The equations**, two methods written once with ``xp = zoo.nn.ops.ops_for(gx)`` (``xp.sigmoid``,
    ``xp.split``, ... and the operators ``@ * + -``, ``.T``) so that they run on NumPy arrays
    (``backend: numpy``) and on torch tensors (``impl: scratch``, whose fused layer is one autograd
    node per layer and direction, its backward pass :meth:`backward_step`):

    ``forward_step(gx, state, weight_hh, bias_hh) -> (h, new_state, cache)``
        ``h`` (N, H) is the step's output, the layer above's input; ``cache`` holds whatever
        ``backward_step`` needs (a tuple of arrays, say); it is kept until the backward pass.
    ``backward_step(dh, dstate, cache, weight_hh) -> (dgx, dstate_prev, dgh)``
        ``dh`` (N, H) is the loss gradient reaching ``h`` from above, ``dstate`` the gradient reaching
        ``new_state`` from the next step (a tuple like the state; zeros after the last step). It
        returns the gradients reaching ``gx`` (N, G·H), the previous state (a tuple) and ``gh``:
        ``dgh`` (N, G·H). The loop turns every step's ``dgh`` into the gradients of ``weight_hh``
        and ``bias_hh`` as one product over the sequence (``dgh.T @ state[0]``, ``dgh.sum(0)``),
        and ``dgx`` into those of ``weight_ih`` and ``bias_ih``: a step computes no weight gradient.

    :meth:`step`, what autograd records on the reference path and what generation calls, is
    ``forward_step`` without the cache. A cell may override it with the same results (for speed,
    say). A cell that writes only ``step``, in torch, trains with ``impl: scratch`` through autograd
    and is refused by ``backend: numpy``: :meth:`has_backward_step` tells them apart.

    An Elman cell, ``h' = tanh(gx + gh)``::

        from zoo.plugin import Cell, ops_for

        class Elman(Cell):
            gates = 1

            def forward_step(self, gx, state, weight_hh, bias_hh):
                h = ops_for(gx).tanh(gx + state[0] @ weight_hh.T + bias_hh)
                return h, (h,), h

            def backward_step(self, dh, dstate, h, weight_hh):
                dgh = (dh + dstate[0]) * (1 - h * h)  # h is the output and the state; gx and gh enter alike
                return dgh, (dgh @ weight_hh,), dgh
    """

    gates: ClassVar[int]
    num_states: ClassVar[int] = 1
    nn_module: ClassVar[str | None] = None
    Options: ClassVar[type] = NoOptions

    def __init__(self, options: Any = None):
        self.options = options if options is not None else self.Options()

    def nn_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments for the ``nn_module`` (e.g. ``nonlinearity``)."""
        return {}

    @classmethod
    def has_backward_step(cls) -> bool:
        """Whether the cell's gradients are written by hand (``forward_step`` and ``backward_step``), so that
        ``impl: scratch`` runs them fused and ``backend: numpy`` runs at all; by default, whether the class
        overrides both."""
        return cls.forward_step is not Cell.forward_step and cls.backward_step is not Cell.backward_step

    def forward_step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Any]:
        """Advance one time step: ``(h (N, H), new_state, cache)``; see the class docstring."""
        raise NotImplementedError(f"cell {type(self).__name__} writes neither forward_step nor step")

    def backward_step(
        self, dh: Array, dstate: tuple[Array, ...], cache: Any, weight_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx (N, G·H), dstate_prev, dgh (N, G·H))``; see the class docstring."""
        raise NotImplementedError(f"cell {type(self).__name__} writes no backward_step; autograd differentiates it")

    def step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...]]:
        """Advance one time step without a cache: ``(h (N, H), new_state)``, by default from :meth:`forward_step`."""
        h, new_state, _ = self.forward_step(gx, state, weight_hh, bias_hh)
        return h, new_state

    def describe(self) -> str:
        """A short description, e.g. ``gru`` or ``rnn(relu)``."""
        fields = dataclasses.asdict(self.options) if dataclasses.is_dataclass(self.options) else {}
        inner = ",".join(str(v) for v in fields.values())
        return f"{type(self).__name__}({inner})" if inner else type(self).__name__
