"""The interfaces every plugin implements: Dataset, Sampler, Backend, Trainer, Schedule, Predictor.

The Cell interface, which supplies behaviour of its own, lives in :mod:`zoo.nn.cell`.
Each component class declares an ``Options`` dataclass (see :mod:`zoo.options`);
the registry constructs it as ``Component(options)`` with the recipe's values bound.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Protocol, runtime_checkable

import numpy as np

from zoo.train.distributed import World
from zoo.vocab import Vocab

if TYPE_CHECKING:
    import torch

    from zoo.nn.model import LanguageModel
    from zoo.recipe import Recipe
    from zoo.train.checkpoint import Checkpoints

__all__ = ["Corpus", "Dataset", "Sampler", "Backend", "Engine", "TrainSettings", "Trainer", "TrainContext", "Schedule", "Predictor"]


@dataclasses.dataclass
class Corpus:
    """A tokenised corpus: training ids, optional validation and test ids, and the vocabulary.

    A language-model corpus predicts each next token of ``train``; ``valid`` and
    ``test``, when present, are held-out streams of the same kind, encoded with
    the vocabulary built from ``train`` alone. A labelling corpus also holds
    ``pairs``: (input ids, target ids) of equal length, where the target at each
    position is what the model must output there; ``train`` then holds the
    inputs concatenated.
    """

    train: list[int]
    vocab: Vocab
    valid: list[int] | None = None
    test: list[int] | None = None
    pairs: list[tuple[list[int], list[int]]] | None = None

    @property
    def task(self) -> str:
        """``"labelling"`` when the corpus holds pairs, else ``"next_token"``."""
        return "labelling" if self.pairs is not None else "next_token"


@runtime_checkable
class Dataset(Protocol):
    """Yields a corpus (token ids and a :class:`~zoo.vocab.Vocab`)."""

    Options: ClassVar[type]

    def load(self, data_dir: Path | None) -> Corpus:
        """Read, preprocess and tokenise the corpus.

        :param data_dir: a folder searched first for the corpus file (``ZOO_DATA`` or
            ``--data-dir``); ``None`` means only the cache and the download address.
        :returns: the corpus; its vocabulary must be built deterministically.
        """
        ...


@runtime_checkable
class Sampler(Protocol):
    """Turns a list of ids into ``(X, Y)`` minibatches of shape (batch, steps).

    ``carries_state`` tells the trainer what to do with the hidden state between
    batches: ``True`` (sequential) carries it, detached; ``False`` (random)
    starts every batch from zeros. ``task`` is the corpus task it serves
    (``"next_token"`` or ``"labelling"``, see :attr:`Corpus.task`).

    A sampler that keeps state from one epoch to the next (such as an order
    shuffled once) also defines ``state_dict() -> dict`` (JSON-able) and
    ``load_state_dict(dict)``, so that a resumed run replays it exactly.

    A sampler whose every batch has ``options.batch_size`` rows that may be trained on
    apart sets ``shards_by_rows = True``: a distributed run then gives each process its
    share of every batch's rows (see :mod:`zoo.train.distributed`). Others train on one process only.
    """

    Options: ClassVar[type]
    carries_state: ClassVar[bool]
    task: ClassVar[str]

    def batches(self, corpus: Corpus, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield one epoch of ``(X, Y)`` int64 arrays of shape (batch, steps).

        :param corpus: the corpus; Y is X shifted one token ahead for a language-model
            corpus, and the aligned targets for a labelling corpus.
        :param rng: the run's seeded generator; the only source of randomness allowed.
        """
        ...

    def num_batches(self, corpus: Corpus) -> int:
        """How many batches one epoch over ``corpus`` yields (0 when it is too short)."""
        ...


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """What a training engine needs to know about the update rule."""

    optimizer: str
    lr: float
    clip_norm: float | None = None
    clip_value: float | None = None
    reduction: str = "mean"  # gradient of the mean over tokens, or of the sum over each row's steps ("sum")


@runtime_checkable
class Engine(Protocol):
    """One model's training steps on one backend: forward, backward, clipping, optimizer."""

    def train_step(self, X: np.ndarray, Y: np.ndarray, state: Any) -> tuple[float, Any]:
        """One minibatch: forward, backward, clip, and an optimizer step if the loss is finite.

        :param X: (N, T) int64 inputs.
        :param Y: (N, T) int64 targets.
        :param state: the carried state, or ``None`` for zeros.
        :returns: ``(mean loss per token before the step, final state detached from this batch)``.
        """
        ...

    def sync(self) -> None:
        """Write the trained weights back into the torch ``LanguageModel`` (before saving or predicting)."""
        ...

    def set_lr(self, lr: float) -> None:
        """The learning rate of the optimizer steps that follow (a schedule's doing)."""
        ...

    def state_dict(self) -> dict[str, "torch.Tensor"]:
        """Everything the engine needs to continue exactly (weights, optimizer state), as named tensors."""
        ...

    def load_state_dict(self, tensors: dict[str, "torch.Tensor"]) -> None:
        """Restore what :meth:`state_dict` returned (also into the torch ``LanguageModel``)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Decides where arrays live and how gradients are had.

    ``name`` is the concrete backend ("torch", "cuda", "numpy") after any automatic choice.
    A backend whose engines average gradients across a ``torch.distributed`` process group
    (the torch backends, through ``DistributedDataParallel``) sets ``distributed = True``.
    """

    Options: ClassVar[type]
    name: str

    @property
    def device(self) -> "torch.device":
        """The torch device the ``LanguageModel`` (the weights' home) is placed on."""
        ...

    def check(self, model_options: Any = None, cell: Any = None) -> None:
        """Raise :class:`~zoo.errors.UsageError` with one clear line when this backend cannot run here (or cannot run this model)."""
        ...

    def engine(self, model: "LanguageModel", settings: TrainSettings, rng: np.random.Generator) -> Engine:
        """The training engine for ``model``; ``rng`` drives any randomness such as dropout masks."""
        ...

    def inference(self, model: "LanguageModel") -> Any:
        """Something callable like ``model`` (``(ids, state) -> (logits, state)`` on tensors) that computes on this backend."""
        ...


