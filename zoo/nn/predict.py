"""What predictors share: generation from prefixes in one batch, perplexity, labelling, and the refusals they make.

Each function takes the model a predictor is given (a :class:`~zoo.nn.model.LanguageModel`, or its twin on the run's
backend, an :class:`~zoo.interfaces.Inference`) and uses only that interface, so it runs on every backend. The
``default`` predictor is these functions; another predictor (the example package's beam search) reuses them for
what it does not change.
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from zoo.errors import UsageError
from zoo.nn.stack import NO_INPUT
from zoo.vocab import Vocab

if TYPE_CHECKING:
    from zoo.interfaces import Inference

__all__ = ["check_unidirectional", "choose", "generate_batch", "perplexity", "label"]

_LOG_MAX_FLOAT = math.log(sys.float_info.max)  # math.exp of a larger loss overflows
NOT_FINITE = (
    "generate: the model's outputs are not finite (NaN or infinite weights, as a diverged training run "
    "leaves?), so no token can be chosen; re-train the model or load other weights"
)


def check_unidirectional(model: Inference) -> None:
    """Refuse, in one line, to generate with a bidirectional model: it read each next token while training.

    :raises UsageError: when ``model.options.bidirectional``.
    """
    if model.options.bidirectional:
        raise UsageError(
            "generate: this model is bidirectional, so it read each next token while training and cannot "
            "generate; use label() for sequence labelling, or train a unidirectional model"
        )


def choose(
    logits: torch.Tensor, strategy: str, temperature: float, top_k: int | None, generator: torch.Generator | None
) -> torch.Tensor:
    """Pick the next token id per row of (N, V) logits: argmax, or a draw from the tempered softmax.

    :raises UsageError: when NaN logits leave nothing to choose from, or the tempered probabilities are not finite.
    """
    if strategy == "greedy":
        if bool(logits.isnan().any()):  # argmax would return the first NaN's index: a token no model chose
            raise UsageError(NOT_FINITE)
        return logits.argmax(dim=-1)
    if strategy != "sample":
        raise UsageError(f"unknown strategy {strategy!r}; use greedy or sample")
    tempered = logits.float() / temperature
    if top_k is not None and top_k < tempered.shape[-1]:
        kth = torch.topk(tempered, top_k, dim=-1).values[..., -1:]  # (N, 1)
        tempered = tempered.masked_fill(tempered < kth, float("-inf"))
    probs = F.softmax(tempered, dim=-1)
    if not bool(probs.isfinite().all()):  # torch.multinomial would fail with an internal error
        if not bool(logits.float().isfinite().all()):
            raise UsageError(NOT_FINITE)
        raise UsageError(
            f"generate: temperature {temperature:g} is too small for this model's outputs (logits / "
            "temperature overflow, so the probabilities are not finite); use a larger temperature, or "
            "strategy greedy"
        )
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


@torch.no_grad()
def generate_batch(
    model: Inference,
    vocab: Vocab,
    prefixes: list[str],
    num_tokens: int,
    *,
    strategy: str = "greedy",
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    stop: str | None = None,
) -> list[str]:
    """Continue every prefix at once, in the d2l manner without re-reading a prefix for each new token: each prefix
    warms up in one pass (prefixes of one length together), then every new token of every prefix is one batched
    :meth:`~zoo.interfaces.Inference.step` from the carried state.

    An empty prefix starts from the all-zero input (as the dinosaur exercise does); a row ends early after producing the
    token ``stop``. Sampling draws for the whole batch from ``generator``: the same prefixes and seed give the same
    texts.

    :returns: each prefix followed by up to ``num_tokens`` generated tokens.
    :raises UsageError: for a bidirectional model, a temperature that is not a positive finite number, a prefix with
        tokens the vocabulary has never seen, and outputs that leave nothing to choose (see :func:`choose`).
    """
    check_unidirectional(model)
    if not (math.isfinite(temperature) and temperature > 0):
        raise UsageError(f"generate: temperature must be a positive finite number, got {temperature}")
    encoded = [vocab.encode(p) for p in prefixes]
    stop_id = vocab.encode([stop])[0] if stop is not None else None
    if not encoded:
        return []
    was_training = model.training
    model.eval()
    try:
        logits, state = _warm_up(model, encoded)  # (B, V), state tensors (L*D, B, H)
        out = [list(ids) for ids in encoded]
        running = set(range(len(encoded)))
        for i in range(num_tokens):
            nxt = choose(logits, strategy, temperature, top_k, generator)  # (B,)
            for row, token in enumerate(nxt.tolist()):
                if row in running:
                    out[row].append(token)
                    if token == stop_id:
                        running.discard(row)
            if not running or i + 1 == num_tokens:
                break
            logits, state = model.step(nxt, state)
    finally:
        model.train(was_training)
    return [vocab.decode(ids) for ids in out]


def _warm_up(model: Inference, encoded: list[list[int]]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """The logits after each prefix and the states, batched in the prefixes' order (an empty prefix reads the zero
    input)."""
    by_length: dict[int, list[int]] = {}
    for row, ids in enumerate(encoded):
        by_length.setdefault(len(ids), []).append(row)
    last: list[torch.Tensor | None] = [None] * len(encoded)
    states: list[tuple[torch.Tensor, ...] | None] = [None] * len(encoded)
    for rows in by_length.values():
        x = torch.tensor([encoded[r] or [NO_INPUT] for r in rows], device=model.device)  # (n, P)
        logits, state = model(x)  # one pass over the prefixes of this length
        for j, r in enumerate(rows):
            last[r], states[r] = logits[j, -1], tuple(s[:, j] for s in state)
    return torch.stack(last), tuple(torch.stack([s[k] for s in states], dim=1) for k in range(len(states[0])))


@torch.no_grad()
def perplexity(model: Inference, vocab: Vocab, text: str) -> float:
    """exp(mean cross-entropy) of ``text[1:]`` read after ``text[:-1]``, from a zero state.

    A loss too large for a float gives ``inf``; a model with NaN weights gives ``nan`` (not an error: it is the
    measurement, and generation with such a model reports the weights).

    :raises UsageError: for a text of fewer than two tokens, or with tokens the vocabulary has never seen.
    """
    ids = vocab.encode(text)
    if len(ids) < 2:
        raise UsageError("perplexity: the text needs at least two tokens (one to read, one to score)")
    was_training = model.training
    model.eval()
    try:
        x = torch.tensor([ids[:-1]], device=model.device)  # (1, T)
        y = torch.tensor(ids[1:], device=model.device)  # (T,)
        logits, _ = model(x)
        loss = float(F.cross_entropy(logits[0].double(), y))
    finally:
        model.train(was_training)
    return math.inf if loss >= _LOG_MAX_FLOAT else math.exp(loss)  # NaN stays NaN: the honest answer for NaN weights


@torch.no_grad()
def label(model: Inference, vocab: Vocab, text: str) -> str:
    """The most likely output token at every position of ``text`` (sequence labelling).

    :raises UsageError: for an empty text, or one with tokens the vocabulary has never seen.
    """
    ids = vocab.encode(text)
    if not ids:
        raise UsageError("label: the text is empty; give at least one token")
    was_training = model.training
    model.eval()
    try:
        logits, _ = model(torch.tensor([ids], device=model.device))  # (1, T, V)
    finally:
        model.train(was_training)
    return vocab.decode(logits[0].argmax(dim=-1).tolist())
