"""Finding weights: registry names, run directories, files and URLs, downloads verified and cached.

Downloads go to ``$XDG_CACHE_HOME/zoo/models`` (default ``~/.cache/zoo/models``), are
checked against the sha256 the catalog (or a ``#sha256=`` suffix of a URL) gives, and must
parse as safetensors; they are written atomically and reused. A file that fails is refused and
nothing is left behind. Without a sha256 the cache key is the URL, and ``refresh`` replaces it.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from safetensors import SafetensorError, safe_open

from .catalog import entry, read_catalog
from .data import cache_dir, sha256_of
from .download import check_sha256, download, inside, sweep_download
from .errors import UsageError
from .options import unknown

__all__ = ["weights_path", "pull", "availability", "cached_path"]

_ADVICE = "check the address and the network and try again, or load a local .safetensors file"
_URL_SCHEMES = ("http://", "https://", "file://")


def _split_url(url: str) -> tuple[str, str | None]:
    """``https://host/m.safetensors#sha256=HEX`` → (the URL without it, HEX); any other fragment is refused."""
    base, hashed, fragment = url.partition("#")
    if not hashed:
        return base, None
    if not fragment.startswith("sha256="):
        raise UsageError(f"{url!r}: a URL's fragment must be #sha256=<64 hex digits>, not #{fragment[:80]!r}; fix the URL")
    return base, check_sha256(fragment.removeprefix("sha256="), f"the #sha256= of {base[:200]!r}")


def _models() -> Path:
    return cache_dir() / "models"


def cached_path(url: str, sha256: str | None) -> Path:
    """Where the download of ``url`` lives in the cache (by its hash when known, else by its address), always inside it."""
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    if name in ("", ".", "..") or len(name.encode()) > 200 or "\x00" in name:
        name = "model.safetensors"  # the name is only for people reading the cache: any safe one will do
    key = check_sha256(sha256, url)[:16] if sha256 is not None else "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    return inside(_models() / key / name, _models(), "the weights cache entry")


def _safetensors(url: str) -> Callable[[Path], None]:
    """A check that a downloaded file parses as safetensors: header length, JSON header, offsets covering the file."""
    def check(path: Path) -> None:
        try:
            with safe_open(path, framework="numpy"):
                pass
        except (SafetensorError, OSError) as exc:
            reason = " ".join(str(exc).split())
            raise UsageError(f"download of {url} is not a safetensors file ({reason}); refused, nothing cached") from None
    return check


def _fetch(url: str, sha256: str | None, refresh: bool = False) -> Path:
    dest = cached_path(url, sha256)
    sweep_download(dest)
    if not refresh and dest.is_file():
        if sha256 is not None and sha256_of(dest) == sha256:
            return dest
        if sha256 is None:
            try:
                _safetensors(url)(dest)
                return dest
            except UsageError:
                pass  # cached before downloads were checked, or altered since: download it again
    return download(url, dest, sha256, check=_safetensors(url), advice=_ADVICE)


def _shipped(name: str, weights: dict[str, Any]) -> Path:
    path = Path(weights["file"])
    if not path.is_file():
        raise UsageError(f"model '{name}': its shipped weights file {path} is missing; reinstall zoo or pull the project again")
    if weights.get("sha256") and sha256_of(path) != check_sha256(weights["sha256"], f"model '{name}' in the catalog"):
        raise UsageError(f"model '{name}': {path} does not match the sha256 in the catalog; it was altered, restore it from the project")
    return path


def _catalogued(name: str, found: dict[str, Any], refresh: bool = False) -> Path | None:
    weights = found.get("weights")
    if not isinstance(weights, dict):
        return None
    if "file" in weights:
        return _shipped(name, weights)
    if "url" in weights:
        sha256 = weights.get("sha256")
        return _fetch(str(weights["url"]), None if sha256 is None else check_sha256(sha256, f"model '{name}' in the catalog"), refresh)
    raise UsageError(f"model '{name}': catalog weights need a 'file' or a 'url'; fix the catalog entry")


def _run_dir(path: Path) -> Path:
    """The weights of the run in ``path``, or one line saying why there are none."""
    if (path / "model.safetensors").is_file():
        return path / "model.safetensors"
    if (path / "checkpoint" / "checkpoint.json").is_file():
        raise UsageError(f"run directory {path} has not finished: it has a checkpoint but no model.safetensors yet; "
                         f"finish it with  zoo run --resume {path}")
    raise UsageError(f"run directory {path} has no model.safetensors; the run has not finished (or was not a zoo run)")


def weights_path(ref: str | Path, refresh: bool = False) -> Path:
    """Resolve a reference to a weights file: registry name, run directory, ``.safetensors`` path, or URL.

    A URL (``http(s)://`` or ``file://``, optionally ending in ``#sha256=HEX``) is downloaded once into the cache;
    ``refresh`` downloads it again (a catalogued one too), replacing the cached copy only once the new one passed.
    """
    text = str(ref)
    if text.startswith(_URL_SCHEMES):
        return _fetch(*_split_url(text), refresh=refresh)
    path = Path(ref)
    if path.is_dir():
        return _run_dir(path)
    if path.suffix == ".safetensors" or path.exists() or "/" in text or "\\" in text:
        if not path.is_file():
            raise UsageError(f"weights file {path} not found; pass a run directory, a .safetensors file or a registry name")
        return path
    found = entry(text)
    if found is not None:
        catalogued = _catalogued(text, found, refresh)
        if catalogued is not None:
            return catalogued
    local = Path("runs") / text / "model.safetensors"
    if local.is_file():
        return local
    if found is not None:
        raise UsageError(f"model '{text}' has no weights here yet; train it with  zoo run {found.get('recipe', 'its recipe')}  "
                         f"(it then loads from runs/{text})")
    raise UsageError(f"{unknown('model', text, read_catalog())}; or pass a run directory or a .safetensors file")


def pull(ref: str, refresh: bool = False) -> Path:
    """Fetch a catalogued model's (or a URL's) weights into the cache ahead of time; returns the local file.

    ``refresh`` downloads them again even when cached (the copy is replaced only by one that passed its checks).
    """
    if ref.startswith(_URL_SCHEMES):
        return weights_path(ref, refresh)
    found = entry(ref)
    if found is None:
        raise UsageError(f"{unknown('model', ref, read_catalog())}; zoo pull takes a catalog name or a URL")
    path = _catalogued(ref, found, refresh)
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
