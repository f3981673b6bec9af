"""Sequence labelling: the ``pairs`` dataset and sampler (input and target sequences of equal length).

The "hello" → "ohlol" exercise is one such pair: at every position the model
outputs the target token, reading the whole input (both directions, if the
stack is bidirectional).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np

from zoo.plugin import Corpus, Sampler, UsageError, Vocab, check_regular, hookimpl, option


@dataclasses.dataclass
class PairsOptions:
    """Options of the ``pairs`` dataset: inline pairs, or a file of tab-separated pairs."""

    pairs: list[list[str]] | None = option(None, "inline [input, target] pairs, e.g. [[hello, ohlol]]")
    path: str | None = option(None, "a UTF-8 file with one 'input<TAB>target' pair per line")
    level: Literal["char", "word"] = option("char", "tokens are characters or whitespace-separated words")

    def validate(self) -> list[str]:
        """Exactly one source; every inline pair has two members."""
        if (self.pairs is None) == (self.path is None):
            return ["pairs: give either pairs (inline) or path (a file), not both or neither"]
        bad = [i for i, p in enumerate(self.pairs or []) if len(p) != 2]
        return [f"pairs[{i}]: expected [input, target], got {len(self.pairs[i])} item(s)" for i in bad]


class PairsDataset:
    """Pairs of equal-length token sequences; the vocabulary covers inputs and targets, sorted."""

    Options = PairsOptions

    def __init__(self, options: PairsOptions):
        self.options = options

    def _raw(self) -> list[tuple[str, str, str]]:
        if self.options.pairs is not None:
            return [(a, b, f"dataset.pairs[{i}]") for i, (a, b) in enumerate(self.options.pairs)]
        path = Path(self.options.path)
        check_regular(path, "dataset.path", "give a UTF-8 file of 'input<TAB>target' lines")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UsageError(
                f"dataset.path: cannot read {path} ({getattr(exc, 'strerror', None) or exc}); give a UTF-8 file of "
                "'input<TAB>target' lines"
            ) from None
        out = []
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 2:
                raise UsageError(f"{path}:{n}: expected 'input<TAB>target', got {len(parts)} tab-separated field(s)")
            out.append((parts[0], parts[1], f"{path}:{n}"))
        return out

    def load(self, data_dir: Path | None) -> Corpus:
        """Tokenise the pairs; each input and its target must have the same number of tokens."""
        split = list if self.options.level == "char" else str.split
        tokenised = []
        for a, b, where in self._raw():
            x, y = split(a), split(b)
            if len(x) != len(y) or not x:
                raise UsageError(
                    f"{where}: input and target must have the same, non-zero number of tokens ({len(x)} vs {len(y)})"
                )
            tokenised.append((x, y))
        if not tokenised:
            raise UsageError("dataset: no pairs found; give at least one [input, target] pair")
        vocab = Vocab.build([t for x, y in tokenised for t in x + y], level=self.options.level)
        pairs = [(vocab.encode(x), vocab.encode(y)) for x, y in tokenised]
        return Corpus(train=[i for x, _ in pairs for i in x], vocab=vocab, pairs=pairs)


@dataclasses.dataclass
class PairsSamplerOptions:
    """Options of the ``pairs`` sampler."""

    batch_size: int = option(1, "pairs per minibatch (pairs of one length are batched together)")
    shuffle: bool = option(True, "shuffle the pairs every epoch (with the run's generator)")

    def validate(self) -> list[str]:
        """The batch size must be positive."""
        return [] if self.batch_size >= 1 else [f"batch_size: must be at least 1, got {self.batch_size}"]


class PairsSampler(Sampler):
    """Minibatches of whole pairs: X the inputs, Y the targets; the state restarts every batch."""

    Options = PairsSamplerOptions
    carries_state = False
    task = "labelling"

    def __init__(self, options: PairsSamplerOptions | None = None):
        self.options = options or PairsSamplerOptions()

    def _groups(self, corpus: Corpus) -> dict[int, list[int]]:
        groups: dict[int, list[int]] = {}
        for i, (x, _) in enumerate(corpus.pairs or []):
            groups.setdefault(len(x), []).append(i)
        return groups

    def num_batches(self, corpus: Corpus) -> int:
        """One batch per ``batch_size`` pairs of each length (the last of a length may be smaller)."""
        n = self.options.batch_size
        return sum(-(-len(idx) // n) for idx in self._groups(corpus).values())

    def batches(self, corpus: Corpus, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(X, Y)`` int64 arrays (batch, length), pairs of one length per batch."""
        n = self.options.batch_size
        chunks = []
        for length in sorted(self._groups(corpus)):
            idx = self._groups(corpus)[length]
            if self.options.shuffle:
                idx = [idx[j] for j in rng.permutation(len(idx))]
            chunks += [idx[k : k + n] for k in range(0, len(idx), n)]
        order = rng.permutation(len(chunks)) if self.options.shuffle else range(len(chunks))
        for c in order:
            rows = [corpus.pairs[i] for i in chunks[c]]
            yield np.array([x for x, _ in rows], dtype=np.int64), np.array([y for _, y in rows], dtype=np.int64)


@hookimpl
def register_datasets(register):
    """Register the ``pairs`` dataset."""
    register("pairs", PairsDataset)


@hookimpl
def register_samplers(register):
    """Register the ``pairs`` sampler."""
    register("pairs", PairsSampler)
