"""Corpora ahead of time: put the files a dataset reads into the cache, for a machine that goes offline later.

A dataset names its files only when it loads: it calls :func:`zoo.hub.data.fetch` with each file's path in a data
folder, its download address and its sha256 (see ``plugins/datasets.py``). :func:`pull` loads the dataset once
and observes those calls (:func:`zoo.hub.data.observing_fetches`); at each one, before the dataset looks for the file,
it makes sure the cache holds it, verified: copied from the data folder when that holds a copy with the right
sha256, downloaded otherwise. The dataset then reads the file where it finds it, so nothing is downloaded twice.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import os
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path
from zoo.errors import UsageError
from zoo.hub import data
from zoo.hub.download import download, inside, sweep_download
from zoo.options import bind
from zoo.registry import Registry, get_registry

__all__ = ["Pulled", "pull"]

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Pulled:
    """One file a dataset reads: its path in a data folder, its download address (``None``: it has none), and, when it
    has one, where it is in the cache, its size, and how this pull put it there: ``downloaded`` from the address, or
    ``copied_from`` a data folder's copy (neither: the cache held it already)."""

    relpath: str
    url: str | None
    path: Path | None = None
    bytes: int = 0
    downloaded: bool = False
    copied_from: Path | None = None


def _verified(path: Path, sha256: str | None) -> bool:
    """Whether ``path`` is a file whose sha256 is ``sha256`` (any file, when ``sha256`` is ``None``)."""
    return path.is_file() and (sha256 is None or data.sha256_of(path) == sha256)


def _found(relpath: str, folder: Path | None) -> bool:
    """Whether the data folder or the cache holds ``relpath``."""
    return (folder is not None and (folder / relpath).is_file()) or (data.cache_dir() / relpath).is_file()


def _copy(name: str, source: Path, dest: Path, sha256: str) -> None:
    """Copy ``source`` into the cache at ``dest`` atomically; it is kept only when the copy's sha256 is ``sha256``."""
    sweep_download(dest)
    try:
        with atomic_path(dest) as tmp, open(source, "rb") as src, open(tmp, "wb") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # as a download does: a sweep or zoo cache clear leaves it alone
            h = hashlib.sha256()
            while chunk := src.read(_CHUNK):
                h.update(chunk)
                out.write(chunk)
            if h.hexdigest() != sha256:
                raise UsageError(
                    f"dataset '{name}': {source} has sha256 {h.hexdigest()}, expected {sha256}; refused, nothing "
                    f"cached: put the canonical {dest.name} there, or pull without --data-dir and ZOO_DATA to "
                    "download it"
                )
    except OSError as exc:
        raise UsageError(
            f"dataset '{name}': cannot copy {source} into the cache at {dest} ({exc.strerror or exc}); check that it "
            "is readable and that XDG_CACHE_HOME names a writable folder with free space"
        ) from None


def _pull_file(
    name: str, relpath: str, url: str | None, sha256: str | None, folder: Path | None, refresh: bool
) -> Pulled:
    """Make sure the cache holds one file a dataset fetches (when it has an address), verified; say how it got there."""
    if url is None:
        return Pulled(relpath, None)
    cached = inside(data.cache_dir() / relpath, data.cache_dir(), "corpus file")
    if not refresh and _verified(cached, sha256):
        return Pulled(relpath, url, cached, cached.stat().st_size)
    local = folder / relpath if folder is not None else None
    if local is not None and local.is_file() and sha256 is not None:  # only a copy that its sha256 vouches for
        _copy(name, local, cached, sha256)
        return Pulled(relpath, url, cached, cached.stat().st_size, copied_from=local)
    advice = (
        f"put {relpath} in a folder and pass --data-dir FOLDER: zoo data pull then copies it into the cache"
        if sha256
        else f"{relpath} has no sha256, so zoo data pull cannot copy it from a folder: pass --data-dir "
        "(or set ZOO_DATA) when you use it instead"
    )
    try:
        download(url, cached, sha256, advice=advice)
    except UsageError as exc:
        raise UsageError(f"dataset '{name}': {exc}") from None
    return Pulled(relpath, url, cached, cached.stat().st_size, downloaded=True)


def pull(
    name: str,
    settings: dict[str, Any] | None = None,
    refresh: bool = False,
    data_dir: str | os.PathLike | None = None,
    registry: Registry | None = None,
) -> list[Pulled]:
    """Load dataset ``name`` once and put every file it fetches that has a download address into the cache.

    A file that the data folder holds with the sha256 the dataset gives is copied from there; any other is downloaded.

    :param settings: options of the dataset (the rest keep their defaults), as ``--set`` gives them.
    :param refresh: fetch each file again even when the cache holds it (the cached copy is replaced only by one
        that passed its checks).
    :param data_dir: the data folder searched first (default: ``ZOO_DATA``).
    :returns: the files the dataset fetched, in order (an empty list: it fetches none, e.g. it reads local files).
    :raises UsageError | PluginError: an unknown dataset, bad options, or a file that cannot be had, in one line.
    """
    cls = (registry or get_registry()).get("dataset", name)
    options, problems = bind(cls.Options, settings or {}, "dataset")
    if problems:
        raise UsageError(f"dataset '{name}': {'; '.join(problems)}; give its options with --set KEY=VALUE")
    folder = Path(data_dir) if data_dir is not None else data.data_dir_from_env()
    pulled: dict[str, Pulled] = {}
    fetched: list[str] = []

    def pull_one(relpath: str, url: str | None, sha256: str | None) -> None:
        fetched.append(relpath)
        if relpath not in pulled:  # a file fetched twice is pulled once
            pulled[relpath] = _pull_file(name, relpath, url, sha256, folder, refresh)

    with data.observing_fetches(pull_one):
        try:
            cls(options).load(folder)
        except UsageError:
            last = pulled.get(fetched[-1]) if fetched else None  # None too when pulling the file itself failed
            if (
                last is not None and last.url is None and not _found(last.relpath, folder)
            ):  # the file the load failed on
                raise UsageError(
                    f"dataset '{name}': corpus file {last.relpath} has no download address, so there is nothing "
                    "to pull; keep it in a data folder and pass --data-dir (or set ZOO_DATA) when you use it"
                ) from None
            raise
    return list(pulled.values())
