"""The fused recurrent layer: one direction of one layer's time loop as a single autograd node.

The forward pass runs the cell's step equations (``np_step``, written once for NumPy arrays
and torch tensors, see :mod:`zoo.nn.ops`) without recording them; the backward pass walks the
steps in reverse through ``np_step_backward``. Autograd then sees one node per layer and
direction instead of a dozen small operations per time step.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.nn.cell import Cell, RecurrentGradients, State

__all__ = ["recurrence"]


class _Recurrence(torch.autograd.Function):
    """Inputs ``(cell, reverse, gx (N, T, G*H), weight_hh, bias_hh, *state)``; outputs ``(out (N, T, H), *final state)``."""

    @staticmethod
    def forward(ctx: Any, cell: Cell, reverse: bool, gx: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor, *state: torch.Tensor) -> tuple:
        steps = range(gx.shape[1] - 1, -1, -1) if reverse else range(gx.shape[1])
        out = gx.new_empty(gx.shape[0], gx.shape[1], w_hh.shape[1])  # (N, T, H)
        hprev = gx.new_empty(gx.shape[1], gx.shape[0], w_hh.shape[1])  # (T, N, H): state[0] before each step
        caches: list[Any] = [None] * gx.shape[1]
        for t in steps:
            hprev[t] = state[0]
            out[:, t], state, caches[t] = cell.np_step(gx[:, t], state, w_hh, b_hh)
        ctx.cell, ctx.steps, ctx.caches = cell, steps, caches
        ctx.save_for_backward(w_hh, hprev)
        return (out, *state)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor, *dfinal: torch.Tensor | None) -> tuple:
        w_hh, hprev = ctx.saved_tensors
        n, h, gh = dout.shape[0], w_hh.shape[1], w_hh.shape[0]
        ds = tuple(d if d is not None else dout.new_zeros(n, h) for d in dfinal)
        dgx = dout.new_empty(n, dout.shape[1], gh)  # (N, T, G*H)
        recurrent = RecurrentGradients(dout.new_empty(dout.shape[1], n, gh))  # dgh: (T, N, G*H)
        for t in reversed(ctx.steps):
            dgx[:, t], ds, *rest = ctx.cell.np_step_backward(dout[:, t], ds, ctx.caches[t], w_hh)
            recurrent.add(t, rest)
        dw_hh, db_hh = recurrent.result(hprev)
        return (None, None, dgx, dw_hh, db_hh, *ds)


def recurrence(cell: Cell, gx: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor, reverse: bool) -> tuple[torch.Tensor, State]:
    """Run one direction of one layer: ``(out (N, T, H), final state)``, differentiable as a whole."""
    if not torch.is_grad_enabled():  # inference: no node, no per-step caches kept
        out = gx.new_empty(gx.shape[0], gx.shape[1], w_hh.shape[1])
        for t in range(gx.shape[1] - 1, -1, -1) if reverse else range(gx.shape[1]):
            out[:, t], state, _ = cell.np_step(gx[:, t], state, w_hh, b_hh)
        return out, tuple(state)
    out, *final = _Recurrence.apply(cell, reverse, gx, w_hh, b_hh, *state)
    return out, tuple(final)
