"""The ``beam`` predictor: beam search in place of greedy decoding; everything else as the default predictor.

Recipe keys (``predict`` section): ``name: beam`` and ``beam_width`` (default 4).
``strategy: greedy`` (the default) runs the beam search and returns the best
beam; ``strategy: sample`` draws tokens exactly as the default predictor does.
Perplexity and labelling are the default predictor's: the functions of
``zoo.plugin`` that it is made of. The search itself is in :mod:`zoo_mgu.search`; this module,
which registers the predictor, imports torch only when it predicts, so that ``zoo plugins`` and
``zoo validate`` stay quick with the package installed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from zoo.plugin import Predictor, hookimpl, option

if TYPE_CHECKING:
    import torch

    from zoo.plugin import Inference, Vocab


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
        from zoo.plugin import check_unidirectional, generate_batch
        from zoo_mgu.search import beam_search

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
            best = beam_search(model, ids, num_tokens, self.options.beam_width, stop_id)
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
        from zoo.plugin import generate_batch

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
        from zoo.plugin import perplexity

        return perplexity(model, vocab, text)

    def label(self, model: Inference, vocab: Vocab, text: str) -> str:
        """The default predictor's labels (the most likely output token at every position)."""
        from zoo.plugin import label

        return label(model, vocab, text)


@hookimpl
def register_predictors(register):
    """Register ``beam``."""
    register("beam", BeamPredictor)
