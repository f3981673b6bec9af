"""The runner: turns a recipe into a run directory with weights, metrics, samples and a plot."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import random
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import Interrupted, PluginError, RecipeError, RunError, UsageError
from zoo.interfaces import Corpus, Logger, RunStart, TrainContext, TrainSettings
from zoo.nn.build import build_model
from zoo.nn.model import LanguageModel
from zoo.nn.shapes import parameter_count
from zoo.recipe import Recipe, prepare
from zoo.registry import Registry, get_registry
from zoo.train.checkpoint import Checkpoint, Checkpoints, decode, encode
from zoo.train.checkpoint_check import Damage, check_run_state
from zoo.train.distributed import LAUNCHED, ShardedSampler, World, check_distributable, joined
from zoo.train.interrupt import InterruptGuard
from zoo.train.rngstate import capture_rng, restore_rng
from zoo.train.rundir import RunDir, default_dir
from zoo.train.session import Session
from zoo.train.trackers import ALWAYS, Trackers
from zoo.version import versions

__all__ = ["RunResult", "run", "resume", "seed_everything", "BidirectionalWarning"]


@dataclasses.dataclass
class RunResult:
    """What a finished run produced: its directory, resolved recipe and metrics records (see
    :class:`~zoo.interfaces.Trainer`), and ``saved``: the metrics of the weights it saved (the last epoch's, or with
    ``trainer.keep: best`` the best evaluation's)."""

    run_dir: Path
    recipe: Recipe
    metrics: list[dict[str, Any]]
    saved: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's metrics."""
        return self.metrics[-1] if self.metrics else {}


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's, NumPy's and torch's generators; return the run's NumPy generator."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


class BidirectionalWarning(UserWarning):
    """A bidirectional stack trained to predict the next token: it sees the answer."""


def _check_corpus(corpus: Corpus, recipe: Recipe, sampler: Any) -> None:
    if sampler.task != corpus.task:
        fix = "sampler: pairs" if corpus.task == "labelling" else "sampler: sequential or random"
        raise UsageError(
            f"sampler.name: '{recipe.sampler.name}' serves {sampler.task} corpora, but dataset "
            f"'{recipe.dataset.name}' is a {corpus.task} corpus; use {fix}"
        )
    if sampler.num_batches(corpus) == 0:
        sizes = ", ".join(
            f"sampler.{k}={v}"
            for k, v in dataclasses.asdict(recipe.sampler.options).items()
            if isinstance(v, int) and not isinstance(v, bool)
        )
        raise UsageError(
            f"dataset '{recipe.dataset.name}' ({len(corpus.train)} training tokens) is shorter than one batch "
            f"({sizes}); lower them or use a longer corpus"
        )
    if corpus.task == "next_token":
        for i, prefix in enumerate(recipe.predict.core.prefixes):
            try:
                corpus.vocab.encode(prefix)
            except UsageError as exc:
                raise UsageError(f"predict.prefixes[{i}]: {prefix!r}: {exc}") from None
    if recipe.model.core.bidirectional and corpus.task == "next_token":
        warnings.warn(
            "model.bidirectional: a bidirectional stack trained to predict the next token reads that token through its "
            "backward direction, so its perplexity falls to about 1 while it cannot generate; use it for labelling "
            "(pairs) instead",
            BidirectionalWarning,
            stacklevel=3,
        )


def _figure(metrics: list[dict[str, Any]], title: str) -> Any:
    """The matplotlib figure of ``perplexity.png``: training perplexity by epoch and, where the run scored a validation
    split, the validation perplexity beside it (a pass within an epoch at its fraction of the epoch's steps), with the
    lowest marked; the x-axis ticked on whole epochs."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import LogFormatter, MaxNLocator

    epochs = [m for m in metrics if "loss" in m]
    valid = [m for m in metrics if "valid_loss" in m]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [m["epoch"] for m in epochs],
        [m["perplexity"] for m in epochs],
        marker="." if len(epochs) < 50 else None,
        label="train",
    )
    if valid:
        per = epochs[0]["steps"] or 1  # an epoch's optimizer steps
        x = [m["epoch"] - 1 + m["batch"] / per if "batch" in m else m["epoch"] for m in valid]
        y = [m["valid_perplexity"] for m in valid]
        ax.plot(x, y, marker="." if len(valid) < 50 else None, label="valid")
        i = min(range(len(valid)), key=lambda j: valid[j]["valid_loss"])
        ax.plot(
            [x[i]],
            [y[i]],
            marker="*",
            markersize=12,
            linestyle="none",
            color="tab:red",
            label=f"best: {y[i]:.3f} at epoch {valid[i]['epoch']}"
            + (f", batch {valid[i]['batch']}" if "batch" in valid[i] else ""),
        )
        ax.legend()
    ax.set_xlabel("epoch")
    lo, hi = np.floor(ax.dataLim.x0), np.ceil(ax.dataLim.x1)
    lo = min(
        lo, hi - 1
    )  # at least two whole epochs in view (a one-epoch run: 0 and 1), which the integer locator needs
    ax.set_xlim(lo - 0.03 * (hi - lo), hi + 0.03 * (hi - lo))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("perplexity" if valid else "training perplexity")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(LogFormatter())  # 5, 6, 10, 20 rather than 5×10⁰
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False))
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def corpus_fingerprint(corpus: Corpus) -> str:
    """sha256 of the training ids and the vocabulary: a resumed run must see the same corpus."""
    h = hashlib.sha256(np.asarray(corpus.train, dtype=np.int64).tobytes())
    h.update(corpus.vocab.to_json().encode("utf-8"))
    return h.hexdigest()


@dataclasses.dataclass
class _Setup:
    """A run's components, built (and every input checked) before its directory is touched."""

    recipe: Recipe
    rng: np.random.Generator
    engine_rng: np.random.Generator
    backend: Any
    sampler: Any
    corpus: Corpus
    model: LanguageModel
    predictor: Any
    trackers: Trackers


# The run directory's files a finished run's loggers are given (RunEnd.files), by role.
_FILES = {
    "weights": "model.safetensors",
    "plot": "perplexity.png",
    "samples": "samples.txt",
    "recipe": "recipe.yaml",
    "metrics": "metrics.jsonl",
}
# A deeper stack is refused before it is built: every layer adds a sequential step for every token, and
# building 1024 layers already takes about a second; real recurrent stacks have a handful.
_MAX_LAYERS = 1024
# A model takes its weights, their gradients and Adam's two moments: four copies of its parameters.
_COPIES = 4


def _memory_limit(device: torch.device) -> int | None:
    """The most bytes a model may take: the machine's physical memory, or less under a cgroup (v2) limit, and on a
    GPU its free memory (the model is built in main memory first); ``None`` where the system does not say."""
    try:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
    with contextlib.suppress(OSError, ValueError):
        limit = min(
            limit, int(Path("/sys/fs/cgroup/memory.max").read_text().strip())
        )  # "max" (no limit) is a ValueError
    if device.type == "cuda":
        limit = min(limit, torch.cuda.mem_get_info(device)[0])
    return limit


def _check_size(r: Recipe, vocab_size: int, device: torch.device) -> None:
    """Refuse, in one line naming the key to lower, a model too deep to build or too large for the memory.

    The estimate (:func:`zoo.nn.shapes.parameter_count`, in constant time) counts the parameters times their
    bytes times :data:`_COPIES`; activations come on top, so the ``MemoryError`` catch stays as the last resort.
    """
    m = r.model.core
    if m.layers > _MAX_LAYERS:
        raise UsageError(
            f"model.layers: {m.layers} layers are more than zoo builds (at most {_MAX_LAYERS}): every layer adds a "
            "sequential step for every token, so the stack would take hours to build and train; choose fewer layers"
        )
    gates = r.model.cls.gates
    count = parameter_count(m, gates, vocab_size)
    need, limit = count * (8 if m.dtype == "float64" else 4) * _COPIES, _memory_limit(device)
    if limit is None or need <= limit:
        return
    parts = {
        "model.layers": count - parameter_count(dataclasses.replace(m, layers=1), gates, vocab_size),
        "model.embedding_size": (vocab_size + gates * (2 if m.bidirectional else 1) * m.hidden_size)
        * (m.embedding_size or 0),
    }
    parts["model.hidden_size"] = count - sum(parts.values())
    key = max(parts, key=parts.__getitem__)
    sizes = f"hidden_size {m.hidden_size}, layers {m.layers}" + (
        f", embedding_size {m.embedding_size}" if m.embedding_size else ""
    )
    raise UsageError(
        f"model: not enough memory for {sizes} with a vocabulary of {vocab_size} (about {count:.3g} parameters: "
        f"{need / 2**30:,.1f} GiB as {m.dtype} with their gradients and optimizer moments, against the "
        f"{limit / 2**30:,.1f} GiB "
        f"{'free on the GPU' if device.type == 'cuda' else 'this machine has'}); choose a smaller {key}"
    )


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: Python's ``MemoryError``, or torch's allocators (CPU and CUDA) in words."""
    return isinstance(exc, MemoryError) or any(m in str(exc) for m in ("out of memory", "can't allocate memory"))


def _trackers(r: Recipe, registry: Registry, world: World, extra: Mapping[str, Logger]) -> Trackers:
    """The run's loggers (``metrics.jsonl``'s, the recipe's, then ``extra``), checked; none on a distributed run's
    other processes."""
    if not world.main:
        return Trackers()
    if ALWAYS not in registry.names("logger"):
        raise PluginError(
            f"logger '{ALWAYS}', which writes every run's metrics.jsonl, is not registered; a registry for runs needs "
            "zoo's own plugins (zoo_plugins.jsonl_logger among them)"
        )
    named = [(s.name, s.build()) for s in r.loggers if s.name != ALWAYS]
    trackers = Trackers([(ALWAYS, registry.get("logger", ALWAYS)()), *named, *extra.items()])
    trackers.check()
    return trackers


def _setup(
    r: Recipe, data_dir: str | Path | None, world: World, registry: Registry, loggers: Mapping[str, Logger]
) -> _Setup:
    """Build a run's components from its recipe, checking every input (the corpus, the model's size, the loggers) on
    the way."""
    trackers = _trackers(r, registry, world, loggers)
    rng = seed_everything(r.seed)
    engine_rng = np.random.default_rng([r.seed, 1])  # dropout masks: apart from the sampler's draws
    backend, cell = r.backend.build(), r.model.build()
    backend.check(r.model.core, cell)
    sampler = r.sampler.build()
    check_distributable(backend, sampler, r, world.size)
    corpus = r.dataset.build().load(Path(data_dir) if data_dir else None)
    _check_corpus(corpus, r, sampler)
    r.trainer.build().check(corpus, r)
    stop = r.predict.core.stop
    if corpus.task == "next_token" and stop is not None and stop not in corpus.vocab.index:
        level = "a character" if corpus.vocab.level == "char" else "a word"
        raise UsageError(
            f"predict.stop: {stop!r} is not a token of dataset '{r.dataset.name}' (its tokens are each {level}); "
            "give a single token of its vocabulary, or null"
        )
    if world.size > 1:
        sampler = ShardedSampler(sampler, world)
    _check_size(r, len(corpus.vocab), backend.device)
    try:
        model = build_model(r, len(corpus.vocab), cell).to(backend.device)
    except (MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        m = r.model.core
        raise UsageError(
            f"model: not enough memory for hidden_size {m.hidden_size} × layers {m.layers} with a vocabulary of "
            f"{len(corpus.vocab)}; choose a smaller model.hidden_size or model.layers"
        ) from None
    return _Setup(r, rng, engine_rng, backend, sampler, corpus, model, r.predict.build(), trackers)


@contextlib.contextmanager
def _memory_errors(run_dir: RunDir, world: World) -> Iterator[None]:
    """Turn running out of memory mid-training into one line: the run directory, its last checkpoint, and what to
    lower."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        store = run_dir.checkpoints
        then = (
            f"; or free memory and continue from its last checkpoint ({store.dir}) with  "
            f"{_resume_command(run_dir, world)}"
            if store.exists()
            else " (it had written no checkpoint yet)"
        )
        error = RunError(
            f"out of memory while training the run in {run_dir.path}; lower sampler.batch_size, "
            f"sampler.num_steps or model.hidden_size and start again with --overwrite{then}"
        )
        if world.rank > 0:
            error.report_rank = world.rank  # type: ignore[attr-defined]  # this process's own failure: it reports it
        raise error from None


