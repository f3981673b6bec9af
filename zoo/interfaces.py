"""The interfaces every plugin implements: Dataset, Sampler, Backend, Trainer, Schedule, Predictor, Logger.

The Cell interface, which supplies behaviour of its own, lives in :mod:`zoo.nn.cell`.
Each component class declares an ``Options`` dataclass (see :mod:`zoo.options`);
the registry constructs it as ``Component(options)`` with the recipe's values bound.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from zoo.vocab import Vocab

if TYPE_CHECKING:
    import torch

    from zoo.nn.model import LanguageModel
    from zoo.recipe import Recipe
    from zoo.train.distributed import World

__all__ = [
    "Corpus",
    "Dataset",
    "Sampler",
    "Backend",
    "Engine",
    "TrainSettings",
    "Trainer",
    "TrainContext",
    "Position",
    "Session",
    "Schedule",
    "Inference",
    "Predictor",
    "Logger",
    "RunStart",
    "RunEnd",
    "measures",
]


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
    shuffled once) overrides :meth:`state_dict` and :meth:`load_state_dict`,
    so that a resumed run replays it exactly.

    A sampler whose every batch has ``options.batch_size`` rows that may be trained on
    apart sets ``shards_by_rows = True``: a distributed run then gives each process its
    share of every batch's rows (see :mod:`zoo.train.distributed`). Others (the default)
    train on one process only.

    Subclass this protocol to inherit the defaults of ``shards_by_rows``, :meth:`state_dict`
    and :meth:`load_state_dict`.
    """

    Options: ClassVar[type]
    carries_state: ClassVar[bool]
    task: ClassVar[str]
    shards_by_rows: ClassVar[bool] = False

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

    def state_dict(self) -> dict[str, Any] | None:
        """What the sampler keeps from one epoch to the next, JSON-able, for a checkpoint; by default ``None``
        (nothing: every epoch depends on the run's generator alone)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (never called when it returns ``None``).

        :raises ValueError: naming what is wrong with an edited checkpoint's ``state``.
        """


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
    """One model's training steps on one backend: forward, backward, clipping, optimizer.

    Subclass this protocol to inherit the default of :meth:`set_lr`.
    """

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
        """The learning rate of the optimizer steps that follow (a schedule's doing).

        By default an engine cannot change it: this raises ``NotImplementedError``, and a run whose schedule
        changes the learning rate stops in one line asking for ``schedule: constant``.
        """
        raise NotImplementedError

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Everything the engine needs to continue exactly (weights, optimizer state), as named tensors."""
        ...

    def load_state_dict(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`state_dict` returned (also into the torch ``LanguageModel``)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Decides where arrays live and how gradients are had.

    ``name`` is the concrete backend ("torch", "cuda", "numpy") after any automatic choice.
    A backend whose engines average gradients across a ``torch.distributed`` process group
    (the torch backends, through ``DistributedDataParallel``) sets ``distributed = True``;
    others (the default) train on one process only. Subclass this protocol to inherit the default.
    """

    Options: ClassVar[type]
    name: str
    distributed: ClassVar[bool] = False

    @property
    def device(self) -> torch.device:
        """The torch device the ``LanguageModel`` (the weights' home) is placed on."""
        ...

    def check(self, model_options: Any = None, cell: Any = None) -> None:
        """Raise :class:`~zoo.errors.UsageError` with one clear line when this backend cannot run here (or cannot run
        this model)."""
        ...

    def engine(self, model: LanguageModel, settings: TrainSettings, rng: np.random.Generator) -> Engine:
        """The training engine for ``model``; ``rng`` drives any randomness such as dropout masks."""
        ...

    def inference(self, model: LanguageModel) -> Any:
        """Something callable like ``model`` (``(ids, state) -> (logits, state)`` on tensors) that computes on this
        backend."""
        ...


@dataclasses.dataclass
class Position:
    """Where training stands between two batches: the counters a checkpoint saves and a resumed run continues from."""

    epoch: int = 1  # the epoch in progress, from 1
    batch: int = 0  # its batches done
    steps: int = 0  # optimizer steps over the whole run
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the metrics records so far
    lr: float | None = None  # the learning rate of the last optimizer step (None before the first)


