"""The runner: turns a recipe into a run directory with weights, metrics, samples and a plot."""

from __future__ import annotations

import dataclasses
import json
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from . import __version__
from .atomic import atomic_path, write_text
from .errors import UsageError
from .interfaces import Corpus, TrainContext
from .model import LanguageModel
from .recipe import Recipe, prepare
from .registry import Registry, get_registry
from .weights import save_weights

__all__ = ["RunResult", "run", "build_model", "seed_everything", "BidirectionalWarning"]


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


def run(
    recipe: str | Path | dict[str, Any],
    overrides: dict[str, Any] | None = None,
    *,
    out: str | Path | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    progress: bool = False,
    registry: Registry | None = None,
) -> RunResult:
    """Train a recipe and write its run directory.

    :param recipe: a recipe path or an already-loaded recipe mapping.
    :param overrides: dotted keys to override, e.g. ``{"trainer.epochs": 5}``.
    :param out: the run directory (default ``runs/<name>``).
    :param data_dir: a folder searched first for corpus files (else ``ZOO_DATA``).
    :param seed: overrides the recipe's seed.
    :param progress: draw a progress bar (or plain lines when not on a terminal).
    :returns: the run directory, the resolved recipe and the metrics.
    """
    registry = registry or get_registry()
    r = prepare(recipe, registry, overrides, seed)
    run_dir = Path(out) if out is not None else Path("runs") / r.name
    rng = seed_everything(r.seed)

    backend = r.backend.cls(r.backend.options)
    backend.check(r.model.core, r.model.cls(r.model.options))
    sampler = r.sampler.cls(r.sampler.options)
    corpus = r.dataset.cls(r.dataset.options).load(Path(data_dir) if data_dir else None)
    _check_corpus(corpus, r, sampler)
    model = build_model(r, len(corpus.vocab)).to(backend.device)
    predictor = r.predict.cls(r.predict.options)

    resolved = r.to_dict()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "recipe.yaml", f"# resolved recipe of run '{r.name}': re-run with  zoo run {run_dir / 'recipe.yaml'}\n"
               + yaml.safe_dump(resolved, allow_unicode=True, sort_keys=False))
    metrics: list[dict[str, Any]] = []
    samples: list[str] = []

    def on_epoch(rec: dict[str, Any]) -> None:
        metrics.append(rec)
        write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))

    def on_samples(epoch: int, lines: list[str]) -> None:
        samples.append(f"epoch {epoch}\n" + "".join(f"{line}\n" for line in lines))
        write_text(run_dir / "samples.txt", "\n".join(samples))

    write_text(run_dir / "metrics.jsonl", "")
    write_text(run_dir / "samples.txt", "")
    ctx = TrainContext(model, corpus, sampler, backend, predictor, r, rng, on_epoch, on_samples, progress)
    records = r.trainer.cls(r.trainer.options).fit(ctx)

    final = {k: records[-1][k] for k in ("epoch", "loss", "perplexity")} if records else {}
    save_weights(run_dir / "model.safetensors", model.state_dict(), vocab=corpus.vocab, recipe=resolved, metrics=final, versions=versions())
    if records:
        _plot(run_dir / "perplexity.png", records, f"{r.name}: {r.model.core.cell} ({r.model.core.impl})")
    return RunResult(run_dir, r, records)
