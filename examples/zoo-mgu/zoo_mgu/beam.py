"""The ``beam`` predictor: beam search in place of greedy decoding; everything else as the default predictor.

Recipe keys (``predict`` section): ``name: beam`` and ``beam_width`` (default 4).
``strategy: greedy`` (the default) runs the beam search and returns the best
beam; ``strategy: sample`` draws tokens exactly as the default predictor does.
Perplexity and labelling are the default predictor's: the functions of
``zoo.plugin`` that it is made of.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from zoo.plugin import (
    NO_INPUT,
    Inference,
    Predictor,
    Vocab,
    check_unidirectional,
    generate_batch,
    hookimpl,
    label,
    option,
    perplexity,
)


@dataclasses.dataclass
class BeamOptions:
    """Options of the ``beam`` predictor (keys of the recipe's ``predict`` section)."""

    beam_width: int = option(4, "hypotheses kept at every step of the beam search (1 is greedy decoding)")

    def validate(self) -> list[str]:
        """``beam_width`` is at least 1."""
        return [] if self.beam_width >= 1 else [f"beam_width: must be at least 1, got {self.beam_width}"]


class BeamPredictor(Predictor):
    """Beam search over continuations, ranked by their mean log-probability per token.

    Without ``stop`` every hypothesis has ``num_tokens`` tokens, so this is the
    highest total log-probability found; a hypothesis that produces ``stop``
    ends there and competes on the same per-token score.
    """

    Options = BeamOptions

    def __init__(self, options: BeamOptions | None = None):
        self.options = options if options is not None else BeamOptions()

    @torch.no_grad()
    def generate(
        self,
        model: Inference,
        vocab: Vocab,
        prefix: str,
        num_tokens: int,
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
        stop: str | None = None,
    ) -> str:
        """Return ``prefix`` followed by the best beam of up to ``num_tokens`` tokens (``strategy: sample`` samples
        instead)."""
        if strategy != "greedy":
            return generate_batch(
                model,
                vocab,
                [prefix],
                num_tokens,
                strategy=strategy,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
                stop=stop,
            )[0]
        check_unidirectional(model)
        ids = vocab.encode(prefix)
        stop_id = vocab.encode([stop])[0] if stop is not None else None
        was_training = model.training
        model.eval()
        try:
            best = self._search(model, ids, num_tokens, stop_id)
        finally:
            model.train(was_training)
        return vocab.decode(ids + best)

    def generate_batch(
        self,
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
        """The best beam of each prefix in turn; ``strategy: sample`` samples them as one batch, as the default
        predictor does."""
        if strategy != "greedy":
            return generate_batch(
                model,
                vocab,
                prefixes,
                num_tokens,
                strategy=strategy,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
                stop=stop,
            )
        return [self.generate(model, vocab, prefix, num_tokens, stop=stop) for prefix in prefixes]

    def perplexity(self, model: Inference, vocab: Vocab, text: str) -> float:
        """The default predictor's perplexity: beam search changes only how tokens are chosen."""
        return perplexity(model, vocab, text)

    def label(self, model: Inference, vocab: Vocab, text: str) -> str:
        """The default predictor's labels (the most likely output token at every position)."""
        return label(model, vocab, text)

    def _search(self, model: Inference, ids: list[int], num_tokens: int, stop_id: int | None) -> list[int]:
        """The best continuation of ``ids``: beams advance together as one batch, their states reordered after each
        step."""
        logits, state = model(torch.tensor([ids or [NO_INPUT]], device=model.device))  # warm-up on the prefix (1, P, V)
        beams: list[list[int]] = [[]]
        scores = torch.zeros(1, dtype=torch.float64)  # total log-probability of each beam
        finished: list[tuple[float, list[int]]] = []  # (mean log-probability per token, tokens)
        for step in range(num_tokens):
            logp = F.log_softmax(logits[:, -1].double().cpu(), dim=-1)  # (B, V)
            total = (scores[:, None] + logp).reshape(-1)  # (B*V,)
            top, flat = total.topk(min(self.options.beam_width, total.numel()))
            keep_scores, keep_rows, keep_beams = [], [], []
            for score, index in zip(top.tolist(), flat.tolist()):
                row, token = divmod(index, logp.shape[1])
                beam = beams[row] + [token]
                if token == stop_id or step + 1 == num_tokens:
                    finished.append((score / len(beam), beam))
                else:
                    keep_scores.append(score)
                    keep_rows.append(row)
                    keep_beams.append(beam)
            if not keep_beams:
                break
            rows = torch.tensor(keep_rows, device=model.device)
            state = tuple(s.index_select(1, rows) for s in state)  # each (layers*directions, B, H)
            scores, beams = torch.tensor(keep_scores, dtype=torch.float64), keep_beams
            logits, state = model(torch.tensor([[b[-1]] for b in beams], device=model.device), state)  # (B, 1, V)
        return max(finished, key=lambda f: f[0])[1] if finished else []


@hookimpl
def register_predictors(register):
    """Register ``beam``."""
    register("beam", BeamPredictor)
