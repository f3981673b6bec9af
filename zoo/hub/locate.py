"""Finding weights: catalog names, run directories, files and URLs, downloads verified and cached.

Downloads go to ``$XDG_CACHE_HOME/zoo/models`` (default ``~/.cache/zoo/models``), are
checked against the sha256 the catalog (or a ``#sha256=`` suffix of a URL) gives, and must
parse as safetensors; they are written atomically and reused. A file that fails is refused and
nothing is left behind. Without a sha256 the cache key is the URL, and ``refresh`` replaces it.

What a reference names is decided here once (:func:`resolve`), for ``zoo.load`` and ``zoo info`` alike, and so is
where a catalogued model's weights are (:func:`locate`), in the one vocabulary (:class:`Located`) that
``zoo models`` and ``zoo info`` show.
"""

from __future__ import annotations

import dataclasses
import hashlib
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from safetensors import SafetensorError, safe_open

from zoo.errors import UsageError
from zoo.hub.catalog import entry, read_catalog
from zoo.hub.data import cache_dir, sha256_of
from zoo.hub.download import check_sha256, download, inside, sweep_download
from zoo.options import unknown
from zoo.train import rundir

__all__ = [
    "Location",
    "REFS",
    "Ref",
    "Located",
    "resolve",
    "locate",
    "weights_path",
    "pull",
    "cached_path",
    "models_dir",
]

Location = Literal["shipped", "missing", "cache", "url", "run", "file", "none"]  # see Located
REFS = "a catalog name (zoo models lists them), a run directory or a .safetensors file"
_ADVICE = "check the address and the network and try again, or load a local .safetensors file"
_URL_SCHEMES = ("http://", "https://", "file://")


def _split_url(url: str) -> tuple[str, str | None]:
    """``https://host/m.safetensors#sha256=HEX`` → (the URL without it, HEX); any other fragment is refused."""
    base, hashed, fragment = url.partition("#")
    if not hashed:
        return base, None
    if not fragment.startswith("sha256="):
        raise UsageError(
            f"{url!r}: a URL's fragment must be #sha256=<64 hex digits>, not #{fragment[:80]!r}; fix the URL"
        )
    return base, check_sha256(fragment.removeprefix("sha256="), f"the #sha256= of {base[:200]!r}")


