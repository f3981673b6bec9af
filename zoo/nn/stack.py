"""CellStack: deep and bidirectional stacks composed from any registered cell."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from zoo.nn import loop
from zoo.nn.cell import Cell, State
from zoo.nn.fused import recurrence

__all__ = ["NO_INPUT", "CellStack", "gather_rows", "weight_names"]

#: A token id meaning "no input": an all-zero one-hot vector (or embedding), as at the
#: first step of the dinosaur-names exercise.
NO_INPUT = -1


def gather_rows(table: torch.Tensor, ids: torch.Tensor, scale: torch.Tensor | None = None) -> torch.Tensor:
    """``table[ids]`` (differentiable), where :data:`NO_INPUT` gives a row of zeros.

    :param scale: (N, T, 1) factors for the rows (input dropout on one-hot tokens), or ``None``.
    """
    rows = F.embedding(ids.clamp(min=0), table)
    if bool((ids < 0).any()):
        rows = rows * (ids >= 0).unsqueeze(-1).to(rows.dtype)
    return rows if scale is None else rows * scale


def weight_names(layers: int, bidirectional: bool) -> list[str]:
    """The parameter names of a stack, in PyTorch's order (``weight_ih_l0``, ..., ``bias_hh_l1_reverse``)."""
    names = []
    for k in range(layers):
        for suffix in ("", "_reverse") if bidirectional else ("",):
            names += [f"{w}_l{k}{suffix}" for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    return names


class CellStack(nn.Module):
    r"""A stack of ``layers`` × (1 or 2 directions) of one cell, in ``torch.nn.RNN`` layout.

    Parameters are named and shaped exactly as in ``torch.nn.GRU`` and friends, so a
    state dict moves between this stack and the torch module unchanged.

    With ``fused`` (the default) and a cell that writes its gradients
    (``cell.has_backward_step()``), each layer and direction is one autograd node with a
    hand-written backward pass (:mod:`zoo.nn.fused`); otherwise autograd records every
    ``cell.step`` of the time loop (:mod:`zoo.nn.loop`), which stays as the reference the fused
    layer is tested against.

    Inputs: ``x, state, scale``
        * **x**: (N, T, input_size) floats, or (N, T) int64 token ids meaning one-hot
          input of width ``input_size`` (layer 0 then gathers rows of ``weight_ih``,
          which equals the one-hot product exactly).
        * **state**: a tuple of ``cell.num_states`` tensors (layers*D, N, H), or ``None`` for zeros.
        * **scale**: with id input, (N, T, 1) factors for the tokens (input dropout: 0 or 1/(1-p)), or ``None``.

    Outputs: ``output, state``
        * **output**: (N, T, D*H), the last layer's outputs, directions concatenated.
        * **state**: the final state, same layout as the input state.
    """

    def __init__(
        self,
        cell: Cell,
        input_size: int,
        hidden_size: int,
        layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        fused: bool = True,
    ):
        super().__init__()
        self.cell = cell
        self.fused = fused and cell.has_backward_step()  # else autograd records cell.step, the literal reference
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional, self.dropout = layers, bidirectional, dropout
        self.num_directions = 2 if bidirectional else 1
        g = cell.gates * hidden_size
        for k in range(layers):
            in_k = input_size if k == 0 else hidden_size * self.num_directions
            for suffix in ("", "_reverse")[: self.num_directions]:
                self.register_parameter(f"weight_ih_l{k}{suffix}", nn.Parameter(torch.empty(g, in_k)))
                self.register_parameter(f"weight_hh_l{k}{suffix}", nn.Parameter(torch.empty(g, hidden_size)))
                self.register_parameter(f"bias_ih_l{k}{suffix}", nn.Parameter(torch.empty(g)))
                self.register_parameter(f"bias_hh_l{k}{suffix}", nn.Parameter(torch.empty(g)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Uniform in ±1/√H, as ``torch.nn.RNNBase`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def _weights(self, k: int, d: int) -> tuple[torch.Tensor, ...]:
        suffix = "_reverse" if d else ""
        return tuple(getattr(self, f"{w}_l{k}{suffix}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))

    def _direction(
        self, gx: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor, reverse: bool
    ) -> tuple[torch.Tensor, State]:
        if self.fused:
            return recurrence(self.cell, gx, state, w_hh, b_hh, reverse)
        out, final, _ = loop.forward(self.cell, gx, state, w_hh, b_hh, reverse)  # (N, T, H)
        return out, final

    def forward(
        self, x: torch.Tensor, state: State | None = None, scale: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, State]:
        n = x.shape[0]
        if state is None:
            p = self.weight_hh_l0
            shape = (self.num_layers * self.num_directions, n, self.hidden_size)
            zeros = torch.zeros(shape, dtype=p.dtype, device=p.device)
            state = tuple(zeros for _ in range(self.cell.num_states))
        final: list[State] = []
        layer_in = x
        for k in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                w_ih, w_hh, b_ih, b_hh = self._weights(k, d)
                if layer_in.dtype == torch.long:  # one-hot ids: a row gather equals the product
                    gx = gather_rows(w_ih.t(), layer_in, scale) + b_ih  # (N, T, G*H)
                else:
                    gx = F.linear(layer_in, w_ih, b_ih)  # (N, T, G*H)
                idx = k * self.num_directions + d
                out, s = self._direction(gx, tuple(t[idx] for t in state), w_hh, b_hh, reverse=bool(d))
                outs.append(out)
                final.append(s)
            layer_in = torch.cat(outs, dim=2) if self.num_directions == 2 else outs[0]
            if self.dropout and self.training and k < self.num_layers - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        new_state = tuple(torch.stack([s[i] for s in final]) for i in range(self.cell.num_states))
        return layer_in, new_state
