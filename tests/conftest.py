"""Shared fixtures: the corpus folder (skip when absent), a registry, and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def data_dir() -> Path:
    """The folder named by ZOO_DATA; tests needing a corpus skip when it is not set or lacks the files."""
    value = os.environ.get("ZOO_DATA")
    if not value or not (Path(value) / "jaychou_lyrics.txt.zip").is_file():
        pytest.skip("corpus files not found: set ZOO_DATA to a folder holding jaychou_lyrics.txt.zip (e.g. ../shared/data)")
    return Path(value)


@pytest.fixture
def registry():
    """The installed registry (built-ins loaded through their entry points)."""
    return get_registry()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep downloads and caches of every test out of the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))
