"""Finding corpus files: the data directory, then the cache, then a verified download (:mod:`zoo.hub.download`)."""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from zoo.errors import UsageError
from zoo.hub.download import check_sha256, download, inside, sweep_download

__all__ = ["cache_dir", "data_dir_from_env", "sha256_of", "fetch", "observing_fetches"]

# Called with (relpath, url, sha256) at each fetch inside ``observing_fetches``: how ``zoo data pull`` learns what a
# dataset reads.
_observer: contextvars.ContextVar[Callable[[str, str | None, str | None], None] | None] = contextvars.ContextVar(
    "zoo_fetch_observer", default=None
)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/zoo``, by default ``~/.cache/zoo``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zoo"


def data_dir_from_env() -> Path | None:
    """The folder named by ``ZOO_DATA``, if set."""
    value = os.environ.get("ZOO_DATA")
    return Path(value) if value else None


def sha256_of(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(relpath: str, url: str | None, sha256: str | None, data_dir: Path | None = None) -> Path:
    """Find a corpus file: ``data_dir`` (or ``ZOO_DATA``), then the cache, then download it.

    :param relpath: the file's path inside a data folder, e.g. ``ptb/ptb.valid.txt``; it may not leave the folder.
    :param url: its canonical download address (``None``: never download).
    :param sha256: the expected hash (64 hex digits); a cached or downloaded file that differs is refused.
    :raises UsageError: one line saying where it looked and what to do.
    """
    if sha256 is not None:
        sha256 = check_sha256(sha256, f"corpus file {relpath}")
    observe = _observer.get()
    if observe is not None:
        observe(relpath, url, sha256)
    cached = inside(cache_dir() / relpath, cache_dir(), "corpus file")
    folder = data_dir or data_dir_from_env()
    if folder is not None and (Path(folder) / relpath).is_file():
        return Path(folder) / relpath
    sweep_download(cached)
    if cached.is_file() and (sha256 is None or sha256_of(cached) == sha256):
        return cached
    if url is None:
        where = f"{folder}/{relpath}, " if folder else ""
        raise UsageError(
            f"corpus file {relpath} not found (looked in {where}{cached}); "
            "pass --data-dir or set ZOO_DATA to a folder that holds it"
        )
    return download(url, cached, sha256)


@contextlib.contextmanager
def observing_fetches(observe: Callable[[str, str | None, str | None], None]) -> Iterator[None]:
    """Call ``observe(relpath, url, sha256)`` at each :func:`fetch` made inside the block (in this thread or task),
    before the file is looked for: a dataset names its files only as it loads, and this is how a caller learns them."""
    token = _observer.set(observe)
    try:
        yield
    finally:
        _observer.reset(token)
