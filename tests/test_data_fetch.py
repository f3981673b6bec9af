"""Corpus lookup and download: data dir, then cache, then a verified, atomic download (loopback server only)."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from zoo.data import cache_dir, fetch
from zoo.errors import UsageError

BODY = b"hello corpus\n" * 100
SHA = hashlib.sha256(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves BODY at /ok.txt; /short.txt promises more bytes than it sends, then closes."""

    hits: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        Handler.hits.append(self.path)
        if self.path == "/ok.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/short.txt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY) * 2))
            self.end_headers()
            self.wfile.write(BODY)
            self.wfile.flush()
            self.close_connection = True
        else:
            self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    Handler.hits = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def cache_files() -> list[Path]:
    return [p for p in cache_dir().rglob("*") if p.is_file()] if cache_dir().exists() else []


def test_data_dir_comes_first(tmp_path, server):
    (tmp_path / "c.txt").write_bytes(b"local")
    assert fetch("c.txt", f"{server}/ok.txt", SHA, data_dir=tmp_path) == tmp_path / "c.txt"
    assert Handler.hits == []


def test_download_is_verified_cached_and_reused(server):
    path = fetch("sub/c.txt", f"{server}/ok.txt", SHA)
    assert path == cache_dir() / "sub" / "c.txt" and path.read_bytes() == BODY
    assert fetch("sub/c.txt", f"{server}/ok.txt", SHA) == path
    assert Handler.hits == ["/ok.txt"], "the second fetch must come from the cache"


def test_wrong_hash_is_refused_and_leaves_nothing(server):
    with pytest.raises(UsageError, match="sha256 .* expected 0000.*refused"):
        fetch("c.txt", f"{server}/ok.txt", "0" * 64)
    assert cache_files() == []


def test_dropped_connection_leaves_no_partial_file(server):
    with pytest.raises(UsageError):
        fetch("c.txt", f"{server}/short.txt", SHA)
    assert cache_files() == []


def test_unreachable_address_says_what_to_do(server):
    with pytest.raises(UsageError, match="could not download .*HTTP 404.*--data-dir"):
        fetch("c.txt", f"{server}/missing.txt", SHA)
    assert cache_files() == []


def test_no_url_and_no_file_names_where_it_looked(tmp_path):
    with pytest.raises(UsageError, match="c.txt not found .*ZOO_DATA"):
        fetch("c.txt", None, None, data_dir=tmp_path)