@dataclasses.dataclass
class TrainContext:
    """Everything a trainer needs for one run, assembled by the runner.

    ``on_epoch`` receives each epoch's metrics record; ``on_samples`` the epoch
    number and the generated lines; ``progress`` says whether to draw a bar.
    ``rng`` is the sampler's alone; ``engine_rng`` drives the engine (dropout masks).
    ``checkpoints`` saves and resumes the trainer's state (see :mod:`zoo.train.checkpoint`).
    ``world`` is this process's place in a distributed run (see :mod:`zoo.train.distributed`): the
    sampler then yields this process's rows, and the trainer agrees on losses and stops with the others.
    ``kept`` is set by a trainer that leaves in the model the weights of an earlier evaluation than the last
    step (``trainer.keep: best``): that evaluation's metrics record, which the weights' metadata then carries.
    """

    model: "LanguageModel"
    corpus: Corpus
    sampler: Sampler
    backend: Backend
    predictor: "Predictor"
    recipe: "Recipe"
    rng: np.random.Generator
    on_epoch: Callable[[dict[str, Any]], None]
    on_samples: Callable[[int, list[str]], None]
    progress: bool = True
    engine_rng: np.random.Generator | None = None
    checkpoints: "Checkpoints | None" = None
    world: World = dataclasses.field(default_factory=World)
    kept: dict[str, Any] | None = None


@runtime_checkable
class Trainer(Protocol):
    """The training loop: loss, backpropagation through time, clipping, optimizer, metrics.

    A trainer that honours ``ctx.world`` (agrees with the other processes on losses and stops, and
    saves every process's carried state, as the ``bptt`` trainer does) sets ``distributed = True``;
    others are refused for distributed runs. A trainer may also define ``check(corpus, recipe)``, which
    the runner calls once the corpus is loaded and before the run directory is touched, to refuse in one
    line (a :class:`~zoo.errors.UsageError`) what it cannot train, such as ``keep: best`` without a validation split.
    """

    Options: ClassVar[type]

    def fit(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """Train ``ctx.model`` in place.

        :returns: the metrics records (each also passed to ``ctx.on_epoch``): one per epoch, with at least ``epoch``,
            ``loss``, ``perplexity``, ``tokens_per_s`` and ``seconds`` (and ``valid_loss``, ``valid_perplexity`` where
            the corpus has a validation split); and one per validation pass within an epoch, with ``epoch``, ``batch``,
            ``steps``, ``valid_loss`` and ``valid_perplexity``, but no ``loss``. The last record is an epoch's.
        """
        ...


@runtime_checkable
class Schedule(Protocol):
    """The learning rate over a run, as a factor of ``trainer.lr``: the recipe's ``schedule`` section.

    The trainer asks for the factor before every optimizer step, and reports every validation loss to
    :meth:`observe` (a schedule that reacts to it, such as ``plateau``, sets ``needs_validation = True``,
    so that a recipe without a validation split is refused). ``state_dict``/``load_state_dict`` carry
    what :meth:`observe` learnt through a checkpoint (JSON-able), so that a resumed run continues exactly.
    """

    Options: ClassVar[type]
    needs_validation: ClassVar[bool]

    def factor(self, step: int, epoch: int, total: int) -> float:
        """The factor of ``trainer.lr`` for optimizer step ``step`` (0 for the run's first) of epoch ``epoch`` (from 1),
        in a run of ``total`` optimizer steps."""
        ...

    def observe(self, valid_loss: float) -> None:
        """Called after each evaluation of the validation split, with its mean loss."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`observe` has learnt, JSON-able."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """Text out of a trained model: generation from a prefix, and perplexity."""

    Options: ClassVar[type]

    def generate(
        self,
        model: "LanguageModel",
        vocab: Vocab,
        prefix: str,
        num_tokens: int,
        *,
        strategy: str = "greedy",
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: "torch.Generator | None" = None,
        stop: str | None = None,
    ) -> str:
        """Warm up on ``prefix`` (empty: the all-zero input), then produce up to ``num_tokens`` more tokens.

        :param stop: a token that ends the generation once produced.
        :returns: the prefix followed by the generated text.
        :raises UsageError: for a bidirectional model, which cannot generate.
        """
        ...

    def perplexity(self, model: "LanguageModel", vocab: Vocab, text: str) -> float:
        """exp of the mean cross-entropy of ``text[1:]`` given ``text[:-1]``, from a zero state."""
        ...

    def label(self, model: "LanguageModel", vocab: Vocab, text: str) -> str:
        """The most likely output token at each position of ``text`` (sequence labelling)."""
        ...
