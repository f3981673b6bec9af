"""``zoo.load``: a trained model back from a registry name, a run directory, a file or a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

from .errors import RecipeError, UsageError, printable
from .hub import weights_path
from .model import LanguageModel, prediction_scope
from .recipe import Recipe, apply_overrides, resolve
from .registry import Registry, get_registry
from .runner import build_model
from .shapes import parameter_shapes, tensor_count
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
        :raises UsageError: (the default predictor) when the model's outputs are NaN (NaN weights) or a temperature
            so small that the tempered probabilities are not finite: one line saying which.
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
        """Perplexity of ``text``: the state starts at zeros, reads ``text[:-1]``, is scored on ``text[1:]``.

        The default predictor returns ``nan`` for a model with NaN weights (the honest measurement) and ``inf`` when
        the loss is too large for a float.
        """
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


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") if names else "none"


def _check_layout(wf: WeightsFile, r: Recipe, vocab_size: int) -> None:
    """Compare the tensors the file's header lists with those its recipe and vocabulary need, before anything is
    allocated: the count first (constant time, whatever ``layers`` says), then names and shapes, in the file's order."""
    core, altered = r.model.core, "the file is not a zoo model or was altered: re-download or re-train it"
    needed = tensor_count(core)
    if needed != len(wf.layout):
        raise UsageError(f"{wf.path}: holds {len(wf.layout)} tensors, the recipe in its metadata needs {needed} (layers {core.layers}, "
                         f"bidirectional {str(core.bidirectional).lower()}, encoder {core.encoder}, decoder {core.decoder}); {altered}")
    expected = dict(parameter_shapes(core, r.model.cls.gates, vocab_size))  # as many as the file holds
    missing, extra = sorted(set(expected) - set(wf.layout)), sorted(set(wf.layout) - set(expected))
    if missing or extra:
        raise UsageError(f"{wf.path}: tensors do not fit the recipe in its metadata (missing {_names(missing)}, unexpected "
                         f"{_names(extra)}); {altered}")
    for name in sorted(wf.layout):
        shape = wf.layout[name][1]
        if shape != expected[name]:
            raise UsageError(f"{wf.path}: tensor {name} has shape {shape}, the recipe needs {expected[name]} (with the {vocab_size} "
                             "tokens of the vocabulary in its metadata); the weights do not belong to this recipe or vocabulary: "
                             "re-download or re-train them")


def load(ref: str | Path, *, backend: str | None = None, registry: Registry | None = None) -> Model:
    """Load a trained model.

    :param ref: a registry name (``"jay_gru"``), a run directory, a ``.safetensors`` path, or an
        ``http(s)://``/``file://`` URL.
    :param backend: run it on another backend than the one it was trained on (``torch``, ``numpy``, ``cuda``...).
    :returns: a :class:`Model` with ``generate``, ``perplexity``, ``module`` and ``vocab``.
    """
    registry = registry or get_registry()
    wf = read_weights(weights_path(ref))  # the header only: names, dtypes, shapes and metadata
    data, vocab = wf.recipe, wf.vocab
    try:
        r = resolve(data, registry)
    except RecipeError as exc:
        raise UsageError(f"{wf.path}: the recipe in its metadata does not validate: {printable(str(exc))}") from None
    _check_layout(wf, r, len(vocab))  # before building or reading anything the header does not vouch for
    if backend is not None:
        r = resolve(apply_overrides(data, {"backend": backend}), registry)
    module = build_model(r, len(vocab))
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in wf.tensors.items()})
    b = r.backend.cls(r.backend.options)
    b.check(r.model.core, module.cell)
    module.to(b.device).eval()
    model = Model(module, vocab, r, r.predict.cls(r.predict.options), wf.path, runner=b.inference(module))
    model.metrics = wf.metrics
    return model
