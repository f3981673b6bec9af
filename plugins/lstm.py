"""The LSTM cell (Hochreiter & Schmidhuber, 1997; d2l §9.2), in torch.nn.LSTM's equations and weight layout.

    i = σ(W_ii x + b_ii + W_hi h + b_hi)
    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

Gates are stacked i, f, g, o as in ``torch.nn.LSTM``; the state is ``(h, c)``.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.cell import Cell, State


class LSTM(Cell):
    """Long short-term memory; ``impl: nn`` runs ``torch.nn.LSTM``, ``impl: scratch`` these equations."""

    gates = 4
    num_states = 2
    nn_class = nn.LSTM

    def step(self, gx: torch.Tensor, state: State, weight_hh: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step; ``gx`` is (N, 4H) holding the input projections of i, f, g, o."""
        h, c = state
        gates = gx + torch.addmm(bias_hh, h, weight_hh.t())  # (N, 4H): the four recurrent products in one
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # (N, H)
        h = torch.sigmoid(o) * torch.tanh(c)  # (N, H)
        return h, (h, c)


@zoo.hookimpl
def register_cells(register):
    """Register ``lstm``."""
    register("lstm", LSTM)
