"""The minimal gated unit (Zhou, Wu, Zhang & Zhou, 2016), in the layout of torch.nn.GRU.

    f = σ(W_if x + b_if + W_hf h + b_hf)
    n = tanh(W_in x + b_in + f ⊙ (W_hn h + b_hn))
    h' = (1 − f) ⊙ h + f ⊙ n

One gate f serves as both GRU's reset gate (inside n) and its update gate (in
h'), so the blocks stacked in ``weight_ih``/``weight_hh`` are f, n: shapes
(2H, in) and (2H, H). As in torch's GRU, f multiplies the recurrent projection
including its bias. There is no torch.nn module for it (``impl: scratch``
only); ``np_step``/``np_step_backward`` let it run on the numpy backend.
"""

from __future__ import annotations

import numpy as np
import torch

import zoo
from zoo.nn.cell import Cell, NpState, State


class MGU(Cell):
    """Minimal gated unit; ``impl: scratch`` runs these equations, on autograd or in NumPy."""

    gates = 2
    num_states = 1
    nn_class = None

    def step(self, gx: torch.Tensor, state: State, weight_hh: torch.Tensor, bias_hh: torch.Tensor) -> tuple[torch.Tensor, State]:
        """One step; ``gx`` is (N, 2H) holding the input projections of f, n."""
        (h,) = state
        gh = torch.addmm(bias_hh, h, weight_hh.t())  # (N, 2H): both recurrent products in one
        x_f, x_n = gx.chunk(2, dim=1)
        h_f, h_n = gh.chunk(2, dim=1)
        f = torch.sigmoid(x_f + h_f)
        n = torch.tanh(x_n + f * h_n)
        h = (1 - f) * h + f * n  # (N, H)
        return h, (h,)

    def np_step(self, gx: np.ndarray, state: NpState, weight_hh: np.ndarray, bias_hh: np.ndarray) -> tuple[np.ndarray, NpState, tuple]:
        """The same step in NumPy; also returns what :meth:`np_step_backward` needs."""
        (h_prev,) = state
        gh = h_prev @ weight_hh.T + bias_hh  # (N, 2H)
        x_f, x_n = np.split(gx, 2, axis=1)
        h_f, h_n = np.split(gh, 2, axis=1)
        f = _sigmoid(x_f + h_f)
        n = np.tanh(x_n + f * h_n)
        h = (1 - f) * h_prev + f * n  # (N, H)
        return h, (h,), (h_prev, f, n, h_n)

    def np_step_backward(self, dh: np.ndarray, dstate: NpState, cache: tuple, weight_hh: np.ndarray) -> tuple[np.ndarray, NpState, np.ndarray, np.ndarray]:
        """Gradients of one step: ``(dgx, dstate_prev, dweight_hh, dbias_hh)``."""
        h_prev, f, n, h_n = cache
        d = dh + dstate[0]  # the output and the carried state are the same h
        dn_pre = d * f * (1 - n * n)  # through n = tanh(x_n + f ⊙ h_n)
        df_pre = (d * (n - h_prev) + dn_pre * h_n) * f * (1 - f)  # f reaches h' directly and through n
        dgx = np.concatenate([df_pre, dn_pre], axis=1)  # (N, 2H)
        dgh = np.concatenate([df_pre, dn_pre * f], axis=1)  # f scales the recurrent n-projection
        dh_prev = d * (1 - f) + dgh @ weight_hh
        return dgx, (dh_prev,), dgh.T @ h_prev, dgh.sum(0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * x))  # stable for large |x|


@zoo.hookimpl
def register_cells(register):
    """Register ``mgu``."""
    register("mgu", MGU)
