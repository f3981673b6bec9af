"""Built-in samplers: d2l's random and sequential minibatches (Chinese PyTorch edition, §6.3).

``random`` follows ``data_iter_random`` and ``sequential`` follows
``data_iter_consecutive`` of ShusenTang/Dive-into-DL-PyTorch, with the run's
seeded ``numpy.random.Generator`` in place of the ``random`` module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

import numpy as np

from zoo.plugin import Corpus, Sampler, UsageError, hookimpl, option

__all__ = ["SequentialSampler", "RandomSampler"]


@dataclasses.dataclass
class GridOptions:
    """The minibatch grid both samplers share: ``batch_size`` rows of ``num_steps`` tokens."""

    batch_size: int = option(32, "sequences per minibatch")
    num_steps: int = option(35, "time steps per sequence (the truncation length of backpropagation through time)")

    def validate(self) -> list[str]:
        """Both sizes must be at least 1."""
        return [
            f"{name}: must be at least 1, got {getattr(self, name)}"
            for name in ("batch_size", "num_steps")
            if getattr(self, name) < 1
        ]


@dataclasses.dataclass
class SequentialOptions(GridOptions):
    """Options of the ``sequential`` sampler."""

    random_offset: bool = option(
        False,
        "each epoch, first drop 0..num_steps-1 leading tokens, drawn from the run's generator (d2l English edition)",
    )


def _sequential_count(num_ids: int, batch_size: int, num_steps: int) -> int:
    """``epoch_size`` of ``data_iter_consecutive`` for a corpus of ``num_ids`` ids (never negative)."""
    batch_len = max(0, num_ids) // batch_size
    return max(0, (batch_len - 1) // num_steps)


class SequentialSampler(Sampler):
    """Adjacent minibatches (d2l ``data_iter_consecutive``): row r of batch i+1 continues row r of batch i.

    The first ``batch_size * batch_len`` ids are laid out as ``batch_size`` rows of
    ``batch_len = len(ids) // batch_size``; batch i is the columns
    ``[i*num_steps, (i+1)*num_steps)`` and Y the same columns one further, for
    ``(batch_len - 1) // num_steps`` batches. The hidden state can therefore be
    carried (detached) from one batch to the next.

    With ``random_offset`` an epoch first drops ``rng.integers(num_steps)`` leading
    ids; it then yields as many batches as the largest offset allows, so that
    every epoch has exactly :meth:`num_batches` batches.
    """

    Options = SequentialOptions
    carries_state = True
    shards_by_rows = True  # a process owns whole rows of the grid, and carries their state
    task = "next_token"

    def __init__(self, options: SequentialOptions | None = None):
        self.options = options if options is not None else SequentialOptions()

    def num_batches(self, corpus: Corpus) -> int:
        """Batches in one epoch over ``corpus``; 0 when it is too short."""
        o, num_ids = self.options, len(corpus.train)
        if o.random_offset:
            num_ids -= o.num_steps - 1  # the worst offset; every epoch is cut to this length
        return _sequential_count(num_ids, o.batch_size, o.num_steps)

    def batches(self, corpus: Corpus, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch of ``(X, Y)``, both int64 of shape (batch_size, num_steps)."""
        o = self.options
        data = np.asarray(corpus.train, dtype=np.int64)
        count = self.num_batches(corpus)
        if o.random_offset:
            data = data[int(rng.integers(o.num_steps)) :]
        batch_len = len(data) // o.batch_size
        grid = data[: o.batch_size * batch_len].reshape(o.batch_size, batch_len)  # (batch, batch_len)
        for i in range(count):
            j = i * o.num_steps
            X = np.ascontiguousarray(grid[:, j : j + o.num_steps])  # (batch, steps)
            Y = np.ascontiguousarray(grid[:, j + 1 : j + o.num_steps + 1])  # (batch, steps)
            yield X, Y