def _train(
    s: _Setup, run_dir: RunDir, progress: bool, resumed: Checkpoint | None, world: World, keep_checkpoint: bool
) -> RunResult:
    """Train (from scratch, or on from ``resumed``) and write the run directory (rank 0, which holds its lock).

    A disk error or running out of memory ends the run in one line that names the path and says what to do.
    """
    with run_dir.disk_errors(started=True), _memory_errors(run_dir, world):
        return _train_and_write(s, run_dir, progress, resumed, world, keep_checkpoint)


def _train_and_write(
    s: _Setup, run_dir: RunDir, progress: bool, resumed: Checkpoint | None, world: World, keep_checkpoint: bool
) -> RunResult:
    """:func:`_train`'s work, inside its translation of disk and memory errors; without ``keep_checkpoint``, the
    finished run's checkpoint goes once its weights are saved (a run stopped earlier keeps it, to resume)."""
    r = s.recipe
    writes = world.main
    if writes:
        run_dir.sweep()  # temporaries left by a killed run; we hold the lock, so no one is writing them
    resolved = r.to_dict()
    fingerprint = corpus_fingerprint(s.corpus)
    metrics: list[dict[str, Any]] = []
    samples: list[str] = []
    trackers = s.trackers
    if resumed is not None:
        metrics, samples = resumed.state["run"]["metrics"], resumed.state["run"]["samples"]
        restore_rng(resumed.state["run"]["rng"], resumed.tensors, {"engine": s.engine_rng})
        for name, setter in (("rng.torch.ranks", torch.set_rng_state), ("rng.cuda.ranks", torch.cuda.set_rng_state)):
            ranks = resumed.tensors.get(name)
            if (
                ranks is not None and len(ranks) == world.size
            ):  # on another number of processes, rank 0's stands for all
                setter(ranks[world.rank].clone())  # a row of its own: torch reads a view's storage from its start
    elif writes:
        run_dir.write_recipe(r.name, resolved)

    def write_samples() -> None:
        if writes:
            run_dir.write_samples(samples)

    def on_epoch(rec: dict[str, Any]) -> None:
        metrics.append(rec)
        trackers.log(rec)

    def on_samples(epoch: int, lines: list[str]) -> None:
        samples.append(f"epoch {epoch}\n" + "".join(f"{line}\n" for line in lines))
        write_samples()
        trackers.samples(epoch, lines)

    def collect() -> Checkpoint:  # on every process: a distributed run saves each one's torch generators
        rng_state, rng_tensors = capture_rng({"engine": s.engine_rng}, all_devices=world.size == 1)
        if world.size > 1:  # dropout masks (and rank 0's samples) move them apart
            rng_tensors["rng.torch.ranks"] = world.stack(torch.get_rng_state())
            if s.model.device.type == "cuda":
                rng_tensors["rng.cuda.ranks"] = world.stack(torch.cuda.get_rng_state())
        state = {"recipe": resolved, "corpus": fingerprint, "metrics": metrics, "samples": samples, "rng": rng_state}
        if writes:
            state["loggers"] = trackers.state_dict()
        return Checkpoint({"run": state}, rng_tensors)

    write_samples()
    # a resumed run's loggers drop what they were given after its checkpoint: it is computed again, identically
    saved, at = None, None
    if resumed is not None:  # a checkpoint from before zoo had loggers: its records' last step
        saved = resumed.state["run"].get("loggers")
        at = saved["steps"] if saved else (metrics[-1]["steps"] if metrics else 0)
    with trackers.running(RunStart(r.name, run_dir.path, resolved, at, list(metrics)), saved) as outcome:
        result = _fit(s, run_dir, progress, resumed, world, keep_checkpoint, collect, on_epoch, on_samples)
        outcome.metrics = result.saved
        outcome.files = {role: run_dir.path / name for role, name in _FILES.items() if (run_dir.path / name).is_file()}
    return result


