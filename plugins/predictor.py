"""The default predictor: prefix warm-up, greedy or sampled continuation, perplexity and labelling."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.plugin import NoOptions, Predictor, hookimpl

if TYPE_CHECKING:
    import torch

    from zoo.plugin import Inference, Vocab


class DefaultPredictor(Predictor):
    """Generation in the d2l manner, without re-reading the prefix for every new token.

    The prefix is read once (the state carried through it), then each new token
    is one step from the carried state (see :func:`zoo.nn.predict.generate_batch`).
    """

    Options = NoOptions

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

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
        """Return ``prefix`` followed by up to ``num_tokens`` generated tokens.

        An empty prefix starts from the all-zero input (as the dinosaur exercise does);
        generation ends early after producing the token ``stop``.
        """
        return self.generate_batch(
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
        """Continue every prefix at once: each warms up in one pass (prefixes of one length together),
        then every new token of every prefix is one batched step.

        Sampling draws for the whole batch from ``generator``: the same prefixes and seed give the same texts.
        """
        from zoo.plugin import generate_batch  # the helpers load torch: imported when used, not when registered

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

    def perplexity(self, model: Inference, vocab: Vocab, text: str) -> float:
        """exp(mean cross-entropy) of ``text[1:]`` read after ``text[:-1]``, from a zero state (``inf`` when too
        large for a float, ``nan`` for NaN weights: the measurement, not an error)."""
        from zoo.plugin import perplexity

        return perplexity(model, vocab, text)

    def label(self, model: Inference, vocab: Vocab, text: str) -> str:
        """The most likely output token at every position of ``text`` (sequence labelling)."""
        from zoo.plugin import label

        return label(model, vocab, text)


@hookimpl(trylast=True)
def register_predictors(register):
    """Register ``default``: the default decoding, a fallback another plugin may replace (``trylast``)."""
    register("default", DefaultPredictor)
