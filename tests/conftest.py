"""Shared fixtures: the corpus folder (skip when absent), a registry, an isolated cache and a loopback HTTP server; and
one thread per worker under ``pytest -n``."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """Under ``pytest -n N`` the N workers share the cores, so each computes on one thread, and so do the processes
    its tests start (unless ``OMP_NUM_THREADS`` says otherwise): thread pools of torch and NumPy, several per core,
    would spin against each other. Results do not change: every test that compares numbers across runs either
    fixes the thread count itself or compares runs made under the same one."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def data_dir() -> Path:
    """The folder named by ZOO_DATA; tests needing a corpus skip when it is not set or lacks the files."""
    value = os.environ.get("ZOO_DATA")
    if not value or not (Path(value) / "jaychou_lyrics.txt.zip").is_file():
        pytest.skip(
            "corpus files not found: set ZOO_DATA to a folder holding jaychou_lyrics.txt.zip (e.g. ../shared/data)"
        )
    return Path(value)


@pytest.fixture
def registry():
    """The installed registry (built-ins loaded through their entry points)."""
    return get_registry()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep downloads and caches of every test out of the user's ~/.cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves the server's ``files``. A path in ``short`` announces more bytes than it sends, then hangs up; one in
    ``nolength`` is sent with no Content-Length (its end is the end of the connection); ``headers`` adds headers to a
    path's answer; a path in ``routes`` is answered by its function, given this handler (raw bytes, trickles,
    redirects)."""

    def do_GET(self):
        """Answer one GET and record it in the server's ``hits``."""
        self.server.hits.append(self.path)
        route = self.server.routes.get(self.path)
        if route is not None:
            route(self)
            self.close_connection = True
            return
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.path not in self.server.nolength:
            self.send_header("Content-Length", str(len(body) + (1000 if self.path in self.server.short else 0)))
        for key, value in self.server.headers.get(self.path, {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, format, *args):
        """Keep the test output quiet."""


@pytest.fixture
def server():
    """A local HTTP server on 127.0.0.1 in a thread: set ``files`` (path -> bytes), ``short``, ``nolength``, ``headers``
    (path -> {name: value}) and ``routes`` (path -> function of the handler); read ``hits`` and ``url``."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.files, srv.short, srv.nolength, srv.headers, srv.routes, srv.hits = {}, set(), set(), {}, {}, []
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