class Session(Protocol):
    """A trainer's run, exactly resumable and agreed across processes: what :attr:`TrainContext.session` opens.

    The session owns what exact resume needs besides the trainer's own numbers: the engine's weights and optimizer
    state, the carried state, the sampler's generator and state as each epoch began, the position within the epoch,
    the schedule's state and the learning rate. Opened on a resumed run, it has already checked every part of the
    checkpoint and restored it; :meth:`epochs` and :meth:`batches` then replay the epoch in progress up to where it
    stopped, without training on the batches already done, so the run ends bit for bit where an uninterrupted one does.
    In a distributed run it averages each batch's loss over the processes, stops them all at the same batch, and saves
    every process's carried state.

    A trainer loops ``for epoch in run.epochs(): for X, Y in run.batches(): loss, stop = run.step(X, Y)``, keeps its
    own running numbers in :attr:`state` (and tensors in :attr:`tensors`), and calls :meth:`save` where a checkpoint is
    due or a stop was requested.
    """

    engine: Engine  # the backend's engine for the settings the session was opened with
    schedule: Schedule  # the recipe's learning-rate schedule, its state restored
    at: Position  # where training stands
    state: Any  # the trainer's own dataclass of JSON values, saved beside the position (None: nothing)
    tensors: dict[str, torch.Tensor]  # the trainer's own tensors, saved with it (names outside engine., carry., rng.)

    def epochs(self) -> Iterator[int]:
        """The epochs still to train, from the one in progress: each begins with the sampler's generator and state as
        they were when it first began. An epoch the trainer did not end (:meth:`end_epoch`) ends when the loop moves
        on."""
        ...

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The epoch's ``(X, Y)`` minibatches that remain (those done before a resumed checkpoint are drawn, not given);
        train on each with :meth:`step`."""
        ...

    def step(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, str | None]:
        """Train on one minibatch (the carried state goes in and out, where the sampler carries it) and count it.

        :returns: the batch's mean loss per token, averaged over the processes, and a stop request (``"SIGINT"``,
            ``"SIGTERM"``) that any process received, else ``None``: the trainer then saves with it (:meth:`save`).
        """
        ...

    def set_lr(self, lr: float) -> None:
        """The learning rate of the steps that follow (``trainer.lr`` times the schedule's factor); the engine is told
        only when it changes."""
        ...

    def agree_loss(self, loss: float) -> float:
        """The mean of each process's ``loss`` (a validation score); ``loss`` itself on one process."""
        ...

    def agree_stop(self) -> str | None:
        """A stop request any process received, between batches (at an epoch's end)."""
        ...

    def end_epoch(self, stop: bool = False) -> None:
        """End the epoch in progress: the position moves to the next one's start (past the last with ``stop``), the
        sampler's generator and state are kept for it, the carried state is dropped. Call it before saving an epoch's
        end."""
        ...

    def save(self, stop: str | None = None) -> None:
        """Write a checkpoint of the position, the session's parts, :attr:`state` and :attr:`tensors`, with the runner's
        (metrics, samples, generator states); one line if a weight became non-finite.

        :param stop: a stop request from :meth:`step` or :meth:`agree_stop`: once written, the run stops
            (:class:`~zoo.errors.Interrupted`, which says where and how to continue).
        """
        ...


@dataclasses.dataclass(kw_only=True)
class TrainContext:
    """Everything a trainer needs for one run, assembled by the runner.

    ``session(settings, epochs=..., state=None, check=None)`` opens the run's :class:`Session`: the backend's engine
    for ``settings`` (a :class:`TrainSettings`), trained for ``epochs`` epochs, and everything exact resume and a
    distributed run need, so that a trainer that trains through it resumes exactly by construction. ``state`` is the
    trainer's own dataclass of JSON values (running sums, say), fresh; a resumed run continues from the checkpoint's,
    after ``check(state, at, tensors)`` (given the saved state, :class:`Position` and the trainer's own tensors) has
    had its say: it raises ``ValueError`` naming what is wrong with an edited checkpoint.

    ``on_epoch`` receives each metrics record; ``on_batch`` each optimizer step's record (``epoch``, ``batch``,
    ``steps``, ``batch_loss``, ``lr``: see :class:`Logger`); ``on_samples`` the epoch number and the generated lines;
    ``progress`` says whether to draw a bar. ``rng`` is the sampler's alone. ``world`` is this process's place in a
    distributed run (see :mod:`zoo.train.distributed`): its ``size`` and whether it is the ``main`` process, which alone
    reports and writes. ``kept`` is set by a trainer that leaves in the model the weights of an earlier evaluation than
    the last step (``trainer.keep: best``): that evaluation's metrics record, which the weights' metadata then carries.
    """

    model: LanguageModel
    corpus: Corpus
    sampler: Sampler
    backend: Backend
    predictor: Predictor
    recipe: Recipe
    rng: np.random.Generator
    world: World
    session: Callable[..., Session]
    on_epoch: Callable[[dict[str, Any]], None]
    on_samples: Callable[[int, list[str]], None]
    progress: bool = True
    kept: dict[str, Any] | None = None
    on_batch: Callable[[dict[str, Any]], None] = lambda record: None


@runtime_checkable
class Trainer(Protocol):
    """The training loop: loss, backpropagation through time, clipping, optimizer, metrics.

    A trainer that trains through its :class:`Session` and counts every process's tokens (``ctx.world.size``), as the
    ``bptt`` trainer does, sets ``distributed = True``; others (the default) are refused for distributed runs.
    Subclass this protocol to inherit the defaults of ``distributed`` and :meth:`check`.
    """

    Options: ClassVar[type]
    distributed: ClassVar[bool] = False

    def check(self, corpus: Corpus, recipe: Recipe) -> None:
        """Refuse in one line (a :class:`~zoo.errors.UsageError`) what this trainer cannot train, such as
        ``keep: best`` without a validation split. The runner calls it once the corpus is loaded and before the run
        directory is touched; by default it accepts everything."""

    def fit(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """Train ``ctx.model`` in place, leaving the trained weights in it (``engine.sync()``).

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

    By default a schedule learns nothing from the validation loss: subclass this protocol to inherit the defaults of
    ``needs_validation``, :meth:`observe`, :meth:`state_dict` and :meth:`load_state_dict`.
    """

    Options: ClassVar[type]
    needs_validation: ClassVar[bool] = False

    def factor(self, step: int, epoch: int, total: int) -> float:
        """The factor of ``trainer.lr`` for optimizer step ``step`` (0 for the run's first) of epoch ``epoch`` (from 1),
        in a run of ``total`` optimizer steps."""
        ...

    def observe(self, valid_loss: float) -> None:
        """Called after each evaluation of the validation split, with its mean loss; by default nothing to learn."""

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`observe` has learnt, JSON-able; by default nothing."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; by default nothing to restore.

        :raises ValueError: naming what is wrong with an edited checkpoint's ``state``.
        """


@runtime_checkable
class Inference(Protocol):
    """The model a predictor runs: what :meth:`Backend.inference` returns (the ``LanguageModel`` itself, or its twin
    computing on another backend), called like the ``LanguageModel``.

    A predictor (and a trainer's samples and validation) may use only these members. Subclass this protocol to inherit
    the defaults of :meth:`step` and :meth:`scope`.
    """

    options: Any  # the model section of the recipe (zoo.options.ModelOptions)
    training: bool

    @property
    def device(self) -> torch.device:
        """Where the ids given to it must live."""
        ...

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype."""
        ...

    def __call__(self, ids: torch.Tensor, state: tuple | None = None) -> tuple[torch.Tensor, tuple]:
        """``(N, T)`` int64 ids from ``state`` (``None``: zeros) to ``(logits (N, T, V), state)``, as the
        ``LanguageModel``."""
        ...

    def eval(self) -> Any:
        """Inference mode (no dropout)."""
        ...

    def train(self, mode: bool = True) -> Any:
        """Training mode on or off (a predictor restores what it found)."""
        ...

    def step(self, ids: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """One generation step: ``(N,)`` ids from ``state`` to ``(logits (N, V), state)``.

        By default one call of length one; a model with a faster fused step (``LanguageModel.step``) overrides it.
        """
        logits, state = self(ids.view(-1, 1), state)
        return logits[:, -1], state

    def scope(self) -> contextlib.AbstractContextManager:
        """The setting a predictor's loop over this model runs under; by default none. (The NumPy backend's quiets
        torch's thread pool, which would otherwise spin against NumPy's.)"""
        return contextlib.nullcontext()


@runtime_checkable
class Predictor(Protocol):
    """Text out of a trained model: generation from a prefix, perplexity and labelling.

    Each method receives the model as an :class:`Inference`. Subclass this protocol to inherit the default of
    :meth:`generate_batch`.
    """

    Options: ClassVar[type]

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
        """Warm up on ``prefix`` (empty: the all-zero input), then produce up to ``num_tokens`` more tokens.

        :param stop: a token that ends the generation once produced.
        :returns: the prefix followed by the generated text.
        :raises UsageError: for a bidirectional model, which cannot generate.
        """
        ...

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
        """Continue each of ``prefixes`` as :meth:`generate` does (``Model.generate`` of a list calls this).

        By default :meth:`generate` on each prefix in turn; a predictor that continues them as one batch overrides it.
        """
        return [
            self.generate(
                model,
                vocab,
                prefix,
                num_tokens,
                strategy=strategy,
                temperature=temperature,
                top_k=top_k,
                generator=generator,
                stop=stop,
            )
            for prefix in prefixes
        ]

    def perplexity(self, model: Inference, vocab: Vocab, text: str) -> float:
        """exp of the mean cross-entropy of ``text[1:]`` given ``text[:-1]``, from a zero state."""
        ...

    def label(self, model: Inference, vocab: Vocab, text: str) -> str:
        """The most likely output token at each position of ``text`` (sequence labelling)."""
        ...


@dataclasses.dataclass
class RunStart:
    """What a :class:`Logger` is told when a run starts or resumes.

    ``name`` is the recipe's, ``run_dir`` the run directory, ``recipe`` the resolved recipe as plain data (what
    ``recipe.yaml`` holds). A resumed run has ``resumed_at``: the optimizer steps its checkpoint had made, so that
    whatever a killed process logged after them is dropped, and ``records``: the metrics records up to there, each
    already logged once (unless the logger failed then).
    """

    name: str
    run_dir: Path
    recipe: dict[str, Any]
    resumed_at: int | None = None
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def params(self) -> dict[str, Any]:
        """The resolved recipe as dotted keys (``model.hidden_size``), each value a number, a string, a boolean or
        ``None`` (a list is written as JSON text): a tracker's hyperparameters."""
        from zoo.recipe import flatten

        return {
            key: value if value is None or isinstance(value, (bool, int, float, str)) else json.dumps(value)
            for key, value in flatten(self.recipe).items()
        }


@dataclasses.dataclass
class RunEnd:
    """What a :class:`Logger` is told when a run ends.

    ``status`` is ``"finished"``, ``"interrupted"`` (stopped on a signal or by a logger's :class:`~zoo.errors.StopRun`,
    its last checkpoint kept to resume) or ``"failed"``.
    A finished run has ``metrics``, the record of the weights it saved (see ``RunResult.saved``), and ``files``: the
    run directory's files by role (``weights``, ``plot``, ``samples``, ``recipe``, ``metrics``), each one that exists.
    """

    status: str
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)
    files: dict[str, Path] = dataclasses.field(default_factory=dict)


def measures(record: dict[str, Any]) -> dict[str, float]:
    """What a metrics record measured: its numbers, without ``epoch``, ``batch`` and ``steps`` (where it stands) or
    ``None``; what a tracker logs under the record's step."""
    return {
        key: value
        for key, value in record.items()
        if key not in ("epoch", "batch", "steps") and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


@runtime_checkable
class Logger(Protocol):
    """Where a run's progress goes besides its run directory: the recipe's ``loggers`` (TensorBoard, MLflow, ...).

    The runner calls, on the main process only: :meth:`start` once (with the :meth:`state_dict` its checkpoint saved,
    when the run resumes), :meth:`log` with each metrics record in order, :meth:`samples` with each epoch's generated
    text, and :meth:`end` once, however the run ends. Every record carries ``steps``, the optimizer steps made so far,
    which is the step a tracker files it under; with ``batches = True`` :meth:`log` also receives one record per
    optimizer step: ``epoch``, ``batch``, ``steps``, ``batch_loss`` (that batch's mean loss) and ``lr``.

    Exactly one point per step, through kills and resumes: a record is logged before the checkpoint that holds it is
    written, so a resumed run's loggers have everything up to ``RunStart.resumed_at`` and must drop (or skip) what
    they were given after it, which the resumed run recomputes identically.

    A logger that raises is disabled for the rest of the run with one warning; the run goes on. :meth:`check` runs
    before anything trains: raise :class:`zoo.errors.UsageError` there for what cannot work (a package not installed).
    Subclass this protocol to inherit the defaults of ``batches``, :meth:`check`, :meth:`samples` and
    :meth:`state_dict`.
    """

    Options: ClassVar[type]
    batches: bool = False  # an option of the logger's, or fixed by its class

    def check(self) -> None:
        """Refuse, in one line, a logger that cannot work here; by default nothing to check."""

    def start(self, run: RunStart, state: dict[str, Any] | None) -> None:
        """The run starts (``state`` is ``None``) or resumes (``state`` is what :meth:`state_dict` returned)."""
        ...

    def log(self, record: dict[str, Any]) -> None:
        """One metrics record, as ``metrics.jsonl`` holds it (or a batch's, with ``batches = True``)."""
        ...

    def samples(self, epoch: int, steps: int, lines: list[str]) -> None:
        """The text generated after epoch ``epoch`` (at optimizer step ``steps``); by default not logged."""

    def end(self, run: RunEnd) -> None:
        """The run ended; release what the logger holds."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """What a resumed run needs to log into the same place (a tracker's run id), JSON-able; by default nothing."""
        return {}