@dataclasses.dataclass(frozen=True)
class Ref:
    """What a model reference names (see :func:`resolve`).

    :ivar kind: ``url``, ``run`` (a run directory), ``file`` (a weights file) or ``catalog`` (a catalog name).
    :ivar text: the reference as given.
    :ivar path: the folder or the file (``None`` for a URL or a catalog name).
    :ivar entry: the catalog entry, its paths made absolute (``catalog`` only).
    """

    kind: Literal["url", "run", "file", "catalog"]
    text: str
    path: Path | None = None
    entry: dict[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class Located:
    """Where a model's weights are.

    :ivar location: ``shipped`` (a file the catalog ships, here), ``missing`` (a file the catalog ships, not here),
        ``cache`` (a download already fetched), ``url`` (a download not fetched yet), ``run`` (a run directory's
        ``model.safetensors``; of a catalog name, ``runs/NAME``, trained here), ``file`` (a weights file named by its
        path) or ``none``.
    :ivar path: the file on this disk (for ``missing``: where it should be); ``None`` for ``url`` and ``none``.
    :ivar url: the download address (``cache`` and ``url``).
    """

    location: Location
    path: Path | None = None
    url: str | None = None

    @property
    def available(self) -> bool:
        """Whether they are on this disk, ready to load without a download."""
        return self.location in ("shipped", "cache", "run", "file")


def models_dir() -> Path:
    """The folder of the downloaded weights: ``models/`` in :func:`zoo.hub.data.cache_dir`."""
    return cache_dir() / "models"


def cached_path(url: str, sha256: str | None) -> Path:
    """Where the download of ``url`` lives in the cache (by its hash when known, else by its address), always inside
    it."""
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    if name in ("", ".", "..") or len(name.encode()) > 200 or "\x00" in name:
        name = "model.safetensors"  # the name is only for people reading the cache: any safe one will do
    key = (
        check_sha256(sha256, url)[:16] if sha256 is not None else "url-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    )
    return inside(models_dir() / key / name, models_dir(), "the weights cache entry")


def _safetensors(url: str) -> Callable[[Path], None]:
    """A check that a downloaded file parses as safetensors: header length, JSON header, offsets covering the file."""

    def check(path: Path) -> None:
        try:
            with safe_open(path, framework="numpy"):
                pass
        except (SafetensorError, OSError) as exc:
            reason = " ".join(str(exc).split())
            raise UsageError(
                f"download of {url} is not a safetensors file ({reason}); refused, nothing cached"
            ) from None

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
        raise UsageError(
            f"model '{name}': its shipped weights file {path} is missing; reinstall zoo or pull the project again"
        )
    if weights.get("sha256") and sha256_of(path) != check_sha256(weights["sha256"], f"model '{name}' in the catalog"):
        raise UsageError(
            f"model '{name}': {path} does not match the sha256 in the catalog; it was altered, restore it from the "
            "project"
        )
    return path


def locate(name: str, found: dict[str, Any]) -> Located:
    """Where the weights of the catalog entry ``found`` (named ``name``) are here: the catalog's own (shipped, or a
    download) first; without any, a run trained here (``runs/NAME``). Reads no file and downloads nothing."""
    weights = found.get("weights")
    if isinstance(weights, dict) and "file" in weights:
        path = Path(weights["file"])
        return Located("shipped" if path.is_file() else "missing", path)
    if isinstance(weights, dict) and "url" in weights:
        url = str(weights["url"])
        cached = cached_path(url, weights.get("sha256"))
        return Located("cache", cached, url) if cached.is_file() else Located("url", None, url)
    trained = rundir.default_dir(name) / "model.safetensors"
    return Located("run", trained) if trained.is_file() else Located("none")


def _catalogued(name: str, found: dict[str, Any], refresh: bool = False) -> Path:
    """The weights file of a catalog entry, where :func:`locate` finds them: a shipped file checked against its sha256,
    a download fetched (or reused from the cache), or ``runs/NAME``."""
    where = locate(name, found)
    if where.location in ("shipped", "missing"):
        return _shipped(name, found["weights"])
    if where.url is not None:  # cache or url
        sha256 = found["weights"].get("sha256")
        return _fetch(
            where.url, None if sha256 is None else check_sha256(sha256, f"model '{name}' in the catalog"), refresh
        )
    if where.path is not None:  # run
        return where.path
    raise UsageError(
        f"model '{name}' has no weights here yet; train it with  zoo run {name}  "
        f"(it then loads from {rundir.default_dir(name)})"
    )


def _run_weights(path: Path) -> Path:
    """The weights of the run in ``path``, or one line saying why there are none."""
    found = rundir.state(path)
    if found == "finished":
        return path / "model.safetensors"
    if found == "stopped":
        raise UsageError(
            f"run directory {path} has not finished: it has a checkpoint but no model.safetensors yet; "
            f"finish it with  zoo run --resume {path}"
        )
    raise UsageError(f"run directory {path} has no model.safetensors; the run has not finished (or was not a zoo run)")


def resolve(ref: str | Path) -> Ref:
    """What ``ref`` names, tried in this order: a URL (``http(s)://`` or ``file://``), a folder (a run directory), a
    path (a ``.safetensors`` name, an existing file, or text with a ``/``), a catalog name, and last a run trained here
    under a name the catalog lacks (``runs/NAME``). Reads no file and downloads nothing.

    :raises UsageError: for a path that is neither a folder nor a file, or a name neither catalogued nor trained here
        (with the close one).
    """
    text = str(ref)
    if text.startswith(_URL_SCHEMES):
        return Ref("url", text)
    path = Path(ref)
    if path.is_dir():
        return Ref("run", text, path)
    if path.suffix == ".safetensors" or path.exists() or "/" in text or "\\" in text:
        if not path.is_file():
            raise UsageError(
                f"{path}: {'not a regular file' if path.exists() else 'no such run directory or file'}; pass {REFS}"
            )
        return Ref("file", text, path)
    found = entry(text)
    if found is not None:
        return Ref("catalog", text, entry=found)
    if rundir.default_dir(text).is_dir():
        return Ref("run", text, rundir.default_dir(text))
    raise UsageError(f"{unknown('model', text, read_catalog())}; or pass a run directory or a .safetensors file")


def weights_path(ref: str | Path, refresh: bool = False) -> Path:
    """The weights file a reference (see :func:`resolve`) names: a catalogued model's (see :func:`locate`), a finished
    run's ``model.safetensors``, the file itself, or a URL's download.

    A URL (``http(s)://`` or ``file://``, optionally ending in ``#sha256=HEX``) is downloaded once into the cache;
    ``refresh`` downloads it again (a catalogued one too), replacing the cached copy only once the new one passed.
    """
    r = resolve(ref)
    if r.kind == "url":
        return _fetch(*_split_url(r.text), refresh=refresh)
    if r.kind == "run":
        return _run_weights(r.path)
    if r.kind == "file":
        return r.path
    return _catalogued(r.text, r.entry, refresh)


def pull(ref: str, refresh: bool = False) -> Path:
    """Fetch a catalogued model's (or a URL's) weights into the cache ahead of time; returns the local file.

    ``refresh`` downloads them again even when cached (the copy is replaced only by one that passed its checks).
    """
    if ref.startswith(_URL_SCHEMES):
        return weights_path(ref, refresh)
    found = entry(ref)
    if found is None:
        raise UsageError(f"{unknown('model', ref, read_catalog())}; zoo pull takes a catalog name or a URL")
    if not isinstance(found.get("weights"), dict):
        raise UsageError(f"model '{ref}' has no published weights to pull; train it with  zoo run {ref}")
    return _catalogued(ref, found, refresh)
