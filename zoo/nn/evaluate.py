"""Held-out evaluation: the mean loss of a token stream, read in contiguous rows with the state carried.

The protocol, shared by the trainer's validation passes, ``zoo eval`` and :meth:`zoo.Model.evaluate`:

- a stream of ``n`` ids scores ``n - 1`` tokens: every id after the first, each given all the ids before it
  in its row;
- the ``n - 1`` (input, target) pairs are cut into ``rows(n - 1)`` contiguous rows of equal length (the last one
  shorter), each read from a zero state, left to right, in chunks of columns with the state carried from one
  chunk to the next (not restarted);
- no dropout, no gradients; the loss is summed in float64 and divided by the tokens scored.

Rows make the pass batched: a 111,540-character split is 64 rows of 1,743 characters, so only 64 characters
of it are read without context, against one in a single-row pass.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from zoo.interfaces import Inference

__all__ = ["Score", "score", "rows", "MAX_ROWS", "MIN_ROW"]

MAX_ROWS = 64  # rows read side by side
MIN_ROW = 512  # tokens each row holds at least (a shorter stream is read in fewer rows, down to one)
_LOGITS = 2**22  # logits scored at once (rows x columns x vocabulary): 32 MiB in float64
_IGNORE = -100  # the target of padding at the end of the last row


@dataclasses.dataclass(frozen=True)
class Score:
    """A model's held-out score on one stream.

    :ivar tokens: tokens scored.
    :ivar loss: mean cross-entropy in nats per token.
    """

    tokens: int
    loss: float

    @property
    def bits(self) -> float:
        """Bits per token (per character at char level)."""
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        """exp of the loss; ``math.inf`` where it overflows."""
        try:
            return math.exp(self.loss)
        except OverflowError:
            return math.inf


def rows(pairs: int) -> int:
    """How many rows a stream of ``pairs`` scored tokens is read in."""
    return max(1, min(MAX_ROWS, pairs // MIN_ROW))


def score(runner: Inference, ids: Sequence[int] | np.ndarray, vocab_size: int) -> Score:
    """Score ``ids`` with ``runner`` (a :class:`~zoo.nn.model.LanguageModel`, or what a backend's ``inference``
    returns): see the module's protocol.

    :param runner: an :class:`~zoo.interfaces.Inference`, called as ``runner(ids (N, T) int64 tensor on its
        ``device``, state or None) -> (logits (N, T, V), state)``, already in inference mode (the caller sets
        ``eval()``).
    :param ids: the stream, at least two ids.
    :param vocab_size: the logits' width, to size the chunks.
    :raises ValueError: for a stream of fewer than two ids (nothing to score).
    """
    data = np.asarray(ids, dtype=np.int64)
    if len(data) < 2:
        raise ValueError(f"a held-out stream needs at least 2 tokens to score one, got {len(data)}")
    pairs = len(data) - 1
    n = rows(pairs)
    length = -(-pairs // n)
    X = np.zeros(n * length, dtype=np.int64)
    Y = np.full(n * length, _IGNORE, dtype=np.int64)
    X[:pairs], Y[:pairs] = data[:-1], data[1:]  # padding only at the end of the last row: it follows every scored token
    X = torch.from_numpy(X.reshape(n, length)).to(runner.device)
    Y = torch.from_numpy(Y.reshape(n, length)).to(runner.device)
    columns = max(1, min(length, _LOGITS // (n * max(1, vocab_size))))
    total, state = 0.0, None
    with torch.no_grad():
        for j in range(0, length, columns):
            logits, state = runner(X[:, j : j + columns], state)
            y = Y[:, j : j + columns]
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]).double(), y.reshape(-1), ignore_index=_IGNORE, reduction="sum"
            )
            total += loss.item()
    return Score(pairs, total / pairs)
