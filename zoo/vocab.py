"""Vocab: a deterministic mapping between tokens and integer ids."""

from __future__ import annotations

import collections
import json
from collections.abc import Iterable, Sequence

from zoo.errors import UsageError

__all__ = ["Vocab"]


class Vocab:
    """Tokens and their ids, built the same way in every process.

    The reference code's ``list(set(text))`` changes order between Python
    processes; zoo sorts instead (or orders by frequency, ties broken by the
    token), so a vocabulary is a pure function of its corpus.

    :param tokens: the tokens, index = id; must be unique strings.
    :param level: ``"char"`` (decode joins with nothing) or ``"word"`` (joins with spaces).
    :param unk: a token that unknown input maps to; ``None`` makes unknown input an error.
    """

    def __init__(self, tokens: Sequence[str], level: str = "char", unk: str | None = None):
        self.tokens = list(tokens)
        for i, t in enumerate(self.tokens):
            if not isinstance(t, str):
                raise TypeError(f"Vocab: tokens must be strings, got {repr(t)[:40]} at id {i}")
        if level not in ("char", "word"):
            raise ValueError(f"Vocab: level must be 'char' or 'word', got {level!r}")
        self.level = level
        self.index = {t: i for i, t in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            twice = next(t for i, t in enumerate(self.tokens) if self.index[t] != i)
            raise ValueError(f"Vocab: tokens must be unique, {repr(twice)[:40]} appears more than once")
        if unk is not None and unk not in self.index:
            raise ValueError(f"Vocab: unknown-token {unk!r} is not among the tokens")
        self.unk = unk

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        level: str = "char",
        order: str = "sorted",
        unk: str | None = None,
        min_count: int = 1,
        max_vocab: int | None = None,
    ) -> Vocab:
        """Build from a token stream: ``order="sorted"`` or ``"frequency"`` (ties broken by the token).

        With ``unk`` (e.g. ``"<unk>"``), the unknown token is id 0 (as in d2l's ``Vocab``) and the kept tokens
        follow in ``order``: a token is kept when it occurs at least ``min_count`` times and is among the
        ``max_vocab - 1`` most frequent (ties broken by the token), so that the vocabulary holds at most
        ``max_vocab`` tokens, ``unk`` included. Every other token then encodes as ``unk``; an ``unk`` in the
        stream itself counts as that token. Without ``unk`` every token is kept, as ``min_count`` and
        ``max_vocab`` would leave tokens the vocabulary could not encode.
        """
        counts = collections.Counter(tokens)
        if unk is None and (min_count != 1 or max_vocab is not None):
            raise ValueError(
                "Vocab: min_count and max_vocab need an unknown token (unk) to map the tokens they drop to"
            )
        if min_count < 1 or (max_vocab is not None and max_vocab < 2):
            raise ValueError(
                f"Vocab: min_count must be at least 1 and max_vocab at least 2, got {min_count} and {max_vocab}"
            )
        if unk is not None:
            counts.pop(unk, None)
            kept = sorted((t for t in counts if counts[t] >= min_count), key=lambda t: (-counts[t], t))
            counts = collections.Counter(
                {t: counts[t] for t in kept[: max_vocab - 1 if max_vocab is not None else None]}
            )
        if order == "sorted":
            ordered = sorted(counts)
        elif order == "frequency":
            ordered = sorted(counts, key=lambda t: (-counts[t], t))
        else:
            raise ValueError(f"Vocab: order must be 'sorted' or 'frequency', got {order!r}")
        return cls(([unk] if unk is not None else []) + ordered, level=level, unk=unk)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and (self.tokens, self.level, self.unk) == (
            other.tokens,
            other.level,
            other.unk,
        )

    def split(self, text: str) -> list[str]:
        """Split text into tokens: characters, or whitespace-separated words."""
        return list(text) if self.level == "char" else text.split()

    def encode(
        self, text: str | Sequence[str], *, what: str = "text", advice: str = "use only tokens from the training corpus"
    ) -> list[int]:
        """Map text (or a list of tokens) to ids; unknown tokens map to ``unk`` or raise one clear error.

        :param what: names the input in that error (``"text"``, ``"dataset valid split"``).
        :param advice: how to fix it, the error's last clause.
        """
        tokens = self.split(text) if isinstance(text, str) else list(text)
        missing = sorted({t for t in tokens if t not in self.index}) if self.unk is None else []
        if missing:
            shown = ", ".join(repr(t) for t in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise UsageError(f"{what} has {len(missing)} token(s) the vocabulary has never seen: {shown}; {advice}")
        fallback = self.index.get(self.unk, -1)
        return [self.index.get(t, fallback) for t in tokens]

    def decode(self, ids: Iterable[int]) -> str:
        """Map ids back to text."""
        sep = "" if self.level == "char" else " "
        return sep.join(self.tokens[int(i)] for i in ids)

    def to_json(self) -> str:
        """The vocabulary as a JSON array of its tokens (index = id), as stored in weights metadata.

        The unknown token is among them (id 0 when :meth:`build` made it); which token it is travels apart,
        as the weights metadata ``zoo.vocab_unk``, so that files written before ``unk`` existed still read.
        """
        return json.dumps(self.tokens, ensure_ascii=False)

    def __repr__(self) -> str:
        return f"Vocab({len(self)} {self.level} tokens{f', unknown {self.unk!r}' if self.unk is not None else ''})"
