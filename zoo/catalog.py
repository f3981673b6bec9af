"""The catalog of named models, ``registry.yaml``: recipe, weights and measured metrics per name.

An entry's ``weights`` is ``null`` (train it yourself), a file shipped with the project
(``{file: weights/NAME.safetensors, sha256, size, dtype}``, the path relative to the
catalog), or a download (``{url: https://..., sha256, size, dtype}``). ``ZOO_REGISTRY``
names another catalog file to use instead of the project's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .atomic import write_text
from .errors import UsageError

__all__ = ["catalog_path", "read_catalog", "entry", "entries", "write_catalog", "HEADER"]

HEADER = """\
# The catalog of named models: recipe, how its weights were made, and what was measured.
# zoo.load("<name>") resolves names here. `weights` is null (train it: it then loads from
# runs/<name>), a file shipped with the project ({file, sha256, size, dtype}; the path is
# relative to this file), or a download ({url, sha256, size, dtype}). `metrics` are the
# training perplexities measured when the weights were made; `zoo verify NAME --epochs N`
# re-runs the recipe and compares with perplexity_at[N]. `zoo ship` rewrites this file.
"""


def catalog_path() -> Path:
    """``$ZOO_REGISTRY`` if set, else ``registry.yaml`` beside the ``zoo`` package's folder (the project root)."""
    override = os.environ.get("ZOO_REGISTRY")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "registry.yaml"


def read_catalog(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The catalog's entries by model name (empty when there is no catalog file)."""
    path = path or catalog_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: invalid YAML ({exc}); fix the catalog file") from None
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not all(isinstance(v, dict) for v in models.values()):
        raise UsageError(f"{path}: 'models' must be a mapping of model names to entries; fix the catalog file")
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


def write_catalog(models: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    """Rewrite the catalog file (atomically) with the standard header."""
    body = yaml.safe_dump({"models": models}, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120)
    write_text(path or catalog_path(), HEADER + body)
