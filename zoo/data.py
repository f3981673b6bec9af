"""Finding corpus files: the data directory, then the cache, then a verified download."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from .atomic import atomic_path
from .errors import UsageError

__all__ = ["cache_dir", "data_dir_from_env", "sha256_of", "fetch", "download"]


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


def download(url: str, dest: Path, sha256: str | None, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically, refusing it when its sha256 differs.

    Nothing is left under ``dest`` unless the whole file arrived and matched.
    """
    try:
        with atomic_path(dest) as tmp:
            h = hashlib.sha256()
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "wb") as out:
                expected = resp.headers.get("Content-Length")
                size = 0
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            if expected is not None and size != int(expected):
                raise UsageError(f"download of {url} stopped after {size} of {expected} bytes; try again")
            if sha256 is not None and h.hexdigest() != sha256:
                raise UsageError(f"download of {url} has sha256 {h.hexdigest()}, expected {sha256}; refused (the file may have changed or been tampered with)")
    except urllib.error.HTTPError as exc:
        exc.close()  # the error response holds the socket open
        raise UsageError(f"could not download {url}: HTTP {exc.code} {exc.reason}; put the file in a folder and pass --data-dir (or set ZOO_DATA)") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"could not download {url}: {reason}; put the file in a folder and pass --data-dir (or set ZOO_DATA)") from None
    return dest


def fetch(relpath: str, url: str | None, sha256: str | None, data_dir: Path | None = None) -> Path:
    """Find a corpus file: ``data_dir`` (or ``ZOO_DATA``), then the cache, then download it.

    :param relpath: the file's path inside a data folder, e.g. ``ptb/ptb.valid.txt``.
    :param url: its canonical download address (``None``: never download).
    :param sha256: the expected hash; a cached or downloaded file that differs is refused.
    :raises UsageError: one line saying where it looked and what to do.
    """
    folder = data_dir or data_dir_from_env()
    if folder is not None and (Path(folder) / relpath).is_file():
        return Path(folder) / relpath
    cached = cache_dir() / relpath
    if cached.is_file() and (sha256 is None or sha256_of(cached) == sha256):
        return cached
    if url is None:
        where = f"{folder}/{relpath}, " if folder else ""
        raise UsageError(f"corpus file {relpath} not found (looked in {where}{cached}); pass --data-dir or set ZOO_DATA to a folder that holds it")
    return download(url, cached, sha256)
