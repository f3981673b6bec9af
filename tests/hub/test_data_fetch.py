"""Corpus lookup and download: data dir, then cache, then a verified, atomic download (loopback server only)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from zoo.errors import UsageError
from zoo.hub.data import cache_dir, fetch

BODY = b"hello corpus\n" * 100
SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture
def served(server):
    """The loopback server with BODY at /ok.txt and a /short.txt that hangs up early."""
    server.files |= {"/ok.txt": BODY, "/short.txt": BODY}
    server.short.add("/short.txt")
    return server


def cache_files() -> list[Path]:
    return [p for p in cache_dir().rglob("*") if p.is_file()] if cache_dir().exists() else []


def test_data_dir_comes_first(tmp_path, served):
    (tmp_path / "c.txt").write_bytes(b"local")
    assert fetch("c.txt", f"{served.url}/ok.txt", SHA, data_dir=tmp_path) == tmp_path / "c.txt"
    assert served.hits == []


def test_download_is_verified_cached_and_reused(served):
    path = fetch("sub/c.txt", f"{served.url}/ok.txt", SHA)
    assert path == cache_dir() / "sub" / "c.txt" and path.read_bytes() == BODY
    assert fetch("sub/c.txt", f"{served.url}/ok.txt", SHA) == path
    assert served.hits == ["/ok.txt"], "the second fetch must come from the cache"


def test_wrong_hash_is_refused_and_leaves_nothing(served):
    with pytest.raises(UsageError, match="sha256 .* expected 0000.*refused"):
        fetch("c.txt", f"{served.url}/ok.txt", "0" * 64)
    assert cache_files() == []


def test_dropped_connection_leaves_no_partial_file(served):
    with pytest.raises(UsageError):
        fetch("c.txt", f"{served.url}/short.txt", SHA)
    assert cache_files() == []


def test_unreachable_address_says_what_to_do(served):
    with pytest.raises(UsageError, match="could not download .*HTTP 404.*--data-dir"):
        fetch("c.txt", f"{served.url}/missing.txt", SHA)
    assert cache_files() == []


def test_no_url_and_no_file_names_where_it_looked(tmp_path):
    with pytest.raises(UsageError, match="c.txt not found .*ZOO_DATA"):
        fetch("c.txt", None, None, data_dir=tmp_path)
