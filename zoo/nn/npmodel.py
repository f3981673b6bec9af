"""NumpyLanguageModel: a LanguageModel's weights and computation in pure NumPy, gradients by hand."""

from __future__ import annotations

import numpy as np

from zoo.nn.cell import Cell, NpState
from zoo.nn.loop import step_layers
from zoo.nn.npstack import (
    dropout_mask,
    gather_rows,
    scatter_rows,
    stack_backward,
    stack_forward,
    zero_state,
)
from zoo.options import ModelOptions

__all__ = ["NumpyLanguageModel"]

NP_DTYPES = {"float32": np.float32, "float64": np.float64}


class NumpyLanguageModel:
    """Encoder → stack → decoder on NumPy arrays, with the weight names of :class:`~zoo.nn.model.LanguageModel`.

    :param cell: the cell (it must write ``forward_step``/``backward_step``: ``cell.has_backward_step()``).
    :param options: the model section of the recipe.
    :param params: weights by their torch names (``rnn.weight_ih_l0``, ``dense.weight``, ...).
    """

    def __init__(self, cell: Cell, options: ModelOptions, params: dict[str, np.ndarray]):
        self.cell, self.options = cell, options
        dtype = NP_DTYPES[options.dtype]
        self.params = {k: np.ascontiguousarray(v, dtype=dtype) for k, v in params.items()}
        self.directions = 2 if options.bidirectional else 1

    @property
    def dtype(self) -> np.dtype:
        """The floating point type of the weights."""
        return NP_DTYPES[self.options.dtype]

    def _stack_params(self) -> dict[str, np.ndarray]:
        return {k[4:]: v for k, v in self.params.items() if k.startswith("rnn.")}

    def begin_state(self, batch_size: int) -> NpState:
        """A zero state, (layers*directions, batch, hidden) per state tensor."""
        o = self.options
        return zero_state(self.cell, o.layers, self.directions, batch_size, o.hidden_size, self.dtype)

    def forward(
        self, ids: np.ndarray, state: NpState | None = None, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, NpState, tuple]:
        """Logits (N, T, V) for int ids (N, T); ``rng`` turns on dropout (training), its masks drawn in the order
        input, between layers, output.

        :returns: ``(logits, final state, cache for backward)``.
        """
        o = self.options
        if state is None:
            state = self.begin_state(ids.shape[0])
        embedded = "embedding.weight" in self.params
        in_mask = out_mask = None  # in_mask: (N, T, E) on the embedding rows, or (N, T, 1) on whole one-hot tokens
        if o.input_dropout and rng is not None:
            width = self.params["embedding.weight"].shape[1] if embedded else 1
            in_mask = dropout_mask(rng, ids.shape + (width,), o.input_dropout, self.dtype)
        x = gather_rows(self.params["embedding.weight"], ids, in_mask) if embedded else ids  # (N, T, E) or ids
        out, state, cache = stack_forward(
            self.cell,
            self._stack_params(),
            x,
            state,
            o.layers,
            self.directions,
            o.dropout,
            rng,
            None if embedded else in_mask,
        )
        if o.output_dropout and rng is not None:
            out_mask = dropout_mask(rng, out.shape, o.output_dropout, self.dtype)
            out = out * out_mask  # what the decoder sees
        p = self.params
        logits = out @ p["dense.weight"].T + p["dense.bias"] if "dense.weight" in p else out
        return logits, state, (ids, out, cache, in_mask, out_mask)

    def step(self, ids: np.ndarray, state: NpState) -> tuple[np.ndarray, NpState]:
        """One time step for generation (no caches kept): logits (N, V) for ids (N,), unidirectional models only."""
        p = self.params
        x = p["embedding.weight"][ids] if "embedding.weight" in p else None  # (N, E)
        weights = [
            tuple(p[f"rnn.{w}_l{k}"] for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            for k in range(self.options.layers)
        ]
        h, state = step_layers(self.cell, weights, ids, x, state)
        return (h @ p["dense.weight"].T + p["dense.bias"] if "dense.weight" in p else h), state

    def loss_and_grads(
        self,
        ids: np.ndarray,
        targets: np.ndarray,
        state: NpState | None = None,
        rng: np.random.Generator | None = None,
        scale: float = 1.0,
    ) -> tuple[float, dict[str, np.ndarray], NpState]:
        """Mean cross-entropy over every position, the gradients of ``scale`` × it by weight name, and the final
        state."""
        logits, new_state, (_, out, cache, in_mask, out_mask) = self.forward(ids, state, rng)
        flat = logits.reshape(-1, logits.shape[-1])  # (N*T, V)
        y = targets.reshape(-1)
        shifted = flat - flat.max(axis=1, keepdims=True)
        dflat = np.exp(shifted)  # becomes the softmax in place: one exponential pass
        z = dflat.sum(axis=1, keepdims=True)
        loss = float(-(shifted[np.arange(len(y)), y] - np.log(z[:, 0])).mean())
        dflat /= z
        dflat[np.arange(len(y)), y] -= 1
        dflat *= scale / len(y)
        dlogits = dflat.reshape(logits.shape).astype(self.dtype, copy=False)
        grads: dict[str, np.ndarray] = {}
        if "dense.weight" in self.params:
            grads["dense.weight"] = dflat.T @ out.reshape(-1, out.shape[-1])  # one product over all steps
            grads["dense.bias"] = dflat.sum(0)
            dout = dlogits @ self.params["dense.weight"]  # (N, T, D*H)
        else:
            dout = dlogits
        if out_mask is not None:
            dout = dout * out_mask
        stack_grads, dx = stack_backward(
            self.cell, self._stack_params(), cache, dout, None, self.options.layers, self.directions
        )
        grads.update({f"rnn.{k}": v for k, v in stack_grads.items()})
        if "embedding.weight" in self.params:
            demb = np.zeros_like(self.params["embedding.weight"])
            scatter_rows(demb, ids, dx if in_mask is None else dx * in_mask)
            grads["embedding.weight"] = demb
        return loss, {k: v.astype(self.dtype, copy=False) for k, v in grads.items()}, new_state
