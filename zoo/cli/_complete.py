"""Shell-completion callbacks (click's ``shell_complete=``): catalog names, run directories, recipe keys, components.

Each callback takes click's ``(ctx, param, incomplete)`` and returns the candidates that start with ``incomplete``.
They only read (the catalog, the folders under ``runs/``, the registry), and a failure of any kind (a broken
catalog, an unreadable folder) gives no candidates from that source: completion must never print an error into
the shell. A leading ``file`` or ``dir`` item lets the shell complete paths itself when nothing else matches.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

from zoo.hub.catalog import read_catalog
from zoo.options import describe
from zoo.reference import recipe_keys
from zoo.registry import get_registry

__all__ = [
    "catalog_names",
    "model_refs",
    "recipe_refs",
    "runs",
    "recipe_set_keys",
    "dataset_names",
    "dataset_keys",
    "backend_names",
]

Callback = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _quiet(fn: Callable[[click.Context, str], list[CompletionItem]]) -> Callback:
    """``fn`` as a click callback that offers nothing instead of raising."""

    @functools.wraps(fn)
    def callback(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        return _safe(lambda: fn(ctx, incomplete))

    return callback


def _safe(source: Callable[[], list[CompletionItem]]) -> list[CompletionItem]:
    """The candidates of ``source``, or none when it fails."""
    try:
        return source()
    except Exception:  # completion runs inside the user's shell: no candidates beat a traceback there
        return []


def _catalog(incomplete: str) -> list[CompletionItem]:
    """Catalog names starting with ``incomplete``, with their descriptions (zsh and fish show them)."""
    return [
        CompletionItem(name, help=str(entry.get("description") or "") or None)
        for name, entry in sorted(read_catalog().items())
        if name.startswith(incomplete)
    ]


def _in_state(run: Path, kind: str) -> bool:
    """Whether the folder ``run`` is a run in the state ``kind`` (see :func:`runs`, and ``zoo.train.rundir.state``)."""
    from zoo.train import rundir  # imports torch: only when run directories are completed
    from zoo.train.checkpoint import CheckpointStore

    state = rundir.state(run)
    if kind == "prunable":
        return state == "finished" and CheckpointStore(run).dir.is_dir()
    return state != "none" if kind == "any" else state == kind


def _runs(incomplete: str, kind: str) -> list[CompletionItem]:
    """The folders ``runs/NAME`` in the state ``kind`` (see :func:`runs`) that start with ``incomplete``."""
    from zoo.train import rundir

    with os.scandir(rundir.RUNS) as entries:
        found = sorted((rundir.RUNS / e.name).as_posix() for e in entries if e.is_dir())
    return [CompletionItem(run) for run in found if run.startswith(incomplete) and _in_state(Path(run), kind)]


def _with_paths(kind: str, incomplete: str, found: list[CompletionItem]) -> list[CompletionItem]:
    """``found``, after an item asking the shell to complete paths (``file`` or ``dir``) itself when none matches."""
    return [CompletionItem(incomplete, type=kind), *found]


@_quiet
def catalog_names(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """Names of the catalog (registry.yaml)."""
    return _catalog(incomplete)


@_quiet
def model_refs(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """What loads as a model: catalog names, finished runs under ``runs/``, and files (``.safetensors``)."""
    return _with_paths(
        "file", incomplete, _safe(lambda: _catalog(incomplete)) + _safe(lambda: _runs(incomplete, "finished"))
    )


@_quiet
def recipe_refs(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """What ``zoo run`` trains: catalog names (their recipes) and recipe files."""
    return _with_paths("file", incomplete, _safe(lambda: _catalog(incomplete)))


def runs(kind: str = "any") -> Callback:
    """A callback offering the run directories under ``runs/`` in one state, and any folder when none matches.

    :param kind: ``finished`` (weights saved), ``stopped`` (resumable), ``prunable`` (finished, with a checkpoint), or
        ``any`` of these.
    """

    @_quiet
    def callback(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        return _with_paths("dir", incomplete, _safe(lambda: _runs(incomplete, kind)))

    return callback


def _keys(keys: list[str], incomplete: str) -> list[CompletionItem]:
    """``KEY=`` for each key that starts with ``incomplete``; nothing once the ``=`` is typed (values are free)."""
    return [] if "=" in incomplete else [CompletionItem(f"{key}=") for key in keys if key.startswith(incomplete)]


@_quiet
def recipe_set_keys(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """``--set`` keys of a recipe (:func:`zoo.reference.recipe_keys`): ``trainer.l`` gives ``trainer.lr=``."""
    return _keys(recipe_keys(), incomplete)


@_quiet
def dataset_keys(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """``--set`` keys of a dataset's options (``path=``): of the dataset the command names (``--dataset`` or NAME),
    else of every registered one."""
    reg = get_registry()
    chosen = ctx.params.get("dataset") or ctx.params.get("name")
    names = [chosen] if chosen in reg.names("dataset") else reg.names("dataset")
    return _keys(sorted({o.name for name in names for o in describe(reg.get("dataset", name).Options)}), incomplete)


def _registered(kind: str, incomplete: str) -> list[CompletionItem]:
    return [CompletionItem(name) for name in get_registry().names(kind) if name.startswith(incomplete)]


@_quiet
def dataset_names(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """Registered dataset names."""
    return _registered("dataset", incomplete)


@_quiet
def backend_names(ctx: click.Context, incomplete: str) -> list[CompletionItem]:
    """Registered backend names."""
    return _registered("backend", incomplete)