class RandomSampler(Sampler):
    """Independent minibatches (d2l ``data_iter_random``): examples of ``num_steps`` ids in a shuffled order.

    The corpus holds ``num_examples = (len(ids) - 1) // num_steps`` examples, the
    j-th starting at ``j * num_steps``; ``rng.permutation`` orders them and batch
    i takes examples ``i*batch_size .. (i+1)*batch_size - 1`` of that order, for
    ``num_examples // batch_size`` batches. Each example appears at most once per
    epoch, and neighbouring batches are unrelated, so the state restarts every batch.
    """

    Options = GridOptions
    carries_state = False
    shards_by_rows = True  # a process trains on its share of each batch's examples
    task = "next_token"

    def __init__(self, options: GridOptions | None = None):
        self.options = options if options is not None else GridOptions()

    def num_batches(self, corpus: Corpus) -> int:
        """Batches in one epoch over ``corpus``; 0 when it is too short."""
        num_examples = max(0, len(corpus.train) - 1) // self.options.num_steps
        return num_examples // self.options.batch_size

    def batches(self, corpus: Corpus, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch of ``(X, Y)``, both int64 of shape (batch_size, num_steps), in the order ``rng`` draws."""
        o = self.options
        data = np.asarray(corpus.train, dtype=np.int64)
        num_examples = max(0, len(data) - 1) // o.num_steps
        order = rng.permutation(num_examples)  # example indices, shuffled
        offsets = np.arange(o.num_steps)  # (steps,)
        for i in range(num_examples // o.batch_size):
            starts = order[i * o.batch_size : (i + 1) * o.batch_size, None] * o.num_steps  # (batch, 1)
            yield data[starts + offsets], data[starts + offsets + 1]  # (batch, steps) each


@dataclasses.dataclass
class NamesOptions:
    """Options of the ``names`` sampler."""

    shuffle: Literal["once", "epoch", "none"] = option(
        "once", "shuffle the names once and cycle through them (the exercise), every epoch, or never"
    )
    zero_start: bool = option(
        True, "begin each name with the all-zero input, as the exercise's x<1> = 0 (else with the separator)"
    )
    separator: str = option("\n", "the token that ends each name")


class NamesSampler(Sampler):
    """One line (a name) per minibatch, as the dinosaur-names exercise trains: X = [start] + name, Y = name +
    [separator].

    Batches have shape (1, len(name) + 1). The state is carried from one name to the
    next, as the exercise carries ``a_prev``.
    """

    Options = NamesOptions
    carries_state = True
    task = "next_token"

    def __init__(self, options: NamesOptions | None = None):
        self.options = options if options is not None else NamesOptions()
        self._order: np.ndarray | None = None

    def state_dict(self) -> dict:
        """The order shuffled once, if drawn yet (for checkpoints)."""
        return {"order": None if self._order is None else self._order.tolist()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned.

        :raises ValueError: when ``order`` is neither null nor a list of distinct whole numbers (an edited checkpoint).
        """
        order = state["order"]
        if order is not None and not (
            isinstance(order, list) and all(type(i) is int and i >= 0 for i in order) and len(set(order)) == len(order)
        ):
            raise ValueError(f"order must be null or a list of distinct whole numbers, got {str(order)[:40]}")
        self._order = None if order is None else np.asarray(order, dtype=np.int64)

    def _names(self, corpus: Corpus) -> tuple[list[np.ndarray], int]:
        if self.options.separator not in corpus.vocab.index:
            raise UsageError(
                f"sampler.separator: {self.options.separator!r} is not in the vocabulary; the names sampler needs a "
                "corpus with one name per line"
            )
        sep = corpus.vocab.index[self.options.separator]
        data = np.asarray(corpus.train, dtype=np.int64)
        cuts = np.flatnonzero(data == sep)
        return [name for name in np.split(data, cuts + 1) if len(name[name != sep])], sep

    def num_batches(self, corpus: Corpus) -> int:
        """One batch per name."""
        return len(self._names(corpus)[0])

    def batches(self, corpus: Corpus, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(X, Y)`` of shape (1, len(name) + 1) for every name, in the configured order."""
        names, sep = self._names(corpus)
        if self.options.shuffle == "epoch" or (self.options.shuffle == "once" and self._order is None):
            self._order = rng.permutation(len(names))
        order = range(len(names)) if self.options.shuffle == "none" else self._order
        if len(order) != len(names) or (len(names) and max(order) >= len(names)):
            raise UsageError(
                f"the names sampler's saved order covers {len(order)} names, but the corpus has {len(names)}; "
                "its checkpoint does not belong to this corpus: start again with --overwrite"
            )
        start = -1 if self.options.zero_start else sep
        for i in order:
            name = names[i][names[i] != sep]
            yield np.concatenate([[start], name])[None], np.concatenate([name, [sep]])[None]


@hookimpl
def register_samplers(register):
    """Register ``sequential``, ``random`` and ``names``."""
    register("sequential", SequentialSampler)
    register("random", RandomSampler)
    register("names", NamesSampler)
