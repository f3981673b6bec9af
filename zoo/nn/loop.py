"""The time loop: a cell's steps over one direction of one layer, forward and backward; and one step of a stack.

Every path that runs a cell over time runs it here, on NumPy arrays and torch tensors alike:
the fused autograd layer (:mod:`zoo.nn.fused`), the reference autograd path of
:class:`~zoo.nn.stack.CellStack`, the NumPy stack (:mod:`zoo.nn.npstack`), and generation
(``LanguageModel.step``, ``NumpyLanguageModel.step``) through :func:`step_layers`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from zoo.nn.cell import Array, Cell
from zoo.nn.ops import ops_for

__all__ = ["Trace", "backward", "forward", "step_layers"]


@dataclasses.dataclass
class Trace:
    """What :func:`backward` needs from :func:`forward`: each step's cache, by time index, and the states
    ``hprev`` (T, N, H) each step started from (its ``state[0]``); ``reverse`` for a backward direction."""

    caches: list[Any]
    hprev: Array
    reverse: bool


def _order(length: int, reverse: bool) -> range:
    return range(length - 1, -1, -1) if reverse else range(length)


def forward(
    cell: Cell,
    gx: Array,
    state: tuple[Array, ...],
    weight_hh: Array,
    bias_hh: Array,
    reverse: bool = False,
    trace: bool = False,
) -> tuple[Array, tuple[Array, ...], Trace | None]:
    """Run one direction of one layer over a sequence.

    :param gx: (N, T, G*H) input projections ``x @ weight_ih.T + bias_ih``.
    :param state: the initial state, ``cell.num_states`` arrays (N, H).
    :param reverse: walk from the last step to the first (the backward direction of a bidirectional layer).
    :param trace: call ``cell.forward_step`` and keep what :func:`backward` needs; otherwise call
        ``cell.step``, which autograd records when it is on (the reference path) and nothing else.
    :returns: ``(out (N, T, H), final state, Trace or None)``.
    """
    xp = ops_for(gx)
    length = gx.shape[1]
    outs: list[Any] = [None] * length
    caches: list[Any] = [None] * length
    hprev: list[Any] = [None] * length
    for t in _order(length, reverse):
        if trace:
            hprev[t] = state[0]
            outs[t], state, caches[t] = cell.forward_step(gx[:, t], state, weight_hh, bias_hh)
        else:
            outs[t], state = cell.step(gx[:, t], state, weight_hh, bias_hh)
    n, hidden = gx.shape[0], weight_hh.shape[1]
    out = xp.stack(outs, 1) if length else xp.empty((n, 0, hidden), like=gx)
    if not trace:
        return out, tuple(state), None
    hprev_all = xp.stack(hprev, 0) if length else xp.empty((0, n, hidden), like=gx)
    return out, tuple(state), Trace(caches, hprev_all, reverse)


def backward(
    cell: Cell, trace: Trace, dout: Array, dstate: Sequence[Array | None] | None, weight_hh: Array
) -> tuple[Array, tuple[Array, ...], Array, Array]:
    """Backpropagation through the steps of :func:`forward`, in reverse, through ``cell.backward_step``.

    :param dout: (N, T, H) loss gradient reaching the outputs.
    :param dstate: the gradient reaching the final state (an entry, or the whole, ``None`` for zeros).
    :returns: ``(dgx (N, T, G*H), gradient of the initial state, dweight_hh, dbias_hh)``; the recurrent
        weights' gradients are one product over all steps of each step's ``dgh`` and ``hprev``.
    """
    xp = ops_for(dout)
    n, length = dout.shape[0], dout.shape[1]
    width, hidden = weight_hh.shape
    ds = tuple(d if d is not None else xp.zeros((n, hidden), like=dout) for d in (dstate or (None,) * cell.num_states))
    dgx = xp.empty((n, length, width), like=dout)
    dgh = xp.empty((length, n, width), like=dout)
    for t in reversed(_order(length, trace.reverse)):
        dgx[:, t], ds, dgh[t] = cell.backward_step(dout[:, t], ds, trace.caches[t], weight_hh)
    flat = dgh.reshape(-1, width)  # (T*N, G*H)
    return dgx, tuple(ds), flat.T @ trace.hprev.reshape(-1, hidden), flat.sum(0)


def step_layers(
    cell: Cell,
    weights: Sequence[tuple[Array, Array, Array, Array]],
    ids: Array,
    x: Array | None,
    state: tuple[Array, ...],
) -> tuple[Array, tuple[Array, ...]]:
    """One time step through every layer of a unidirectional stack, keeping nothing: generation's step.

    :param weights: per layer, ``(weight_ih, weight_hh, bias_ih, bias_hh)``.
    :param ids: (N,) token ids, which layer 0 reads one-hot (a row of ``weight_ih.T``) when ``x`` is ``None``.
    :param x: (N, E) embedded input, or ``None``.
    :param state: ``cell.num_states`` arrays (layers, N, H).
    :returns: ``(h (N, H) of the last layer, the new state, shaped as ``state``)``.
    """
    xp = ops_for(state[0])
    new = []
    for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
        gx = xp.linear(x, w_ih, b_ih) if x is not None else w_ih.T[ids] + b_ih  # (N, G*H)
        x, s = cell.step(gx, tuple(t[k] for t in state), w_hh, b_hh)
        new.append(s)
    if len(new) == 1:  # one layer: its state with a leading axis, a view rather than a copy
        return x, tuple(s[None] for s in new[0])
    return x, tuple(xp.stack([s[i] for s in new], 0) for i in range(cell.num_states))
