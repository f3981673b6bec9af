"""Finding weights: registry names, run directories, files and URLs, downloads verified and cached.

Downloads go to ``$XDG_CACHE_HOME/zoo/models`` (default ``~/.cache/zoo/models``), are
checked against the sha256 the catalog (or a ``#sha256=`` suffix of a URL) gives, written
atomically and reused; a file whose hash differs is refused and nothing is left behind.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .catalog import entry, read_catalog
from .data import cache_dir, download, sha256_of
from .errors import UsageError
from .options import unknown

__all__ = ["weights_path", "pull", "availability", "cached_path"]


def _split_url(url: str) -> tuple[str, str | None]:
    """``https://host/m.safetensors#sha256=HEX`` → (the URL without it, HEX)."""
    base, _, fragment = url.partition("#")
    return base, fragment.removeprefix("sha256=") if fragment.startswith("sha256=") else None


def cached_path(url: str, sha256: str | None) -> Path:
    """Where the download of ``url`` lives in the cache (by its hash when known, else by its address)."""
    name = url.rstrip("/").rsplit("/", 1)[-1] or "model.safetensors"
    key = sha256[:16] if sha256 else "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    return cache_dir() / "models" / key / name


def _fetch(url: str, sha256: str | None) -> Path:
    dest = cached_path(url, sha256)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    return download(url, dest, sha256)


def _shipped(name: str, weights: dict[str, Any]) -> Path:
    path = Path(weights["file"])
    if not path.is_file():
        raise UsageError(f"model '{name}': its shipped weights file {path} is missing; reinstall zoo or pull the project again")
    if weights.get("sha256") and sha256_of(path) != weights["sha256"]:
        raise UsageError(f"model '{name}': {path} does not match the sha256 in the catalog; it was altered, restore it from the project")
    return path


def _catalogued(name: str, found: dict[str, Any]) -> Path | None:
    weights = found.get("weights")
    if not isinstance(weights, dict):
        return None
    if "file" in weights:
        return _shipped(name, weights)
    if "url" in weights:
        return _fetch(str(weights["url"]), weights.get("sha256"))
    raise UsageError(f"model '{name}': catalog weights need a 'file' or a 'url'; fix the catalog entry")


def weights_path(ref: str | Path) -> Path:
    """Resolve a reference to a weights file: registry name, run directory, ``.safetensors`` path, or URL.

    A URL (``http(s)://`` or ``file://``, optionally ending in ``#sha256=HEX``) is downloaded once into the cache.
    """
    text = str(ref)
    if text.startswith(("http://", "https://", "file://")):
        return _fetch(*_split_url(text))
    path = Path(ref)
    if path.is_dir():
        if not (path / "model.safetensors").is_file():
            raise UsageError(f"run directory {path} has no model.safetensors; the run has not finished (or was not a zoo run)")
        return path / "model.safetensors"
    if path.suffix == ".safetensors" or path.exists() or "/" in text or "\\" in text:
        if not path.is_file():
            raise UsageError(f"weights file {path} not found; pass a run directory, a .safetensors file or a registry name")
        return path
    found = entry(text)
    if found is not None:
        catalogued = _catalogued(text, found)
        if catalogued is not None:
            return catalogued
    local = Path("runs") / text / "model.safetensors"
    if local.is_file():
        return local
    if found is not None:
        raise UsageError(f"model '{text}' has no weights here yet; train it with  zoo run {found.get('recipe', 'its recipe')}  (it then loads from runs/{text})")
    raise UsageError(f"{unknown('model', text, read_catalog())}; or pass a run directory or a .safetensors file")


def pull(ref: str) -> Path:
    """Fetch a catalogued model's (or a URL's) weights into the cache ahead of time; returns the local file."""
    if ref.startswith(("http://", "https://", "file://")):
        return weights_path(ref)
    found = entry(ref)
    if found is None:
        raise UsageError(f"{unknown('model', ref, read_catalog())}; zoo pull takes a catalog name or a URL")
    path = _catalogued(ref, found)
    if path is None:
        raise UsageError(f"model '{ref}' has no published weights to pull; train it with  zoo run {found.get('recipe', 'its recipe')}")
    return path


def availability(name: str, found: dict[str, Any]) -> str:
    """Where a catalogued model's weights are: ``shipped`` (or ``missing``), ``cached``, ``download``, ``runs/NAME`` or ``-``."""
    weights = found.get("weights")
    if isinstance(weights, dict) and "file" in weights:
        return "shipped" if Path(weights["file"]).is_file() else "missing"
    if isinstance(weights, dict) and "url" in weights:
        return "cached" if cached_path(str(weights["url"]), weights.get("sha256")).is_file() else "download"
    return f"runs/{name}" if (Path("runs") / name / "model.safetensors").is_file() else "-"
