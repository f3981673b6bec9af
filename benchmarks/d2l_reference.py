"""A faithful copy of d2l's from-scratch training step (Chinese PyTorch edition, §6.4, §6.7, §6.8): the slow reference.

Every time step multiplies the one-hot input by each gate's own input matrix, computes each
gate's recurrent product separately, and applies the output layer per step; autograd records
it all. Single layer, one direction, as in the book. Used only by the benchmarks.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

GATES = {"rnn": ["h"], "gru": ["z", "r", "h"], "lstm": ["i", "f", "o", "c"]}


class D2lEngine:
    """``train_step(X, Y, state)`` as zoo's engines, computed the way d2l's ``rnn``/``gru``/``lstm`` functions do."""

    def __init__(self, cell: str, vocab: int, hidden: int, lr: float = 0.01, clip: float = 0.01):
        g = torch.Generator().manual_seed(0)

        def param(*shape: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=g) * 0.01)

        self.cell, self.vocab, self.hidden, self.clip = cell, vocab, hidden, clip
        self.p: dict[str, torch.nn.Parameter] = {}
        for gate in GATES[cell]:
            self.p |= {
                f"W_x{gate}": param(vocab, hidden),
                f"W_h{gate}": param(hidden, hidden),
                f"b_{gate}": torch.nn.Parameter(torch.zeros(hidden)),
            }
        self.p |= {"W_hq": param(hidden, vocab), "b_q": torch.nn.Parameter(torch.zeros(vocab))}
        self.optimizer = torch.optim.Adam(self.p.values(), lr=lr)

    def _step(self, X: torch.Tensor, state: tuple) -> tuple:
        p = self.p
        if self.cell == "rnn":
            (H,) = state
            H = torch.tanh(X @ p["W_xh"] + H @ p["W_hh"] + p["b_h"])
            return H, (H,)
        if self.cell == "gru":
            (H,) = state
            Z = torch.sigmoid(X @ p["W_xz"] + H @ p["W_hz"] + p["b_z"])
            R = torch.sigmoid(X @ p["W_xr"] + H @ p["W_hr"] + p["b_r"])
            H_tilda = torch.tanh(X @ p["W_xh"] + (R * H) @ p["W_hh"] + p["b_h"])
            H = Z * H + (1 - Z) * H_tilda
            return H, (H,)
        H, C = state
        I = torch.sigmoid(X @ p["W_xi"] + H @ p["W_hi"] + p["b_i"])  # noqa: E741 (d2l's names)
        Fg = torch.sigmoid(X @ p["W_xf"] + H @ p["W_hf"] + p["b_f"])
        O = torch.sigmoid(X @ p["W_xo"] + H @ p["W_ho"] + p["b_o"])  # noqa: E741
        C_tilda = torch.tanh(X @ p["W_xc"] + H @ p["W_hc"] + p["b_c"])
        C = Fg * C + I * C_tilda
        H = O * C.tanh()
        return H, (H, C)

    def train_step(self, X: np.ndarray, Y: np.ndarray, state: Any) -> tuple[float, Any]:
        """One minibatch: one-hot inputs per step, outputs per step, cross-entropy, d2l's grad_clipping, Adam."""
        n = X.shape[0]
        if state is None:
            state = tuple(torch.zeros(n, self.hidden) for _ in range(2 if self.cell == "lstm" else 1))
        inputs = [
            F.one_hot(torch.from_numpy(X[:, t]), self.vocab).float() for t in range(X.shape[1])
        ]  # d2l's to_onehot
        outputs = []
        for x in inputs:
            H, state = self._step(x, state)
            outputs.append(H @ self.p["W_hq"] + self.p["b_q"])
        loss = F.cross_entropy(torch.cat(outputs, dim=0), torch.from_numpy(Y.T.copy()).reshape(-1))
        self.optimizer.zero_grad()
        loss.backward()
        norm = math.sqrt(sum(float((q.grad**2).sum()) for q in self.p.values()))  # d2l's grad_clipping
        if norm > self.clip:
            for q in self.p.values():
                q.grad.mul_(self.clip / norm)
        self.optimizer.step()
        return loss.item(), tuple(s.detach() for s in state)
