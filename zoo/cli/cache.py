"""``zoo cache list`` and ``zoo cache clear``: the downloaded weights (models) and corpora (data), and their sizes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from zoo.cli.output import echo_json
from zoo.units import human_size

if TYPE_CHECKING:
    from zoo.hub.caches import Cache


def _which(models: bool, data: bool) -> list[Cache]:
    """The caches chosen by --models and --data (both when neither is given)."""
    from zoo.hub.caches import CACHES, scan

    chosen = {"models": models, "data": data}
    return [scan(name) for name in CACHES if chosen[name] or not any(chosen.values())]


def _selection(f: Callable[..., None]) -> Callable[..., None]:
    """The --models and --data flags both subcommands take."""
    f = click.option(
        "--data", is_flag=True, help="Only the corpora (files zoo data pull and the datasets downloaded)."
    )(f)
    return click.option("--models", is_flag=True, help="Only the weights (files zoo pull and zoo.load downloaded).")(f)


def _count(n: int) -> str:
    return f"{n} file{'' if n == 1 else 's'}"


@click.group("cache", short_help="Show and empty the caches of downloaded weights and corpora.")
def cache_command() -> None:
    """zoo's caches under $XDG_CACHE_HOME/zoo (default ~/.cache/zoo): the weights zoo pull and zoo.load downloaded
    (models, in its models/ folder) and the corpora the datasets and zoo data pull downloaded (data, the rest).

    \b
    Examples:
        zoo cache list
        zoo cache clear --models --yes
    """


@cache_command.command("list", short_help="Show the cached files and their sizes.")
@_selection
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list: one object per cache (cache, path, bytes, files: [{path, bytes}]).",
)
def list_command(models: bool, data: bool, as_json: bool) -> None:
    """Show what the caches hold: each file and its size, and each cache's total.

    \b
    Examples:
        zoo cache list
        zoo cache list --models --json
    """
    caches = _which(models, data)
    if as_json:
        echo_json(
            [
                {
                    "cache": c.name,
                    "path": str(c.root),
                    "bytes": c.bytes,
                    "files": [{"path": f.path, "bytes": f.bytes} for f in c.files],
                }
                for c in caches
            ]
        )
        return
    for c in caches:
        click.echo(
            f"{c.name} cache, {c.root}: " + (f"{_count(len(c.files))}, {human_size(c.bytes)}" if c.files else "empty")
        )
        for f in c.files:
            click.echo(f"  {human_size(f.bytes):>9}  {f.path}")


@cache_command.command("clear", short_help="Remove the cached files (asks first on a terminal).")
@_selection
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation (it is asked only on a terminal).")
def clear_command(models: bool, data: bool, yes: bool) -> None:
    """Empty the caches: remove the files zoo downloaded (they are downloaded again when needed).

    Only regular files go: a symbolic link is left as it is and never followed, and a file a download is writing
    right now is kept, with a note.

    \b
    Examples:
        zoo cache clear --data
        zoo cache clear --yes
    """
    from zoo.hub.caches import clear

    caches = [c for c in _which(models, data) if c.files or c.links]
    if not caches:
        click.echo("nothing to remove: the caches are empty")
        return
    files, size = sum(len(c.files) for c in caches), sum(c.bytes for c in caches)
    names = " and ".join(c.name for c in caches)
    question = f"Remove {_count(files)} ({human_size(size)}) from the {names} cache{'s' if len(caches) > 1 else ''}?"
    if not yes and sys.stdin.isatty() and not click.confirm(question, default=False):
        click.echo("nothing removed")
        return
    for c in caches:
        done = clear(c)
        click.echo(f"{c.name} cache, {c.root}: removed {_count(done.removed)} ({human_size(done.bytes)})")
        for path, why in done.kept:
            click.echo(f"  kept {path}: {why}")
