"""The catalog of named models, ``registry.yaml``: recipe, weights and measured metrics per name.

An entry's ``weights`` is ``null`` (train it yourself), a file shipped with the project
(``{file: weights/NAME.safetensors, sha256, size, dtype}``, the path relative to the
catalog), or a download (``{url: https://..., sha256, size, dtype}``). ``ZOO_REGISTRY``
names another catalog file to use instead of the installed one.

The installed catalog is the package ``zoo_catalog``: pyproject.toml maps the project's top level
(``registry.yaml``, ``recipes/``, ``weights/``) to it, so a wheel carries it and an editable install
finds the checkout's files. A recipe is run by its file or by the name of its catalog entry.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import math
import os
from pathlib import Path
from typing import Any

import yaml

from zoo.atomic import write_text
from zoo.errors import UsageError
from zoo.hub.download import is_sha256
from zoo.options import unknown
from zoo.yamlfile import load_yaml

__all__ = [
    "catalog_folder",
    "catalog_path",
    "installed_from_wheel",
    "read_catalog",
    "entry",
    "entries",
    "recipe_files",
    "recipe_file",
    "write_catalog",
    "HEADER",
    "CATALOG_PACKAGE",
    "DISTRIBUTION",
]

CATALOG_PACKAGE = "zoo_catalog"  # the installed catalog: registry.yaml, recipes/*.yaml, weights/*.safetensors
DISTRIBUTION = "rnn-zoo"

HEADER = """\
# The catalog of named models: recipe, how its weights were made, and what was measured.
# zoo.load("<name>") resolves names here. `weights` is null (train it: it then loads from
# runs/<name>), a file shipped with the project ({file, sha256, size, dtype}; the path is
# relative to this file), or a download ({url, sha256, size, dtype}). `metrics` are the
# training perplexities measured when the weights were made (`epoch`: the one the weights come
# from, kept_batch: the batch within it, where the best evaluation fell mid-epoch) and, where the
# corpus holds data out, the held-out valid_loss (nats per token) and valid_perplexity (test_*
# likewise) of the weights listed, as `zoo eval NAME --split valid` measures them; `zoo verify
# NAME --epochs N` re-runs the recipe and compares with perplexity_at[N] and valid_loss_at[N].
# `zoo ship` rewrites this file.
"""


def catalog_folder() -> Path | None:
    """The folder of the installed catalog package, found through the import system; ``None`` when it is not installed.

    A wheel installs it as ``site-packages/zoo_catalog``; an editable install maps it to the project's top level.
    Either way it is a namespace package (data, no ``__init__.py``), and in an editable install its path also holds
    setuptools' placeholder entry, on which ``importlib.resources.files`` fails (Python 3.11: "MultiplexedPath only
    supports directories"): so the first real directory of its search locations is taken.
    """
    try:
        spec = importlib.util.find_spec(CATALOG_PACKAGE)
    except (ImportError, ValueError):
        return None
    locations = (spec.submodule_search_locations or []) if spec is not None else []
    return next((Path(p) for p in locations if Path(p).is_dir()), None)


def catalog_path() -> Path:
    """``$ZOO_REGISTRY`` if set, else the installed catalog's ``registry.yaml`` (see :func:`catalog_folder`).

    :raises UsageError: when neither is there (zoo installed without its catalog package).
    """
    override = os.environ.get("ZOO_REGISTRY")
    if override:
        return Path(override)
    folder = catalog_folder()
    if folder is None:
        raise UsageError(
            f"zoo's catalog (the {CATALOG_PACKAGE} package) is not installed; reinstall {DISTRIBUTION} "
            "(pip install rnn-zoo, or pip install -e . in a clone), or point ZOO_REGISTRY at a registry.yaml"
        )
    return folder / "registry.yaml"


def installed_from_wheel(path: Path) -> bool:
    """Whether ``path`` is a file that pip installed from the rnn-zoo wheel, which no command may change.

    The distribution's RECORD lists every file its installer wrote: the catalog files of a wheel install, and
    none of an editable install's (whose RECORD holds its ``.pth`` and finder; its catalog is the checkout's).
    This asks about the very file in use, unlike PEP 610's ``direct_url.json`` (which says how the distribution
    was installed, and is absent for an install from an index), and unlike a test of writability, since the
    site-packages of a person's own virtual environment is writable too.
    """
    target = path.resolve()
    for dist in importlib.metadata.distributions(name=DISTRIBUTION):
        if dist.read_text("RECORD") is None:  # a checkout's *.egg-info: its files are the sources, not an install
            continue
        if any(Path(f.locate()).resolve() == target for f in dist.files or [] if f.name == path.name):
            return True
    return False


def _number(value: Any, positive: bool = False) -> bool:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return ok and (value > 0 or not positive)


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _nats(value: Any) -> bool:
    return _number(value) and value >= 0


def _perplexity(value: Any) -> bool:
    return _number(value) and value >= 1


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# What each key of an entry, of its ``metrics`` and of its ``weights`` must hold: (check, expected in words).
_ENTRY = {
    "description": (str, "a string"),
    "recipe": (str, "a path"),
    "dataset": (str, "a string"),
    "cell": (str, "a string"),
    "impl": (str, "a string"),
    "backend": (str, "a string"),
    "params": (_count, "a whole number"),
    "reference": (str, "a string"),
    "samples": (_strings, "a list of strings"),
}
_METRICS = {
    "perplexity": (lambda v: _number(v, True), "a positive number"),
    "epoch": (lambda v: _count(v) and v >= 1, "an epoch number"),
    "perplexity_at": (
        lambda v: isinstance(v, dict) and all(_count(k) and k >= 1 and _number(x, True) for k, x in v.items()),
        "a mapping of epoch numbers to positive numbers",
    ),
    "steps": (_count, "a whole number"),
    "smoothed_loss": (_number, "a number"),
    "label": (str, "a string"),
    "seconds": (lambda v: _number(v) and v >= 0, "a number of seconds"),
    "valid_loss": (_nats, "a number of nats (0 or more)"),
    "valid_perplexity": (_perplexity, "a perplexity (1 or more)"),
    "test_loss": (_nats, "a number of nats (0 or more)"),
    "test_perplexity": (_perplexity, "a perplexity (1 or more)"),
    "valid_loss_at": (
        lambda v: isinstance(v, dict) and all(_count(k) and k >= 1 and _nats(x) for k, x in v.items()),
        "a mapping of epoch numbers to numbers of nats",
    ),
    "kept_batch": (lambda v: _count(v) and v >= 1, "a batch number"),
}
_WEIGHTS = {
    "file": (str, "a path"),
    "url": (str, "a URL"),
    "sha256": (is_sha256, "64 lower-case hex digits"),
    "size": (_count, "a size in bytes"),
    "dtype": (lambda v: v in ("float32", "float16"), "float32 or float16"),
    "perplexity_check": (dict, "a mapping"),
}


def _check(where: str, values: dict[str, Any], schema: dict[str, tuple[Any, str]]) -> str | None:
    """The first value of ``values`` whose key the schema knows and whose value it refuses, worded; else ``None``."""
    for key, (check, expected) in schema.items():
        if key in values and not (isinstance(values[key], check) if isinstance(check, type) else check(values[key])):
            return f"{where}.{key}: expected {expected}, got {values[key]!r}"
    return None


def _problem(name: Any, e: Any) -> str | None:
    """What is wrong with one catalog entry, in words, or ``None``."""
    if not isinstance(name, str) or not name:
        return f"model name {name!r} is not a string"
    if not isinstance(e, dict):
        return f"{name}: expected a mapping of recipe, metrics, weights..., got {e!r}"
    metrics, weights = e.get("metrics"), e.get("weights")
    if metrics is not None and not isinstance(metrics, dict):
        return f"{name}.metrics: expected a mapping, got {metrics!r}"
    if weights is not None and (not isinstance(weights, dict) or ("file" in weights) == ("url" in weights)):
        return f"{name}.weights: expected null or a mapping with a 'file' or a 'url', got {weights!r}"
    return (
        _check(name, e, _ENTRY)
        or _check(f"{name}.metrics", metrics or {}, _METRICS)
        or _check(f"{name}.weights", weights or {}, _WEIGHTS)
    )


def read_catalog(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The catalog's entries by model name, each checked (empty when the installed catalog has no ``registry.yaml``).

    :raises UsageError: one line naming the file (and ``ZOO_REGISTRY`` when it chose it) and the entry at fault.
    """
    path = path or catalog_path()
    chosen = path == Path(os.environ.get("ZOO_REGISTRY") or "\0")  # named by the variable: say so
    fix = "point ZOO_REGISTRY at a catalog file, or unset it" if chosen else "fix the catalog file"
    where = f"ZOO_REGISTRY={path}" if chosen else str(path)
    if not path.exists() and not chosen:
        return {}
    if not path.is_file():
        raise UsageError(f"{where}: {'not found' if not path.exists() else 'not a regular file'}; {fix}")
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: invalid YAML ({' '.join(str(exc).split())}); {fix}") from None
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror or exc}); {fix}") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise UsageError(f"{where}: expected a mapping with 'models: {{name: entry, ...}}'; {fix}")
    for name, e in models.items():
        problem = _problem(name, e)
        if problem is not None:
            raise UsageError(f"{where}: {problem}; {fix}")
    return models


