"""One row per run directory: its state, its model, how far it trained and how well (``zoo runs``).

A run's state is read from what it left: ``running`` while a process holds its lock
(:class:`~zoo.train.runlock.RunLock`, with that process's pid), ``finished`` once its weights are saved,
``interrupted`` with a checkpoint that ``zoo run --resume`` continues, ``empty`` when it stopped before its first
checkpoint (``zoo run --overwrite`` starts it again), and ``damaged`` when its recipe or metrics cannot be read as a
run writes them (the row says why).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from zoo.errors import UsageError
from zoo.train import rundir
from zoo.train.runlock import RunLock
from zoo.yamlfile import load_yaml

__all__ = [
    "STATES",
    "SORT_KEYS",
    "RunSummary",
    "best",
    "find_runs",
    "summarize",
    "describe",
    "sort_runs",
    "read_recipe",
]

STATES = ("finished", "interrupted", "running", "empty", "damaged")

# --sort KEY: how each key orders the rows (True: highest first); a row without the value comes last
SORT_KEYS = {
    "name": False,
    "state": False,
    "epochs": True,
    "perplexity": False,
    "valid_loss": False,
    "tokens_per_s": True,
    "seconds": False,
}


@dataclasses.dataclass
class RunSummary:
    """What ``zoo runs`` shows of one run directory (``None`` where the run has not recorded it)."""

    path: str
    state: str  # one of STATES
    pid: int | None = None  # the process writing it, while running
    recipe: str | None = None  # the recipe's name
    cell: str | None = None
    impl: str | None = None
    layers: int | None = None
    hidden: int | None = None
    epochs: int = 0  # epochs finished
    perplexity: float | None = None  # training perplexity of the last epoch
    valid_loss: float | None = None  # the lowest validation loss, nats per token ...
    valid_epoch: int | None = None  # ... and the epoch it was reached in
    tokens_per_s: float | None = None  # training tokens over training seconds, every epoch together
    seconds: float | None = None  # training and validation time, summed over the epochs (no start-up, no writes)
    problem: str | None = None  # why a damaged run is damaged

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data (``zoo runs --json``)."""
        return dataclasses.asdict(self)


def read_recipe(run_dir: Path) -> dict[str, Any]:
    """The resolved recipe a run wrote (``recipe.yaml``); ``{}`` when it wrote none.

    :raises UsageError: for a file no run writes: not UTF-8, not YAML, or not a mapping.
    """
    where = Path(run_dir) / "recipe.yaml"
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {where} ({exc}); restore it, or train the run again") from None
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:  # a duplicate key included
        raise UsageError(f"{where} is not the YAML a run writes ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where} is not a mapping of recipe sections, as a run writes it")
    return data


def _section(recipe: dict[str, Any], key: str) -> dict[str, Any]:
    value = recipe.get(key)
    return value if isinstance(value, dict) else {}


def best(records: list[dict[str, Any]], key: str) -> dict[str, Any] | None:
    """The lowest ``key`` among ``records`` and the epoch it was reached in (the first such, on a tie), as
    ``{"value", "epoch"}``; ``None`` when no record holds it."""
    found = [r for r in records if isinstance(r.get(key), (int, float))]
    if not found:
        return None
    low = min(found, key=lambda r: r[key])
    return {"value": low[key], "epoch": low["epoch"]}


def summarize(run_dir: str | Path) -> RunSummary:
    """The row of one run directory (see the module docstring for its state)."""
    path = Path(run_dir)
    try:
        recipe = read_recipe(path)
        records = rundir.read_metrics(path)
    except UsageError as exc:
        return RunSummary(str(path), "damaged", problem=str(exc))
    return describe(path, recipe, records)


def describe(path: Path, recipe: dict[str, Any], records: list[dict[str, Any]]) -> RunSummary:
    """The row of the run directory ``path`` from its recipe and metrics records, already read."""
    holder = RunLock(path).holder()
    if holder is not None:
        state = "running"
    else:
        state = {"finished": "finished", "stopped": "interrupted"}.get(rundir.state(path), "empty")
    model = _section(recipe, "model")
    row = RunSummary(
        str(path),
        state,
        pid=int(holder) if holder and holder.isdigit() else None,
        recipe=recipe.get("name"),
        cell=model.get("cell"),
        impl=model.get("impl"),
        layers=model.get("layers"),
        hidden=model.get("hidden_size"),
    )
    epochs = [r for r in records if "loss" in r]
    if epochs:
        row.epochs, row.perplexity = epochs[-1]["epoch"], epochs[-1]["perplexity"]
        seconds = [r.get("seconds") or 0.0 for r in epochs]
        tokens = sum((r.get("tokens_per_s") or 0.0) * s for r, s in zip(epochs, seconds))
        row.tokens_per_s = tokens / sum(seconds) if sum(seconds) > 0 else None
        row.seconds = sum(seconds) + sum(r.get("valid_seconds") or 0.0 for r in records)
    valid = best(records, "valid_loss")
    if valid is not None:
        row.valid_loss, row.valid_epoch = valid["value"], valid["epoch"]
    return row


def find_runs(folders: Iterable[str | Path]) -> list[Path]:
    """The run directories in ``folders``: each folder that is a run itself, else the runs anywhere below it (a run's
    own folders are not searched), in path order.

    :raises UsageError: for a folder that does not exist.
    """
    found: list[Path] = []
    for folder in map(Path, folders):
        if not folder.is_dir():
            what = "is not a folder" if folder.exists() else "not found"
            raise UsageError(f"{folder} {what}; pass the folders that hold run directories (default: runs)")
        for where, subfolders, _ in os.walk(folder):
            if rundir.is_run(Path(where)):
                found.append(Path(where))
                subfolders.clear()
            else:
                subfolders.sort()
    return sorted(dict.fromkeys(found))


def sort_runs(rows: list[RunSummary], key: str) -> list[RunSummary]:
    """``rows`` ordered by ``key`` (one of :data:`SORT_KEYS`), rows without it last."""
    descending = SORT_KEYS[key]

    def order(row: RunSummary) -> tuple[bool, Any]:
        value = row.path if key == "name" else getattr(row, key)
        if value is None:
            return True, 0
        return False, (-value if descending and not isinstance(value, str) else value)

    return sorted(rows, key=order)