def _fit(
    s: _Setup,
    run_dir: RunDir,
    progress: bool,
    resumed: Checkpoint | None,
    world: World,
    keep_checkpoint: bool,
    collect: Callable[[], Checkpoint],
    on_epoch: Callable[[dict[str, Any]], None],
    on_samples: Callable[[int, list[str]], None],
) -> RunResult:
    """Train through the trainer, then write the plot and the weights (rank 0); ``collect`` gives what a checkpoint
    holds of the runner's, ``on_epoch``, ``on_samples`` and the loggers' ``batch`` take what the trainer reports."""
    r, writes = s.recipe, world.main
    with InterruptGuard(quiet=not world.main) as guard:
        checkpoints = Checkpoints(run_dir.checkpoints, collect, resumed, lambda: guard.requested, writes=writes)

        def session(settings: TrainSettings, **kwargs: Any) -> Session:
            return Session(ctx, checkpoints, s.engine_rng, settings, **kwargs)

        ctx = TrainContext(
            model=s.model,
            corpus=s.corpus,
            sampler=s.sampler,
            backend=s.backend,
            predictor=s.predictor,
            recipe=r,
            rng=s.rng,
            world=world,
            session=session,
            on_epoch=on_epoch,
            on_samples=on_samples,
            progress=progress and world.main,
            on_batch=s.trackers.batch,
        )
        try:
            records = r.trainer.build().fit(ctx)
        except Interrupted as exc:
            raise Interrupted(f"{exc}; continue with  {_resume_command(run_dir, world)}") from None

    kept = ctx.kept or (records[-1] if records else {})  # the record of the weights the model holds
    resolved = r.to_dict()
    final = {
        k: kept[k] for k in ("epoch", "batch", "loss", "perplexity", "valid_loss", "valid_perplexity") if k in kept
    }
    if writes:
        if records:
            run_dir.write_plot(_figure(records, f"{r.name}: {r.model.core.cell} ({r.model.core.impl})"))
        run_dir.save_weights(
            s.model.state_dict(), vocab=s.corpus.vocab, recipe=resolved, metrics=final, versions=versions()
        )
        if not keep_checkpoint:
            run_dir.checkpoints.clear()
    return RunResult(run_dir.path, r, records, final)


