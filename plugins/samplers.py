"""Minibatch samplers of d2l §8.3 (Chinese PyTorch edition, ``data_iter_random``/``data_iter_consecutive``)."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Sequence

import numpy as np

import zoo
from zoo.options import option


@dataclasses.dataclass
class GridOptions:
    """Options shared by both samplers: the (batch, steps) grid."""

    batch_size: int = option(32, "sequences per minibatch")
    num_steps: int = option(35, "time steps per sequence (the truncation length of BPTT)")

    def validate(self) -> list[str]:
        """Sizes must be positive."""
        return [f"{k}: must be at least 1, got {getattr(self, k)}" for k in ("batch_size", "num_steps") if getattr(self, k) < 1]


@dataclasses.dataclass
class SequentialOptions(GridOptions):
    """Options of the ``sequential`` sampler."""

    random_offset: bool = option(False, "drop a random 0..num_steps-1 leading tokens each epoch (d2l English edition)")


class SequentialSampler:
    """Adjacent minibatches: row r of batch i+1 continues row r of batch i, so state can be carried.

    The corpus is cut into ``batch_size`` rows of equal length; batch i takes
    columns ``[i*num_steps, (i+1)*num_steps)`` of every row.
    """

    Options = SequentialOptions
    carries_state = True

    def __init__(self, options: SequentialOptions | None = None):
        self.options = options or SequentialOptions()

    def num_batches(self, num_ids: int) -> int:
        """Batches per epoch (without a random offset, which can only lower it by one)."""
        batch_len = num_ids // self.options.batch_size
        return max(0, (batch_len - 1) // self.options.num_steps)

    def batches(self, ids: Sequence[int], rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch of ``(X, Y)``, each (batch_size, num_steps) int64."""
        n, steps = self.options.batch_size, self.options.num_steps
        data = np.asarray(ids, dtype=np.int64)
        if self.options.random_offset:
            data = data[int(rng.integers(0, steps)):]
        batch_len = len(data) // n
        grid = data[: n * batch_len].reshape(n, batch_len)  # (batch, batch_len)
        for i in range(max(0, (batch_len - 1) // steps)):
            j = i * steps
            yield grid[:, j : j + steps], grid[:, j + 1 : j + steps + 1]


class RandomSampler:
    """Independent minibatches: examples of ``num_steps`` tokens drawn in a shuffled order, each once per epoch."""

    Options = GridOptions
    carries_state = False

    def __init__(self, options: GridOptions | None = None):
        self.options = options or GridOptions()

    def num_batches(self, num_ids: int) -> int:
        """Batches per epoch."""
        return max(0, (num_ids - 1) // self.options.num_steps // self.options.batch_size)

    def batches(self, ids: Sequence[int], rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch of ``(X, Y)``, each (batch_size, num_steps) int64, in the order ``rng`` shuffles."""
        n, steps = self.options.batch_size, self.options.num_steps
        data = np.asarray(ids, dtype=np.int64)
        order = rng.permutation((len(data) - 1) // steps)  # example indices
        rows = np.arange(steps)
        for i in range(self.num_batches(len(data))):
            starts = order[i * n : (i + 1) * n, None] * steps  # (batch, 1)
            yield data[starts + rows], data[starts + rows + 1]


@zoo.hookimpl
def register_samplers(register):
    """Register ``sequential`` and ``random``."""
    register("sequential", SequentialSampler, aliases=("consecutive",))
    register("random", RandomSampler)
