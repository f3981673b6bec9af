"""The GRU cell (Cho et al., 2014; d2l §9.1), in torch.nn.GRU's equations and weight layout.

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

Gates are stacked r, z, n as in ``torch.nn.GRU``; ``r`` multiplies the recurrent
projection *including* its bias, which is where torch (and cuDNN) differ from
d2l's ``(r ⊙ h) W``.
"""

from __future__ import annotations

import torch
from torch import nn

import zoo
from zoo.cell import Cell, State


class GRU(Cell):
    """Gated recurrent unit; ``impl: nn`` runs ``torch.nn.GRU``, ``impl: scratch`` these equations."""

    gates = 3
    num_states = 1
    nn_class = nn.GRU

    def step(self, gx: torch.Tensor, state: State, weight_hh: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step; ``gx`` is (N, 3H) holding the input projections of r, z, n."""
        (h,) = state
        gh = torch.addmm(bias_hh, h, weight_hh.t())  # (N, 3H): the three recurrent products in one
        x_r, x_z, x_n = gx.chunk(3, dim=1)
        h_r, h_z, h_n = gh.chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h  # (N, H)
        return h, (h,)


@zoo.hookimpl
def register_cells(register):
    """Register ``gru``."""
    register("gru", GRU)
