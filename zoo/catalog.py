"""The catalog of named models, ``registry.yaml``: recipe, weights and measured metrics per name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError

__all__ = ["catalog_path", "read_catalog", "entry"]


def catalog_path() -> Path:
    """Where ``registry.yaml`` lives: beside the ``zoo`` package's folder (the project root)."""
    return Path(__file__).resolve().parent.parent / "registry.yaml"


def read_catalog(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The catalog's entries by model name (empty when there is no catalog file)."""
    path = path or catalog_path()
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: invalid YAML ({exc}); fix the catalog file") from None
    models = data.get("models") or {}
    if not isinstance(models, dict):
        raise UsageError(f"{path}: 'models' must be a mapping of model names to entries")
    return models


def entry(name: str, path: Path | None = None) -> dict[str, Any] | None:
    """One catalog entry, with its recipe and weights paths made absolute, or ``None``."""
    path = path or catalog_path()
    found = read_catalog(path).get(name)
    if found is None:
        return None
    found = dict(found)
    for key in ("recipe", "weights"):
        value = found.get(key)
        if isinstance(value, str) and "://" not in value:
            found[key] = str((path.parent / value).resolve())
    return found
