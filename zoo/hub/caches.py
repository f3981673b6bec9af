"""zoo's caches on disk, downloaded weights (``models``) and corpora (``data``): what they hold, and emptying them.

Both live under :func:`zoo.hub.data.cache_dir` (``$XDG_CACHE_HOME/zoo``): the weights :mod:`zoo.hub.locate` downloads in
its folder (:func:`zoo.hub.locate.models_dir`), the corpus files :func:`zoo.hub.data.fetch` downloads everywhere else.
Only regular files are zoo's: a symbolic link is never followed (out of the cache or within it) nor removed, and a
temporary file a download is writing right now (it holds a lock on it, see :func:`zoo.hub.download.sweep_download`) is
left alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import stat
from pathlib import Path

from zoo.atomic import temporary_target
from zoo.hub.data import cache_dir
from zoo.hub.download import sweep_download
from zoo.hub.locate import models_dir

__all__ = ["CACHES", "CacheFile", "Cache", "Cleared", "cache_root", "scan", "clear"]

CACHES = ("models", "data")


@dataclasses.dataclass(frozen=True)
class CacheFile:
    """One file of a cache: its path relative to the cache's root, and its size in bytes."""

    path: str
    bytes: int


@dataclasses.dataclass
class Cache:
    """One cache: its name (``models`` or ``data``), its root folder, its files, and the links in it (never zoo's)."""

    name: str
    root: Path
    files: list[CacheFile]
    links: list[str]

    @property
    def bytes(self) -> int:
        """The size of its files together."""
        return sum(f.bytes for f in self.files)


@dataclasses.dataclass
class Cleared:
    """What :func:`clear` did: the files removed and their size, and the files and links it left, with why."""

    removed: int = 0
    bytes: int = 0
    kept: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def cache_root(name: str) -> Path:
    """The folder of the ``models`` cache (:func:`zoo.hub.locate.models_dir`) or of the ``data`` cache (``cache_dir()``
    itself)."""
    return models_dir() if name == "models" else cache_dir()


def scan(name: str) -> Cache:
    """What the cache ``name`` holds, without following a symbolic link; the data cache leaves out the models cache."""
    root, models = cache_root(name), models_dir()
    files: list[CacheFile] = []
    links: list[str] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        if name != "models" and here == root:
            dirs[:] = [d for d in dirs if here / d != models]
        for entry in sorted(dirs) + sorted(names):
            path = here / entry
            try:
                info = os.lstat(path)
            except OSError:
                continue  # removed meanwhile
            rel = path.relative_to(root).as_posix()
            if stat.S_ISLNK(info.st_mode):
                links.append(rel)  # os.walk does not descend into a linked folder either
            elif stat.S_ISREG(info.st_mode):
                files.append(CacheFile(rel, info.st_size))
        dirs.sort()
    return Cache(name, root, sorted(files, key=lambda f: f.path), sorted(links))


def clear(cache: Cache) -> Cleared:
    """Remove the files :func:`scan` found in ``cache``, then the folders left empty (its root stays).

    A download's temporary file is removed only when no download holds it; links are left as they are.
    """
    done = Cleared(kept=[(link, "a symbolic link zoo did not make") for link in cache.links])
    for f in cache.files:
        path = cache.root / f.path
        target = temporary_target(path.name)
        if target is not None:
            sweep_download(path.parent / target)  # removes it unless a download is writing it
            if path.exists():
                done.kept.append((f.path, "a download is writing it right now"))
                continue
        else:
            try:
                path.unlink()
            except FileNotFoundError:
                continue
        done.removed += 1
        done.bytes += f.bytes
    _remove_empty(cache.root, keep=models_dir() if cache.name != "models" else None)
    return done


def _remove_empty(root: Path, keep: Path | None) -> None:
    """Remove the empty folders under ``root`` (not ``root``, not ``keep`` and what is in it), deepest first."""
    for folder, _dirs, _names in os.walk(root, topdown=False):
        here = Path(folder)
        if here == root or (keep is not None and here.is_relative_to(keep)):
            continue
        with contextlib.suppress(OSError):  # not empty: a file kept, or one written meanwhile
            here.rmdir()
