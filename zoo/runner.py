"""The runner: turns a recipe into a run directory with weights, metrics, samples and a plot."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from .atomic import atomic_path, sweep_temporaries, write_text
from .checkpoint import Checkpoint, Checkpoints, CheckpointStore, decode, encode
from .distributed import LAUNCHED, ShardedSampler, World, check_distributable, joined
from .errors import Interrupted, UsageError
from .interfaces import Corpus, TrainContext
from .interrupt import InterruptGuard
from .model import LanguageModel
from .recipe import Recipe, prepare
from .registry import Registry, get_registry
from .rngstate import capture_rng, restore_rng
from .runlock import RunLock
from .weights import save_weights

__all__ = ["RunResult", "run", "resume", "build_model", "seed_everything", "BidirectionalWarning"]


@dataclasses.dataclass
class RunResult:
    """What a finished run produced: its directory, resolved recipe and per-epoch metrics."""

    run_dir: Path
    recipe: Recipe
    metrics: list[dict[str, Any]]

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


def build_model(recipe: Recipe, vocab_size: int) -> LanguageModel:
    """Assemble the language model a recipe's ``model`` section describes."""
    m = recipe.model
    return LanguageModel(m.cls(m.options), m.core, vocab_size)


class BidirectionalWarning(UserWarning):
    """A bidirectional stack trained to predict the next token: it sees the answer."""


def _check_corpus(corpus: Corpus, recipe: Recipe, sampler: Any) -> None:
    if sampler.task != corpus.task:
        fix = "sampler: pairs" if corpus.task == "labelling" else "sampler: sequential or random"
        raise UsageError(f"sampler.name: '{recipe.sampler.name}' serves {sampler.task} corpora, but dataset "
                         f"'{recipe.dataset.name}' is a {corpus.task} corpus; use {fix}")
    if sampler.num_batches(corpus) == 0:
        sizes = ", ".join(f"sampler.{k}={v}" for k, v in dataclasses.asdict(recipe.sampler.options).items() if isinstance(v, int) and not isinstance(v, bool))
        raise UsageError(f"dataset '{recipe.dataset.name}' ({len(corpus.train)} training tokens) is shorter than one batch "
                         f"({sizes}); lower them or use a longer corpus")
    if corpus.task == "next_token":
        for i, prefix in enumerate(recipe.predict.core.prefixes):
            try:
                corpus.vocab.encode(prefix)
            except UsageError as exc:
                raise UsageError(f"predict.prefixes[{i}]: {prefix!r}: {exc}") from None
    if recipe.model.core.bidirectional and corpus.task == "next_token":
        warnings.warn(
            "model.bidirectional: a bidirectional stack trained to predict the next token reads that token through its "
            "backward direction, so its perplexity falls to about 1 while it cannot generate; use it for labelling (pairs) instead",
            BidirectionalWarning, stacklevel=3)


