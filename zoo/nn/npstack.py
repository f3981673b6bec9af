"""NumPy forward and backward passes of a recurrent stack: backpropagation through time by hand.

The NumPy twin of :class:`zoo.nn.stack.CellStack`: the same weight names and shapes
(``weight_ih_l0``, ..., ``_reverse``), composing any cell that writes
``forward_step``/``backward_step``. Each direction runs the time loop of :mod:`zoo.nn.loop`:
forward caching every step, backward walking the steps in reverse (in time order for a
reverse direction); the weights' gradients are then one product over all steps each.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from zoo.nn import loop
from zoo.nn.cell import Cell, NpState

__all__ = ["StackCache", "dropout_mask", "gather_rows", "scatter_rows", "stack_backward", "stack_forward", "zero_state"]


def gather_rows(table: np.ndarray, ids: np.ndarray, scale: np.ndarray | None = None) -> np.ndarray:
    """``table[ids]``, where id -1 (no input) gives a row of zeros; ``scale``, if given, multiplies the rows
    (broadcast)."""
    rows = table[ids.clip(min=0)]
    if (ids < 0).any():
        rows = rows * (ids >= 0)[..., None]
    return rows if scale is None else rows * scale


def dropout_mask(rng: np.random.Generator, shape: tuple[int, ...], p: float, dtype: np.dtype) -> np.ndarray:
    """Inverted dropout's factors: 0 with probability ``p``, else 1/(1-p), drawn from ``rng``."""
    return (rng.random(shape) >= p).astype(dtype) / (1 - p)


def scatter_rows(out: np.ndarray, ids: np.ndarray, rows: np.ndarray) -> None:
    """``out[ids] += rows`` with repeated ids summed and id -1 skipped: the gradient of :func:`gather_rows`.

    Rows are grouped by id (a stable sort keeps their order) and summed with ``reduceat``:
    the same sums as ``np.add.at`` into zeros, several times faster.
    """
    ids, rows = ids.reshape(-1), rows.reshape(-1, rows.shape[-1])
    keep = ids >= 0
    ids, rows = ids[keep], rows[keep]
    if not len(ids):
        return
    order = np.argsort(ids, kind="stable")
    grouped = ids[order]
    starts = np.flatnonzero(np.concatenate([[True], grouped[1:] != grouped[:-1]]))
    out[grouped[starts]] += np.add.reduceat(rows[order], starts, axis=0)


@dataclasses.dataclass
class StackCache:
    """What the backward pass needs: each layer's input, each direction's trace of its steps, dropout masks."""

    inputs: list[np.ndarray]
    traces: list[list[loop.Trace]]  # per layer and direction
    masks: list[np.ndarray | None]
    scale: np.ndarray | None = None  # id input: (N, T, 1) factors of the gathered rows (input dropout)


def zero_state(cell: Cell, layers: int, directions: int, batch: int, hidden: int, dtype: np.dtype) -> NpState:
    """Zeros of shape (layers*directions, batch, hidden), one per state tensor of the cell."""
    return tuple(np.zeros((layers * directions, batch, hidden), dtype=dtype) for _ in range(cell.num_states))


def _names(k: int, d: int) -> tuple[str, str, str, str]:
    s = "_reverse" if d else ""
    return f"weight_ih_l{k}{s}", f"weight_hh_l{k}{s}", f"bias_ih_l{k}{s}", f"bias_hh_l{k}{s}"


def stack_forward(
    cell: Cell,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    state: NpState,
    layers: int,
    directions: int,
    dropout: float = 0.0,
    rng: np.random.Generator | None = None,
    scale: np.ndarray | None = None,
) -> tuple[np.ndarray, NpState, StackCache]:
    """Run the stack over a batch.

    :param params: the stack's weights by torch name (no ``rnn.`` prefix).
    :param x: (N, T) int ids meaning one-hot input, or (N, T, in) floats.
    :param state: the initial state, tensors of shape (layers*directions, N, H).
    :param dropout: drop probability between layers (training only: give ``rng``).
    :param scale: with id input, (N, T, 1) factors for the tokens (input dropout: 0 or 1/(1-p)), or ``None``.
    :returns: ``(output (N, T, D*H), final state, cache)``.
    """
    cache = StackCache([], [], [], scale)
    final: list[NpState] = []
    layer_in = x
    for k in range(layers):
        cache.inputs.append(layer_in)
        outs, traces = [], []
        ids = layer_in.dtype.kind in "iu"
        for d in range(directions):
            w_ih, w_hh, b_ih, b_hh = (params[n] for n in _names(k, d))
            gx = (gather_rows(w_ih.T, layer_in, scale) if ids else layer_in @ w_ih.T) + b_ih  # (N, T, G*H)
            s = tuple(t[k * directions + d] for t in state)
            out, s, trace = loop.forward(cell, gx, s, w_hh, b_hh, reverse=bool(d), trace=True)  # out: (N, T, H)
            outs.append(out)
            traces.append(trace)
            final.append(s)
        cache.traces.append(traces)
        layer_in = np.concatenate(outs, axis=2) if directions == 2 else outs[0]
        mask = None
        if dropout and rng is not None and k < layers - 1:
            mask = dropout_mask(rng, layer_in.shape, dropout, layer_in.dtype)
            layer_in = layer_in * mask
        cache.masks.append(mask)
    new_state = tuple(np.stack([s[i] for s in final]) for i in range(cell.num_states))
    return layer_in, new_state, cache


def stack_backward(
    cell: Cell,
    params: dict[str, np.ndarray],
    cache: StackCache,
    dout: np.ndarray,
    dstate: NpState | None,
    layers: int,
    directions: int,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Gradients of the stack's weights (and of a float input) given the output's and final state's gradients.

    :param dout: (N, T, D*H) gradient of the loss with respect to the output.
    :param dstate: gradient with respect to the final state, or ``None`` (the state is not used further).
    :returns: ``(grads by weight name, dx)``; ``dx`` is ``None`` for id input.
    """
    grads: dict[str, np.ndarray] = {}
    for k in reversed(range(layers)):
        if cache.masks[k] is not None:
            dout = dout * cache.masks[k]
        layer_in = cache.inputs[k]
        ids = layer_in.dtype.kind in "iu"
        dx = None if ids else np.zeros_like(layer_in)
        for d in range(directions):
            names = _names(k, d)
            w_ih, w_hh = params[names[0]], params[names[1]]
            hidden = w_hh.shape[1]
            dh_all = dout[:, :, d * hidden : (d + 1) * hidden]  # (N, T, H)
            idx = k * directions + d
            ds = tuple(t[idx] for t in dstate) if dstate is not None else None
            dgx, _, dw_hh, db_hh = loop.backward(cell, cache.traces[k][d], dh_all, ds, w_hh)  # dgx: (N, T, G*H)
            flat = dgx.reshape(-1, dgx.shape[2])  # (N*T, G*H)
            if ids:  # one-hot input: the gradient lands on the gathered rows of weight_ih.T, times their factors
                dw_ih_t = np.zeros((w_ih.shape[1], w_ih.shape[0]), dtype=dout.dtype)
                scatter_rows(dw_ih_t, layer_in, flat if cache.scale is None else flat * cache.scale.reshape(-1, 1))
                grads[names[0]] = dw_ih_t.T
            else:
                grads[names[0]] = flat.T @ layer_in.reshape(-1, layer_in.shape[2])  # one product over all steps
                dx += dgx @ w_ih
            grads[names[1]], grads[names[2]], grads[names[3]] = dw_hh, flat.sum(0), db_hh
        dout = dx
    return grads, dout
