"""LanguageModel: encoder, a recurrent stack of one registered cell, and a dense decoder."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.errors import UsageError
from zoo.nn.cell import Cell, State
from zoo.nn.gathered import GatheredInput, worthwhile
from zoo.nn.loop import step_layers
from zoo.nn.stack import CellStack, gather_rows
from zoo.options import ModelOptions

__all__ = ["LanguageModel", "prediction_scope"]

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def prediction_scope(runner: Any) -> contextlib.AbstractContextManager:
    """The setting a predictor's loop over ``runner`` runs under: none for the model itself; for its twin on another
    backend (an :class:`~zoo.interfaces.Inference`), its ``scope()`` (the NumPy backend's quiets torch's threads)."""
    return contextlib.nullcontext() if isinstance(runner, LanguageModel) else runner.scope()


class LanguageModel(nn.Module):
    """Next-token (or labelling) model: ``embedding`` (optional) → ``rnn`` → ``dense`` (optional).

    Parameter names follow ``torch.nn``: ``embedding.weight``, ``rnn.weight_ih_l0`` ...,
    ``dense.weight``, ``dense.bias``, whichever implementation ``rnn`` is.

    :param cell: the registered cell whose equations the stack runs.
    :param options: the model section of the recipe.
    :param vocab_size: tokens in the vocabulary (input one-hot width and output width).
    """

    _gathered: GatheredInput | None = None

    def __init__(self, cell: Cell, options: ModelOptions, vocab_size: int):
        super().__init__()
        self.cell, self.options, self.vocab_size = cell, options, vocab_size
        if options.encoder == "embedding":
            self.embedding = nn.Embedding(vocab_size, options.embedding_size or options.hidden_size)
            input_size = self.embedding.embedding_dim
        else:
            self.embedding = None
            input_size = vocab_size
        directions = 2 if options.bidirectional else 1
        if options.impl == "nn":
            if cell.nn_module is None:
                raise ValueError(f"cell {type(cell).__name__} has no torch.nn implementation; use impl: scratch")
            self.rnn = getattr(nn, cell.nn_module)(
                input_size,
                options.hidden_size,
                num_layers=options.layers,
                batch_first=True,
                bidirectional=options.bidirectional,
                dropout=options.dropout if options.layers > 1 else 0.0,
                **cell.nn_kwargs(),
            )
            if options.encoder == "onehot" and worthwhile(self.rnn, vocab_size):
                self._gathered = GatheredInput(self.rnn)  # on CPU: layer 0's one-hot product as a row gather
        else:
            self.rnn = CellStack(
                cell, input_size, options.hidden_size, options.layers, options.bidirectional, options.dropout
            )
        if options.decoder == "none" and directions * options.hidden_size != vocab_size:
            raise UsageError(
                f"model.decoder: none uses the hidden state as the logits, so hidden_size × directions "
                f"({directions * options.hidden_size}) must equal the vocabulary size ({vocab_size})"
            )
        self.dense = nn.Linear(directions * options.hidden_size, vocab_size) if options.decoder == "dense" else None
        if options.init == "normal":
            for name, p in self.named_parameters():
                if "bias" in name:
                    nn.init.zeros_(p)
                else:
                    nn.init.normal_(p, 0.0, options.init_std)
        self.to(DTYPES[options.dtype])

    @property
    def dtype(self) -> torch.dtype:
        """The floating point type of the weights."""
        return next(self.rnn.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.rnn.parameters()).device

    def begin_state(self, batch_size: int) -> State:
        """A zero state: ``cell.num_states`` tensors of shape (layers*directions, batch, hidden)."""
        o = self.options
        shape = (o.layers * (2 if o.bidirectional else 1), batch_size, o.hidden_size)
        return tuple(torch.zeros(shape, dtype=self.dtype, device=self.device) for _ in range(self.cell.num_states))

    @torch.no_grad()
    def step(self, ids: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One time step for generation, without autograd or the sequence machinery: the cell's ``step`` on
        this model's weights (``nn`` and ``scratch`` share names and layout), layer by layer
        (:func:`zoo.nn.loop.step_layers`).

        :param ids: (N,) int64 token ids (no :data:`NO_INPUT`); unidirectional models only.
        :param state: the state from :meth:`forward` or a previous step.
        :returns: ``(logits (N, V), state)``.
        """
        x = self.embedding.weight[ids] if self.embedding is not None else None  # (N, E)
        rnn = self.rnn
        weights = [
            tuple(getattr(rnn, f"{w}_l{k}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
            for k in range(self.options.layers)
        ]
        h, state = step_layers(self.cell, weights, ids, x, state)
        return (torch.addmm(self.dense.bias, h, self.dense.weight.t()) if self.dense is not None else h), state

    def forward(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits for every position; while training, ``input_dropout`` and ``output_dropout`` act, their masks
        drawn from torch's generator (of the device) before and after the stack's.

        :param ids: (N, T) int64 token ids.
        :param state: the carried state, or ``None`` for zeros.
        :returns: ``(logits, state)`` with logits (N, T, vocab_size).
        """
        o = self.options
        scratch = isinstance(self.rnn, CellStack)
        gathered = self._gathered is not None and ids.device.type == "cpu"
        scale = None  # one-hot input dropout: a factor per token, 0 or 1/(1-p), as dropping the one-hot vector gives
        if self.embedding is not None:
            x = gather_rows(self.embedding.weight, ids)  # (N, T, E)
            if o.input_dropout and self.training:
                x = F.dropout(x, o.input_dropout, training=True)
        else:
            if o.input_dropout and self.training:
                scale = F.dropout(
                    torch.ones(ids.shape + (1,), dtype=self.dtype, device=ids.device), o.input_dropout, training=True
                )  # (N, T, 1)
            if scratch or gathered:
                x = ids  # the scratch stack and GatheredInput gather rows of weight_ih_l0
            else:  # one-hot; NO_INPUT (-1) matches no column, giving the all-zero vector
                x = (ids.unsqueeze(-1) == torch.arange(self.vocab_size, device=ids.device)).to(self.dtype)  # (N, T, V)
                if scale is not None:
                    x = x * scale
        rnn = functools.partial(self._gathered, scale=scale) if gathered else self.rnn
        if scratch:
            out, state = self.rnn(x, state, scale)
        elif self.cell.num_states == 1:
            out, h = rnn(x, None if state is None else state[0])
            state = (h,)
        else:
            out, state = rnn(x, state)
            state = tuple(state)
        if (
            o.output_dropout and self.training
        ):  # contiguous: masks laid out (N, T, D*H) whatever the rnn's strides (nn's are (T, N))
            out = F.dropout(out.contiguous(), o.output_dropout, training=True)
        return (self.dense(out) if self.dense is not None else out), state  # (N, T, V)
