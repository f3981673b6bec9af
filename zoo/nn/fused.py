"""The fused recurrent layer: one direction of one layer's time loop as a single autograd node.

The forward pass runs the cell's ``forward_step`` (written once for NumPy arrays and torch
tensors, see :class:`~zoo.nn.cell.Cell`) through the time loop of :mod:`zoo.nn.loop` without
recording it; the backward pass walks the steps in reverse through ``backward_step``. Autograd
then sees one node per layer and direction instead of a dozen small operations per time step.
"""

from __future__ import annotations

from typing import Any

import torch

from zoo.nn import loop
from zoo.nn.cell import Cell, State

__all__ = ["recurrence"]


class _Recurrence(torch.autograd.Function):
    """Inputs ``(cell, reverse, gx (N, T, G*H), weight_hh, bias_hh, *state)``;
    outputs ``(out (N, T, H), *final state)``."""

    @staticmethod
    def forward(
        ctx: Any,
        cell: Cell,
        reverse: bool,
        gx: torch.Tensor,
        w_hh: torch.Tensor,
        b_hh: torch.Tensor,
        *state: torch.Tensor,
    ) -> tuple:
        out, final, ctx.trace = loop.forward(cell, gx, state, w_hh, b_hh, reverse, trace=True)
        ctx.cell = cell
        ctx.save_for_backward(w_hh)
        return (out, *final)

    @staticmethod
    def backward(ctx: Any, dout: torch.Tensor, *dfinal: torch.Tensor | None) -> tuple:
        (w_hh,) = ctx.saved_tensors
        dgx, dstate, dw_hh, db_hh = loop.backward(ctx.cell, ctx.trace, dout, dfinal, w_hh)
        return (None, None, dgx, dw_hh, db_hh, *dstate)


def recurrence(
    cell: Cell, gx: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor, reverse: bool
) -> tuple[torch.Tensor, State]:
    """Run one direction of one layer: ``(out (N, T, H), final state)``, differentiable as a whole."""
    if not torch.is_grad_enabled():  # inference: no node, no per-step caches kept
        out, final, _ = loop.forward(cell, gx, state, w_hh, b_hh, reverse)
        return out, final
    out, *final = _Recurrence.apply(cell, reverse, gx, w_hh, b_hh, *state)
    return out, tuple(final)
