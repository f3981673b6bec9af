"""``zoo.load``: a trained model back from a catalog name, a run directory, a file or a URL; ``Model.evaluate`` scores
it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import RecipeError, UsageError, printable
from zoo.files import read_text
from zoo.hub.locate import weights_path
from zoo.hub.weights import WeightsFile, read_weights
from zoo.nn.build import build_model
from zoo.nn.evaluate import Score, score
from zoo.nn.model import LanguageModel, prediction_scope
from zoo.nn.shapes import parameter_shapes, tensor_count
from zoo.recipe import Recipe, apply_overrides, resolve
from zoo.registry import Registry, get_registry
from zoo.vocab import Vocab

__all__ = ["SPLITS", "Model", "load", "weights_path"]

SPLITS = (
    "valid",
    "test",
    "train",
)  # what evaluate(split=...) takes; train is the model's own training text, or another corpus's


class Model:
    """A trained language model with its vocabulary and predictor.

    :ivar module: the ``torch.nn.Module`` (a :class:`~zoo.nn.model.LanguageModel`).
    :ivar vocab: the :class:`~zoo.vocab.Vocab` it was trained with.
    :ivar recipe: the resolved :class:`~zoo.recipe.Recipe`.
    :ivar registry: the plugin registry its recipe was resolved with (``None``: the installed one).
    """

    def __init__(
        self,
        module: LanguageModel,
        vocab: Vocab,
        recipe: Recipe,
        predictor: Any,
        path: Path | None = None,
        runner: Any = None,
        registry: Registry | None = None,
    ):
        self.module, self.vocab, self.recipe, self.predictor, self.path = module, vocab, recipe, predictor, path
        self.registry = registry
        self.runner = (
            runner if runner is not None else module
        )  # what computes: the module, or its twin on another backend
        self.metrics: dict[str, Any] = {}

    def generate(
        self,
        prefix: str | Sequence[str],
        num_tokens: int = 50,
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int | None = None,
        stop: str | None = None,
    ) -> str | list[str]:
        """Continue ``prefix`` by ``num_tokens`` tokens; returns the prefix and the continuation.

        :param prefix: one text, or a list of texts continued together as one batch (a list of results then).
        :param strategy: ``greedy`` (most likely token) or ``sample`` (draw from the softmax).
        :param temperature: softmax temperature for sampling (lower is more conservative).
        :param top_k: sample only among the k most likely tokens.
        :param seed: makes sampling reproducible (for the same prefixes).
        :param stop: end early once this token is produced (e.g. ``"\\n"``); an empty prefix starts from the all-zero
            input.
        :raises UsageError: (the default predictor) when the model's outputs are NaN (NaN weights) or a temperature
            so small that the tempered probabilities are not finite: one line saying which.
        """
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        options = {
            "strategy": strategy,
            "temperature": temperature,
            "top_k": top_k,
            "generator": generator,
            "stop": stop,
        }
        with prediction_scope(self.runner):
            if isinstance(prefix, str):
                return self.predictor.generate(self.runner, self.vocab, prefix, num_tokens, **options)
            return self.predictor.generate_batch(self.runner, self.vocab, list(prefix), num_tokens, **options)

    def perplexity(self, text: str) -> float:
        """Perplexity of ``text``: the state starts at zeros, reads ``text[:-1]``, is scored on ``text[1:]``.

        The default predictor returns ``nan`` for a model with NaN weights (the honest measurement) and ``inf`` when
        the loss is too large for a float.
        """
        with prediction_scope(self.runner):
            return self.predictor.perplexity(self.runner, self.vocab, text)

    def evaluate(
        self,
        text: str | None = None,
        path: str | Path | None = None,
        split: str | None = None,
        data_dir: str | Path | None = None,
        *,
        dataset: str | dict[str, Any] | None = None,
    ) -> Score:
        """Score a text, a text file or a corpus split as the trainer scores its validation split
        (:mod:`zoo.nn.evaluate`): read from a zero state in contiguous rows with the state carried, no dropout.

        Give exactly one of ``text``, ``path`` and ``split``. A text or file is split into tokens by the vocabulary
        (characters, or whitespace-separated words); a token it has never seen maps to ``<unk>`` when the
        vocabulary has one, and is otherwise one error naming it.

        :param split: ``"valid"``, ``"test"`` or ``"train"`` of the corpus the model was trained on, rebuilt from its
            recipe (it must give the model's vocabulary), or of ``dataset``.
        :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).
        :param dataset: score ``split`` of this dataset instead: a name, or a recipe's dataset section
            (``{"name": "text", "path": "other.txt"}``); its tokens are mapped one by one to the model's vocabulary.
        :returns: a :class:`~zoo.nn.evaluate.Score`: tokens scored, mean loss in nats per token, ``bits``,
            ``perplexity``.
        :raises UsageError: one line: for a labelling or bidirectional model, a missing corpus or split, unknown
            tokens without ``<unk>``, or fewer than two tokens.
        """
        given = [name for name, value in (("text", text), ("path", path), ("split", split)) if value is not None]
        if len(given) != 1:
            raise UsageError(
                f"evaluate takes exactly one of text, path and split, got {', '.join(given) if given else 'none'}"
            )
        if dataset is not None and split is None:
            raise UsageError(
                "evaluate: dataset names the corpus whose split to score; give split too (valid, test or train)"
            )
        self._check_scorable()
        if split is not None:
            ids, what = self._split_ids(split, data_dir, dataset)
        else:
            what = "text" if text is not None else f"text file {path}"
            ids = self.vocab.encode(
                text if text is not None else read_text(Path(path), "text to score"),
                what=what,
                advice=self._unk_advice(),
            )
        if len(ids) < 2:
            raise UsageError(f"{what} has {len(ids)} token(s); scoring needs at least 2 (one read, one predicted)")
        self.runner.eval()
        with prediction_scope(self.runner):
            return score(self.runner, ids, len(self.vocab))

    def _check_scorable(self) -> None:
        """Refuse, in one line, a model that has no honest next-token loss."""
        name = f"model '{self.recipe.name}'"
        if self.task == "labelling":
            raise UsageError(
                f"{name} labels sequences (trained on pairs) and has no next-token loss to score; label text with "
                "zoo predict"
            )
        if self.recipe.model.core.bidirectional:
            raise UsageError(
                f"{name} is bidirectional: its output at each position has read the tokens after it, so a next-token "
                "loss would not be honest; evaluate a unidirectional model"
            )

    def _unk_advice(self) -> str:
        """The end of the line that names tokens the vocabulary has never seen."""
        return f"model '{self.recipe.name}' has no '<unk>' to map them to: remove them, or train with dataset.unk: true"

    def _split_ids(
        self, split: str, data_dir: str | Path | None, dataset: str | dict[str, Any] | None
    ) -> tuple[Any, str]:
        """The ids of ``split`` of the model's own corpus (or of ``dataset``, mapped to the model's vocabulary), and its
        name."""
        if split not in SPLITS:
            raise UsageError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        name = f"model '{self.recipe.name}'"
        if dataset is None:
            section = self.recipe.dataset
            needs = f"scoring the {split} split of {name} needs the corpus it was trained on, dataset '{section.name}'"
        else:
            values = {"name": dataset} if isinstance(dataset, str) else dict(dataset)
            section = resolve(
                {**self.recipe.to_dict(), "dataset": values}, self.registry or get_registry()
            ).dataset  # as a recipe's
            needs = f"scoring the {split} split of dataset '{section.name}'"
        try:
            corpus = section.build().load(Path(data_dir) if data_dir is not None else None)
        except UsageError as exc:
            raise UsageError(f"{needs}: {exc}") from None
        if corpus.task != "next_token":
            raise UsageError(
                f"dataset '{section.name}' is a labelling corpus (pairs) with no next-token stream to score; "
                "name a language-model dataset"
            )
        if dataset is None and corpus.vocab != self.vocab:
            raise UsageError(
                f"dataset '{section.name}' no longer gives the vocabulary {name} was trained with "
                f"({len(corpus.vocab)} tokens against {len(self.vocab)}): its corpus changed since training; "
                "restore it, or score a text file"
            )
        ids = getattr(corpus, split)
        if ids is None and dataset is None:
            raise UsageError(
                f"{name} was trained without a {split} split (dataset '{section.name}' holds none out); train with "
                f"dataset.{split}_fraction (or dataset.{split}_path for a text dataset) to hold one out, or score a "
                "text file"
            )
        if ids is None:
            raise UsageError(
                f"dataset '{section.name}' has no {split} split with these options; set its {split}_fraction (e.g. "
                f"--set {split}_fraction=0.1) or, for a text dataset, {split}_path, or score its train split"
            )
        what = f"dataset '{section.name}' {split} split"
        return (ids if dataset is None else self._remap(ids, corpus.vocab, what)), what

    def _remap(self, ids: Sequence[int], source: Vocab, what: str) -> np.ndarray:
        """``ids`` of ``source``'s tokens as ids of the model's vocabulary, token by token (decoding and splitting text
        again would change word-level tokens)."""
        if source.level != self.vocab.level:
            raise UsageError(
                f"{what}: its tokens are {source.level}s and model '{self.recipe.name}' reads {self.vocab.level}s; "
                f"choose a {self.vocab.level}-level dataset (e.g. --set level={self.vocab.level})"
            )
        data = np.asarray(ids, dtype=np.int64)
        used = np.unique(data)
        table = np.full(len(source), -1, dtype=np.int64)
        table[used] = self.vocab.encode([source.tokens[i] for i in used], what=what, advice=self._unk_advice())
        return table[data]

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
        return (
            f"Model({self.recipe.name!r}: {m.cell}/{m.impl}, hidden {m.hidden_size}, layers {m.layers}, "
            f"vocab {len(self.vocab)})"
        )


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") if names else "none"


def _check_layout(wf: WeightsFile, r: Recipe, vocab_size: int) -> None:
    """Compare the tensors the file's header lists with those its recipe and vocabulary need, before anything is
    allocated: the count first (constant time, whatever ``layers`` says), then names and shapes, in the file's order."""
    core, altered = r.model.core, "the file is not a zoo model or was altered: re-download or re-train it"
    needed = tensor_count(core)
    if needed != len(wf.layout):
        raise UsageError(
            f"{wf.path}: holds {len(wf.layout)} tensors, the recipe in its metadata needs {needed} "
            f"(layers {core.layers}, bidirectional {str(core.bidirectional).lower()}, encoder {core.encoder}, "
            f"decoder {core.decoder}); {altered}"
        )
    expected = dict(parameter_shapes(core, r.model.cls.gates, vocab_size))  # as many as the file holds
    missing, extra = sorted(set(expected) - set(wf.layout)), sorted(set(wf.layout) - set(expected))
    if missing or extra:
        raise UsageError(
            f"{wf.path}: tensors do not fit the recipe in its metadata (missing {_names(missing)}, unexpected "
            f"{_names(extra)}); {altered}"
        )
    for name in sorted(wf.layout):
        shape = wf.layout[name][1]
        if shape != expected[name]:
            raise UsageError(
                f"{wf.path}: tensor {name} has shape {shape}, the recipe needs {expected[name]} (with the {vocab_size} "
                "tokens of the vocabulary in its metadata); the weights do not belong to this recipe or vocabulary: "
                "re-download or re-train them"
            )


def load(ref: str | Path, *, backend: str | None = None, registry: Registry | None = None) -> Model:
    """Load a trained model.

    :param ref: a catalog name (``"jay_gru"``), a run directory, a ``.safetensors`` path, or an
        ``http(s)://``/``file://`` URL.
    :param backend: run it on another backend than the one it was trained on (``torch``, ``numpy``, ``cuda``...).
    :param registry: the plugin registry whose components rebuild it (default: the installed plugins); the
        catalog that names models is ``registry.yaml`` (:mod:`zoo.hub.catalog`), not this.
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
    b = r.backend.build()
    b.check(r.model.core, module.cell)
    module.to(b.device).eval()
    model = Model(module, vocab, r, r.predict.build(), wf.path, runner=b.inference(module), registry=registry)
    model.metrics = wf.metrics
    return model
