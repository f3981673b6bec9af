"""``impl: nn`` with one-hot input: the first layer's input product as a row gather, same weights and numbers.

``torch.nn.RNN``/``GRU``/``LSTM`` multiply their input by ``weight_ih_l0`` themselves; fed
one-hot vectors, that is a (V × G·H) product per token whose result is one row of
``weight_ih_l0.T``. Torch offers no entry point for precomputed input projections, so this
gathers the rows (plus ``bias_ih_l0``) and runs the module's own kernel on them through an
identity input matrix: a (D·G·H)-wide product instead of a V-wide one. The outputs are the
same bits (but for the float32 LSTM, whose oneDNN kernel orders its sums its own way);
``weight_ih_l0``'s gradient is the same sum in another order.

It pays only when the identity is narrow beside the vocabulary. ``benchmarks/bench_nn_gather.py``
measured, at the Jay shapes (V 1,027, H 256): RNN 1.23× faster, GRU 0.99×, LSTM 0.86×; hence
:func:`worthwhile`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call

from zoo.nn.stack import gather_rows

__all__ = ["GatheredInput", "worthwhile"]


def worthwhile(rnn: nn.Module, vocab_size: int) -> bool:
    """Whether gathering beats the one-hot product for this module: a plain ``nn.RNN``/``GRU``/``LSTM``
    (with biases, no projection) whose identity is at most half the vocabulary wide."""
    if type(rnn) not in (nn.RNN, nn.GRU, nn.LSTM) or not rnn.bias or getattr(rnn, "proj_size", 0):
        return False
    directions = 2 if rnn.bidirectional else 1
    return 2 * directions * rnn.weight_ih_l0.shape[0] <= vocab_size


class GatheredInput:
    """Runs ``rnn``, built for one-hot input of width V, on token ids; call as ``rnn`` is called.

    A shadow module of the same kind, on the meta device (it holds no memory), takes the
    gathered projections as its input; every weight it uses is ``rnn``'s, passed in through
    :func:`torch.func.functional_call`, except layer 0's input matrices, which are identities.
    """

    def __init__(self, rnn: nn.RNNBase):
        self.rnn = rnn
        self.directions = 2 if rnn.bidirectional else 1
        self.width = rnn.weight_ih_l0.shape[0]  # G*H
        self._cache: dict[tuple, dict[str, torch.Tensor]] = {}
        extra = {"nonlinearity": rnn.nonlinearity} if isinstance(rnn, nn.RNN) else {}
        self.shadow = type(rnn)(
            self.directions * self.width,
            rnn.hidden_size,
            num_layers=rnn.num_layers,
            batch_first=True,
            bidirectional=rnn.bidirectional,
            dropout=rnn.dropout,
            device="meta",
            **extra,
        )

    def _identities(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        """Layer 0's input weights and biases for the shadow: direction d reads its own block of the input.
        Built once per dtype and device, not every batch."""
        key = (like.dtype, like.device)
        if key not in self._cache:
            self._cache[key] = self._build_identities(like)
        return self._cache[key]

    def _build_identities(self, like: torch.Tensor) -> dict[str, torch.Tensor]:
        g = self.width
        eye = torch.eye(g, dtype=like.dtype, device=like.device)
        zero = like.new_zeros(g)
        out = {}
        for d, suffix in enumerate(["", "_reverse"][: self.directions]):
            weight = like.new_zeros(g, self.directions * g)
            weight[:, d * g : (d + 1) * g] = eye
            out[f"weight_ih_l0{suffix}"], out[f"bias_ih_l0{suffix}"] = weight, zero
        return out

    def __call__(
        self, ids: torch.Tensor, hx: torch.Tensor | tuple[torch.Tensor, ...] | None, scale: torch.Tensor | None = None
    ) -> tuple:
        """``rnn(one_hot(ids) * scale, hx)``, computed from gathered rows; ids of -1 (no input) give zero vectors.

        :param scale: (N, T, 1) factors per token (input dropout: 0 or 1/(1-p)), or ``None`` for ones.
        """
        rnn = self.rnn
        blocks = [
            gather_rows(getattr(rnn, f"weight_ih_l0{s}").t(), ids, scale) + getattr(rnn, f"bias_ih_l0{s}")
            for s in ["", "_reverse"][: self.directions]
        ]
        gx = torch.cat(blocks, dim=2) if len(blocks) > 1 else blocks[0]  # (N, T, D*G*H)
        params = dict(rnn.named_parameters()) | self._identities(gx)
        self.shadow.train(rnn.training)
        return functional_call(self.shadow, params, (gx,) if hx is None else (gx, hx))