def _resume_command(run_dir: RunDir, world: World) -> str:
    """The command that continues this run: under ``zoo run --nproc``, on as many processes; under torchrun, through it
    again."""
    if world.size == 1:
        return f"zoo run --resume {run_dir.path}"
    if os.environ.get(LAUNCHED):
        return f"zoo run --resume {run_dir.path} --nproc {world.size}"
    return f"torchrun ... -m zoo run --resume {run_dir.path} (the same torchrun options as this run)"


def run(
    recipe: str | Path | dict[str, Any],
    overrides: dict[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
    keep_checkpoint: bool = True,
    registry: Registry | None = None,
    loggers: Mapping[str, Logger] | None = None,
) -> RunResult:
    """Train a recipe and write its run directory.

    :param recipe: a recipe path, the name of a catalog entry (its recipe: ``zoo.run("jay_gru")``), or an already-loaded
        recipe mapping.
    :param overrides: dotted keys to override, e.g. ``{"trainer.epochs": 5}``.
    :param out: the run directory (default ``runs/<name>``).
    :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).
    :param seed: overrides the recipe's seed.
    :param progress: draw a progress bar (or plain lines when not on a terminal).
    :param overwrite: replace a run already in ``out`` (otherwise refused, finished or not); a folder zoo did not make
        is refused either way (see :mod:`zoo.train.rundir`).
    :param keep_checkpoint: keep the finished run's ``checkpoint/`` (``False``: remove it once the weights are saved;
        a run stopped before the end keeps it either way, so that :func:`resume` continues it).
    :param loggers: loggers by name (:class:`~zoo.interfaces.Logger` instances) besides those the recipe names; they
        are not part of the recipe, so pass them to :func:`resume` again.
    :returns: the run directory, the resolved recipe and the metrics.
    :raises Interrupted: on SIGINT/SIGTERM, after writing a checkpoint that :func:`resume` continues.
    :raises RunError: when the disk fills or memory runs out mid-run, naming the path and what to do.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process calls this with the same
    arguments; they join one process group (see :mod:`zoo.train.distributed`), train data-parallel, and rank 0
    alone writes ``out``, which other machines need not see.
    """
    registry = registry or get_registry()
    r = prepare(recipe, registry, overrides, seed)
    run_dir = RunDir(out if out is not None else default_dir(r.name))
    with joined() as world, contextlib.ExitStack() as held:

        def check_then_setup() -> _Setup:
            if (
                world.main
            ):  # reading only: a path no folder can take, or a folder zoo did not make, is refused before building
                with run_dir.disk_errors():
                    run_dir.check_path("--out" if out is not None else "name")
                    run_dir.refuse_strangers()
            return _setup(r, data_dir, world, registry, loggers or {})

        setup = world.settle(check_then_setup)

        def claim() -> None:
            if world.main:  # rank 0 alone locks and writes the run directory
                with run_dir.disk_errors():
                    held.enter_context(run_dir.lock)
                    run_dir.claim(overwrite)

        world.settle(claim)
        return _train(setup, run_dir, progress, None, world, keep_checkpoint)


def resume(
    run_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    progress: bool = False,
    keep_checkpoint: bool = True,
    registry: Registry | None = None,
    loggers: Mapping[str, Logger] | None = None,
) -> RunResult:
    """Continue an interrupted run from its last checkpoint; the result equals, bit for bit, an uninterrupted run's.

    :param run_dir: the run directory of the interrupted run.
    :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).
    :param keep_checkpoint: as for :func:`run`: ``False`` removes the checkpoint once the run has finished.
    :param loggers: as for :func:`run`.

    Under ``torchrun`` every process calls this; rank 0 reads the checkpoint and sends it to the others.
    """
    folder = RunDir(run_dir)
    registry = registry or get_registry()
    with joined() as world, contextlib.ExitStack() as held:

        def load() -> Checkpoint | None:
            if not world.main:
                return None
            if not folder.path.is_dir():
                raise UsageError(f"run directory {folder.path} not found; pass the folder an interrupted zoo run wrote")
            folder.refuse_strangers()  # reading only: no .lock is made in a folder zoo did not make
            held.enter_context(folder.lock)
            ckpt = folder.last_checkpoint()
            try:
                check_run_state(ckpt.state, ckpt.tensors)  # the trainer's part: by its session, before it is restored
            except Damage as exc:
                raise folder.checkpoints.damaged(str(exc)) from None
            return ckpt

        # rank 0 reads the checkpoint and sends it to the others: their machines need not see the run directory
        ckpt = world.settle(load)
        if world.size > 1:
            ckpt = decode(world.broadcast(encode(ckpt) if ckpt is not None else None))
        assert ckpt is not None
        state = ckpt.state["run"]

        def setup() -> _Setup:
            try:
                r = prepare(state["recipe"], registry)
            except RecipeError as exc:  # edited in checkpoint.json, or no longer valid in this version of zoo
                raise folder.checkpoints.damaged(f"its recipe does not validate: {exc}") from None
            s = _setup(r, data_dir, world, registry, loggers or {})
            if corpus_fingerprint(s.corpus) != state["corpus"]:
                raise UsageError(
                    f"the corpus of dataset '{s.recipe.dataset.name}' differs from the one the checkpoint "
                    f"in {folder.checkpoints.dir} was trained on (was its file changed?); restore it, or "
                    "start afresh with --overwrite"
                )
            return s

        return _train(world.settle(setup), folder, progress, ckpt, world, keep_checkpoint)