def _absolute(found: dict[str, Any], path: Path) -> dict[str, Any]:
    """A copy of an entry with its recipe and shipped-weights paths made absolute."""
    found = dict(found)
    if isinstance(found.get("recipe"), str):
        found["recipe"] = str((path.parent / found["recipe"]).resolve())
    weights = found.get("weights")
    if isinstance(weights, dict) and isinstance(weights.get("file"), str):
        found["weights"] = {**weights, "file": str((path.parent / weights["file"]).resolve())}
    return found


def entries(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every catalog entry by name, paths made absolute (the catalog read once)."""
    path = path or catalog_path()
    return {name: _absolute(found, path) for name, found in read_catalog(path).items()}


def entry(name: str, path: Path | None = None) -> dict[str, Any] | None:
    """One catalog entry, with its recipe and shipped-weights paths made absolute, or ``None``."""
    path = path or catalog_path()
    found = read_catalog(path).get(name)
    return None if found is None else _absolute(found, path)


def recipe_files() -> dict[str, Path]:
    """The recipe file of each catalog entry that names one, by entry name, in catalog order (paths absolute)."""
    return {name: Path(e["recipe"]) for name, e in entries().items() if isinstance(e.get("recipe"), str)}


def recipe_file(ref: str | Path) -> Path:
    """The recipe file a ``zoo run`` argument names: a file as given, else the recipe of the catalog entry of that name.

    A :class:`~pathlib.Path`, an existing file, or text with a ``/`` or a ``.yaml``/``.yml`` suffix is a path, returned
    as it is (a missing one is for the recipe reader to report); a bare word names a catalog entry.

    :raises UsageError: a bare word that is neither a file nor a catalog name, with the closest catalog name.
    """
    path, text = Path(ref), str(ref)
    if isinstance(ref, Path) or path.is_file() or "/" in text or os.sep in text or path.suffix in (".yaml", ".yml"):
        return path
    named = recipe_files()
    if text in named:
        return named[text]
    if path.exists():  # a folder or a device: the reader words it
        return path
    raise UsageError(
        f"no recipe file {text!r} here, and {unknown('catalog name', text, named)}; "
        "pass a recipe file or a catalog name (zoo recipes lists them)"
    )


def write_catalog(models: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    """Rewrite the catalog file (atomically) with the standard header; an entry that would not read back is refused
    first."""
    for name, e in models.items():
        problem = _problem(name, e)
        if problem is not None:
            raise UsageError(f"not writing {path or catalog_path()}: {problem}")
    body = yaml.safe_dump({"models": models}, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120)
    write_text(path or catalog_path(), HEADER + body)
