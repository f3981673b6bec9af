"""Runs side by side: the recipe keys whose values differ, the best metrics with their epochs, the samples of the last
epoch, and their curves in one figure (``zoo compare``, ``zoo.compare``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path
from zoo.errors import UsageError
from zoo.experiments.summary import best, describe, read_recipe
from zoo.recipe import flatten
from zoo.train import rundir

__all__ = ["METRICS", "compare", "label", "plot"]

METRICS = ("loss", "perplexity", "valid_loss", "valid_perplexity")  # lower is better: each at its best epoch


def compare(runs: Sequence[str | Path]) -> dict[str, Any]:
    """Compare run directories (two or more), as plain data:

    - ``runs``: the directories, as given;
    - ``differs``: each resolved-recipe key (dotted) whose value is not the same in every run, with the value of each
      run in order (``None`` where a run's recipe lacks the key);
    - ``metrics``: for each run, its state, epochs, tokens/s and seconds (as ``zoo runs``), and the lowest ``loss``,
      ``perplexity``, ``valid_loss`` and ``valid_perplexity`` it recorded, each as ``{"value", "epoch"}`` (``None``
      when not recorded);
    - ``samples``: for each run, the last epoch with samples and their lines;
    - ``history``: for each run, every record of its ``metrics.jsonl``.

    :raises UsageError: for fewer than two runs, or one that is no zoo run directory or cannot be read.
    """
    if len(runs) < 2:
        raise UsageError(f"comparing needs at least two run directories, got {len(runs)}")
    paths = [Path(r) for r in runs]
    for path in paths:
        if not rundir.is_run(path):
            what = "not found" if not path.exists() else "is not a zoo run directory"
            raise UsageError(f"{path} {what}; pass run directories, e.g. runs/jay_gru (zoo runs lists them)")
    resolved = [read_recipe(p) for p in paths]
    recipes = [flatten(recipe) for recipe in resolved]
    keys = list(dict.fromkeys(k for recipe in recipes for k in recipe))
    differs = {
        key: [recipe.get(key) for recipe in recipes]
        for key in keys
        if len({json.dumps(recipe.get(key), sort_keys=True, default=str) for recipe in recipes}) > 1
    }
    history = [rundir.read_metrics(p) for p in paths]
    metrics = []
    for path, recipe, records in zip(paths, resolved, history):
        row = describe(path, recipe, records)
        metrics.append(
            {
                "state": row.state,
                "epochs": row.epochs,
                "tokens_per_s": row.tokens_per_s,
                "seconds": row.seconds,
                **{key: best(records, key) for key in METRICS},
            }
        )
    samples = []
    for path in paths:
        epoch, lines = rundir.last_samples(path)
        samples.append({"epoch": epoch, "lines": lines})
    return {
        "runs": [str(p) for p in runs],
        "differs": differs,
        "metrics": metrics,
        "samples": samples,
        "history": history,
    }


def label(comparison: dict[str, Any], i: int) -> str:
    """Run ``i`` of a comparison named by the values that set it apart (``trainer.lr=0.1``), else by its directory."""
    parts = [f"{key}={json.dumps(values[i], default=str)}" for key, values in comparison["differs"].items()]
    return ", ".join(parts) if parts else comparison["runs"][i]


def plot(comparison: dict[str, Any], path: str | Path) -> None:
    """Draw every run's training perplexity (solid) and validation perplexity (dashed) by epoch in one figure, each
    run in its own colour and labelled by :func:`label`, and write it to ``path`` (PNG) atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, records in enumerate(comparison["history"]):
        color = f"C{i % 10}"
        epochs = [r for r in records if "loss" in r]
        valid = [r for r in epochs if "valid_perplexity" in r]
        name = label(comparison, i)
        ax.plot([r["epoch"] for r in epochs], [r["perplexity"] for r in epochs], color=color, label=f"{name} (train)")
        if valid:
            x, y = [r["epoch"] for r in valid], [r["valid_perplexity"] for r in valid]
            ax.plot(x, y, color=color, linestyle="--", label=f"{name} (valid)")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=100)
    finally:
        plt.close(fig)
