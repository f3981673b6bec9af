"""``zoo data pull``: fetch a dataset's corpus into the cache ahead of time, for a machine that goes offline later."""

from __future__ import annotations

import click

from zoo.cli._complete import dataset_keys, dataset_names
from zoo.hub.corpora import Pulled, pull
from zoo.recipe import parse_overrides
from zoo.units import human_size


@click.group("data", short_help="Fetch corpora into the cache ahead of time.")
def data_command() -> None:
    """Corpora: fetch a dataset's files into the cache ahead of time, for a machine that goes offline later
    (zoo cache list --data shows what the cache holds).

    \b
    Example:
        zoo data pull tinyshakespeare
    """


@data_command.command("pull", short_help="Fetch a dataset's corpus files into the cache.")
@click.argument("name", shell_complete=dataset_names)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    shell_complete=dataset_keys,
    help="An option of the dataset, which otherwise keeps its defaults, e.g. --set level=word (repeatable).",
)
@click.option(
    "--refresh",
    is_flag=True,
    help="Fetch again even when cached; the cached copy is replaced only once the new one passed its checks.",
)
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help=(
        "Folder searched first for the corpus files, whose verified copies are copied into the cache "
        "(default: $ZOO_DATA)."
    ),
)
def data_pull_command(name: str, settings: tuple[str, ...], refresh: bool, data_dir: str | None) -> None:
    """Fetch the corpus files of dataset NAME into the cache ($XDG_CACHE_HOME/zoo), verified by their sha256, so that
    runs find them without the network; one line per file says where it is and how big.

    The dataset is loaded once, to learn which files it reads. A file that the data folder (--data-dir, or ZOO_DATA's)
    holds with the right sha256 is copied into the cache, for runs without it; any other is downloaded. A dataset
    that reads local files only has nothing to pull.

    \b
    Examples:
        zoo data pull tinyshakespeare
        zoo data pull jaychou_lyrics --refresh
        zoo data pull dinos --data-dir ~/corpora     # copy a verified dinos.txt from there, offline
    """
    files = pull(name, parse_overrides(settings), refresh, data_dir)
    if not files:
        click.echo(f"{name}: nothing to download (the dataset fetches no corpus file: it reads local files)")
    for f in files:
        click.echo(_line(name, f))


def _line(name: str, f: Pulled) -> str:
    """``dinos: dinos.txt downloaded to /home/u/.cache/zoo/dinos.txt (19.9 kB)``, or copied, already cached, no
    address."""
    if f.path is None:
        return (
            f"{name}: {f.relpath}: nothing to download (it has no download address; zoo reads it from --data-dir "
            "or ZOO_DATA)"
        )
    if f.downloaded:
        return f"{name}: {f.relpath} downloaded to {f.path} ({human_size(f.bytes)})"
    if f.copied_from is not None:
        return f"{name}: {f.relpath} copied from {f.copied_from} to {f.path} ({human_size(f.bytes)})"
    return f"{name}: {f.relpath} already cached at {f.path} ({human_size(f.bytes)}); --refresh fetches it again"
