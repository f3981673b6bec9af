"""``zoo.load``: a trained model back from a registry name, a run directory, a file or a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from .errors import UsageError
from .hub import weights_path
from .model import LanguageModel, prediction_scope
from .recipe import Recipe, apply_overrides, resolve
from .registry import Registry, get_registry
from .runner import build_model
from .vocab import Vocab
from .weights import WeightsFile, read_weights

__all__ = ["Model", "load", "weights_path"]


class Model:
    """A trained language model with its vocabulary and predictor.

    :ivar module: the ``torch.nn.Module`` (a :class:`~zoo.model.LanguageModel`).
    :ivar vocab: the :class:`~zoo.vocab.Vocab` it was trained with.
    :ivar recipe: the resolved :class:`~zoo.recipe.Recipe`.
    """

    def __init__(self, module: LanguageModel, vocab: Vocab, recipe: Recipe, predictor: Any, path: Path | None = None, runner: Any = None):
        self.module, self.vocab, self.recipe, self.predictor, self.path = module, vocab, recipe, predictor, path
        self.runner = runner if runner is not None else module  # what computes: the module, or its twin on another backend
        self.metrics: dict[str, Any] = {}

    def generate(self, prefix: str | Sequence[str], num_tokens: int = 50, *, strategy: str = "greedy", temperature: float = 1.0,
                 top_k: int | None = None, seed: int | None = None, stop: str | None = None) -> str | list[str]:
        """Continue ``prefix`` by ``num_tokens`` tokens; returns the prefix and the continuation.

        :param prefix: one text, or a list of texts continued together as one batch (a list of results then).
        :param strategy: ``greedy`` (most likely token) or ``sample`` (draw from the softmax).
        :param temperature: softmax temperature for sampling (lower is more conservative).
        :param top_k: sample only among the k most likely tokens.
        :param seed: makes sampling reproducible (for the same prefixes).
        :param stop: end early once this token is produced (e.g. ``"\\n"``); an empty prefix starts from the all-zero input.
        """
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        options = {"strategy": strategy, "temperature": temperature, "top_k": top_k, "generator": generator, "stop": stop}
        with prediction_scope(self.runner):
            if isinstance(prefix, str):
                return self.predictor.generate(self.runner, self.vocab, prefix, num_tokens, **options)
            if hasattr(self.predictor, "generate_batch"):
                return self.predictor.generate_batch(self.runner, self.vocab, list(prefix), num_tokens, **options)
            return [self.predictor.generate(self.runner, self.vocab, p, num_tokens, **options) for p in prefix]

    def perplexity(self, text: str) -> float:
        """Perplexity of ``text``: the state starts at zeros, reads ``text[:-1]``, is scored on ``text[1:]``."""
        with prediction_scope(self.runner):
            return self.predictor.perplexity(self.runner, self.vocab, text)

    @property
    def task(self) -> str:
        """``"labelling"`` for a model trained on pairs, else ``"next_token"``."""
        return self.recipe.sampler.cls.task

    def label(self, text: str) -> str:
        """The most likely output token at each position of ``text`` (for models trained on pairs)."""
        with prediction_scope(self.runner):
            return self.predictor.label(self.runner, self.vocab, text)

    def __repr__(self) -> str:
        m = self.recipe.model.core
        return f"Model({self.recipe.name!r}: {m.cell}/{m.impl}, hidden {m.hidden_size}, layers {m.layers}, vocab {len(self.vocab)})"


def _load_state(module: LanguageModel, wf: WeightsFile, vocab_size: int) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(wf.tensors))
    extra = sorted(set(wf.tensors) - set(expected))
    if missing or extra:
        raise UsageError(f"{wf.path}: tensors do not fit the recipe in its metadata (missing {missing or 'none'}, unexpected {extra or 'none'}); the file is not a zoo model or was altered")
    for name, t in wf.tensors.items():
        if tuple(t.shape) != tuple(expected[name].shape):
            raise UsageError(f"{wf.path}: tensor {name} has shape {tuple(t.shape)}, the recipe needs {tuple(expected[name].shape)} "
                             f"(with the {vocab_size} tokens of the vocabulary in its metadata); the weights do not belong to this recipe or "
                             "vocabulary: re-download or re-train them")
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in wf.tensors.items()})


def load(ref: str | Path, *, backend: str | None = None, registry: Registry | None = None) -> Model:
    """Load a trained model.

    :param ref: a registry name (``"jay_gru"``), a run directory, a ``.safetensors`` path, or an
        ``http(s)://``/``file://`` URL.
    :param backend: run it on another backend than the one it was trained on (``torch``, ``numpy``, ``cuda``...).
    :returns: a :class:`Model` with ``generate``, ``perplexity``, ``module`` and ``vocab``.
    """
    registry = registry or get_registry()
    wf = read_weights(weights_path(ref))
    data = wf.recipe
    if backend is not None:
        data = apply_overrides(data, {"backend": backend})
    r = resolve(data, registry)
    vocab = wf.vocab
    module = build_model(r, len(vocab))
    _load_state(module, wf, len(vocab))
    b = r.backend.cls(r.backend.options)
    b.check(r.model.core, module.cell)
    module.to(b.device).eval()
    model = Model(module, vocab, r, r.predict.cls(r.predict.options), wf.path, runner=b.inference(module))
    model.metrics = wf.metrics
    return model