def _plot(path: Path, metrics: list[dict[str, Any]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([m["epoch"] for m in metrics], [m["perplexity"] for m in metrics], marker="." if len(metrics) < 50 else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training perplexity")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def versions() -> dict[str, str]:
    """Versions recorded in the weights' metadata."""
    return {"zoo": __version__, "torch": torch.__version__.split("+")[0]}


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


def _setup(r: Recipe, data_dir: str | Path | None, world: World) -> _Setup:
    rng = seed_everything(r.seed)
    engine_rng = np.random.default_rng([r.seed, 1])  # dropout masks: apart from the sampler's draws
    backend = r.backend.cls(r.backend.options)
    backend.check(r.model.core, r.model.cls(r.model.options))
    sampler = r.sampler.cls(r.sampler.options)
    check_distributable(backend, sampler, r, world.size)
    corpus = r.dataset.cls(r.dataset.options).load(Path(data_dir) if data_dir else None)
    _check_corpus(corpus, r, sampler)
    if world.size > 1:
        sampler = ShardedSampler(sampler, world)
    try:
        model = build_model(r, len(corpus.vocab)).to(backend.device)
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and not any(m in str(exc) for m in ("can't allocate memory", "out of memory")):
            raise
        m = r.model.core
        raise UsageError(f"model: not enough memory for hidden_size {m.hidden_size} × layers {m.layers} with a vocabulary of "
                         f"{len(corpus.vocab)}; choose a smaller model.hidden_size or model.layers") from None
    return _Setup(r, rng, engine_rng, backend, sampler, corpus, model, r.predict.cls(r.predict.options))


_OUTPUTS = ("model.safetensors", "perplexity.png", "metrics.jsonl", "samples.txt", "recipe.yaml")


def _claim(run_dir: Path, overwrite: bool) -> None:
    """Make ``run_dir`` ready for a fresh run, refusing to destroy a run in it unless told to."""
    store = CheckpointStore(run_dir)
    if not overwrite and (run_dir / "model.safetensors").is_file():
        raise UsageError(f"{run_dir} already holds a finished run; pass --overwrite to replace it, or --out DIR to keep it")
    if not overwrite and store.exists():
        raise UsageError(f"{run_dir} holds an unfinished run; continue it with  zoo run --resume {run_dir}  "
                         "or pass --overwrite to start afresh")
    for name in _OUTPUTS:  # the weights first: a directory without them is never taken for a finished run
        (run_dir / name).unlink(missing_ok=True)
    store.clear()


def _train(s: _Setup, run_dir: Path, progress: bool, resumed: Checkpoint | None, world: World) -> RunResult:
    """Train (from scratch, or on from ``resumed``) and write the run directory (rank 0, which holds its lock)."""
    r = s.recipe
    writes = world.main
    if writes:
        for folder in (run_dir, run_dir / "checkpoint"):
            sweep_temporaries(folder)  # left by a killed run; we hold the lock, so no one is writing them
    resolved = r.to_dict()
    fingerprint = corpus_fingerprint(s.corpus)
    metrics: list[dict[str, Any]] = []
    samples: list[str] = []
    if resumed is not None:
        metrics, samples = resumed.state["run"]["metrics"], resumed.state["run"]["samples"]
        restore_rng(resumed.state["run"]["rng"], resumed.tensors, {"engine": s.engine_rng})
        for name, setter in (("rng.torch.ranks", torch.set_rng_state), ("rng.cuda.ranks", torch.cuda.set_rng_state)):
            ranks = resumed.tensors.get(name)
            if ranks is not None and len(ranks) == world.size:  # on another number of processes, rank 0's stands for all
                setter(ranks[world.rank].clone())  # a row of its own: torch reads a view's storage from its start
    elif writes:
        write_text(run_dir / "recipe.yaml", f"# resolved recipe of run '{r.name}': re-run with  zoo run {run_dir / 'recipe.yaml'}\n"
                   + yaml.safe_dump(resolved, allow_unicode=True, sort_keys=False))

    def write_metrics() -> None:
        if writes:
            write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))

    def write_samples() -> None:
        if writes:
            write_text(run_dir / "samples.txt", "\n".join(samples))

    def on_epoch(rec: dict[str, Any]) -> None:
        metrics.append(rec)
        write_metrics()

    def on_samples(epoch: int, lines: list[str]) -> None:
        samples.append(f"epoch {epoch}\n" + "".join(f"{line}\n" for line in lines))
        write_samples()

    def collect() -> Checkpoint:  # on every process: a distributed run saves each one's torch generators
        rng_state, rng_tensors = capture_rng({"engine": s.engine_rng}, all_devices=world.size == 1)
        if world.size > 1:  # dropout masks (and rank 0's samples) move them apart
            rng_tensors["rng.torch.ranks"] = world.stack(torch.get_rng_state())
            if s.model.device.type == "cuda":
                rng_tensors["rng.cuda.ranks"] = world.stack(torch.cuda.get_rng_state())
        state = {"recipe": resolved, "corpus": fingerprint, "metrics": metrics, "samples": samples, "rng": rng_state}
        return Checkpoint({"run": state}, rng_tensors)

    write_metrics()  # a resumed run drops what came after its checkpoint: it will be computed again, identically
    write_samples()
    with InterruptGuard(quiet=not world.main) as guard:
        checkpoints = Checkpoints(CheckpointStore(run_dir), collect, resumed, lambda: guard.requested, writes=writes)
        ctx = TrainContext(s.model, s.corpus, s.sampler, s.backend, s.predictor, r, s.rng, on_epoch, on_samples, progress and world.main,
                           engine_rng=s.engine_rng, checkpoints=checkpoints, world=world)
        try:
            records = r.trainer.cls(r.trainer.options).fit(ctx)
        except Interrupted as exc:
            raise Interrupted(f"{exc}; continue with  {_resume_command(run_dir, world)}") from None

    if writes:
        if records:
            _plot(run_dir / "perplexity.png", records, f"{r.name}: {r.model.core.cell} ({r.model.core.impl})")
        final = {k: records[-1][k] for k in ("epoch", "loss", "perplexity")} if records else {}
        save_weights(run_dir / "model.safetensors", s.model.state_dict(), vocab=s.corpus.vocab, recipe=resolved, metrics=final, versions=versions())
    return RunResult(run_dir, r, records)


def _resume_command(run_dir: Path, world: World) -> str:
    """The command that continues this run: under ``zoo run --nproc``, on as many processes; under torchrun, through it again."""
    if world.size == 1:
        return f"zoo run --resume {run_dir}"
    if os.environ.get(LAUNCHED):
        return f"zoo run --resume {run_dir} --nproc {world.size}"
    return f"torchrun ... -m zoo run --resume {run_dir} (the same torchrun options as this run)"


def run(
    recipe: str | Path | dict[str, Any],
    overrides: dict[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    progress: bool = False,
    overwrite: bool = False,
    registry: Registry | None = None,
) -> RunResult:
    """Train a recipe and write its run directory.

    :param recipe: a recipe path or an already-loaded recipe mapping.
    :param overrides: dotted keys to override, e.g. ``{"trainer.epochs": 5}``.
    :param out: the run directory (default ``runs/<name>``).
    :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).
    :param seed: overrides the recipe's seed.
    :param progress: draw a progress bar (or plain lines when not on a terminal).
    :param overwrite: replace a run already in ``out`` (otherwise refused, finished or not).
    :returns: the run directory, the resolved recipe and the metrics.
    :raises Interrupted: on SIGINT/SIGTERM, after writing a checkpoint that :func:`resume` continues.

    Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process calls this with the same
    arguments; they join one process group (see :mod:`zoo.distributed`), train data-parallel, and rank 0
    alone writes ``out``, which other machines need not see.
    """
    r = prepare(recipe, registry or get_registry(), overrides, seed)
    run_dir = Path(out) if out is not None else Path("runs") / r.name
    with joined() as world, contextlib.ExitStack() as lock:
        setup = world.settle(lambda: _setup(r, data_dir, world))

        def claim() -> None:
            if world.main:  # rank 0 alone locks and writes the run directory
                lock.enter_context(RunLock(run_dir))
                _claim(run_dir, overwrite)
        world.settle(claim)
        return _train(setup, run_dir, progress, None, world)


def resume(run_dir: str | Path, *, data_dir: str | Path | None = None, progress: bool = False, registry: Registry | None = None) -> RunResult:
    """Continue an interrupted run from its last checkpoint; the result equals, bit for bit, an uninterrupted run's.

    :param run_dir: the run directory of the interrupted run.
    :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).

    Under ``torchrun`` every process calls this; rank 0 reads the checkpoint and sends it to the others.
    """
    run_dir = Path(run_dir)
    with joined() as world, contextlib.ExitStack() as lock:
        def load() -> Checkpoint | None:
            if not world.main:
                return None
            if not run_dir.is_dir():
                raise UsageError(f"run directory {run_dir} not found; pass the folder an interrupted zoo run wrote")
            lock.enter_context(RunLock(run_dir))
            return _load_checkpoint(run_dir)
        # rank 0 reads the checkpoint and sends it to the others: their machines need not see the run directory
        ckpt = world.settle(load)
        if world.size > 1:
            ckpt = decode(world.broadcast(encode(ckpt) if ckpt is not None else None))
        assert ckpt is not None
        state = ckpt.state["run"]

        def setup() -> _Setup:
            s = _setup(prepare(state["recipe"], registry or get_registry()), data_dir, world)
            if corpus_fingerprint(s.corpus) != state["corpus"]:
                raise UsageError(f"the corpus of dataset '{s.recipe.dataset.name}' differs from the one the checkpoint in {run_dir / 'checkpoint'} "
                                 "was trained on (was its file changed?); restore it, or start afresh with --overwrite")
            return s
        return _train(world.settle(setup), run_dir, progress, ckpt, world)


def _load_checkpoint(run_dir: Path) -> Checkpoint:
    """The checkpoint an interrupted run left in ``run_dir``, checked; one clear line when there is none to resume."""
    store = CheckpointStore(run_dir)
    if (run_dir / "model.safetensors").is_file():
        raise UsageError(f"the run in {run_dir} has already finished; nothing to resume (load it with  zoo predict {run_dir})")
    if not store.exists():
        if (run_dir / "recipe.yaml").is_file():
            raise UsageError(f"the run in {run_dir} stopped before its first checkpoint; start it again with  "
                             f"zoo run {run_dir / 'recipe.yaml'} --out {run_dir} --overwrite")
        raise UsageError(f"{run_dir} is not a zoo run directory (it has no checkpoint/); pass the folder an interrupted run wrote")
    ckpt = store.load()
    state = ckpt.state.get("run")
    if not isinstance(state, dict) or not {"recipe", "corpus", "metrics", "samples", "rng"} <= set(state):
        raise UsageError(f"checkpoint in {store.dir} lacks the runner's state; it was not written by this version of zoo")
    return ckpt
