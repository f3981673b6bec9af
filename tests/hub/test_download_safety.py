"""Downloads are verified or not cached, bounded in time, kept inside the cache, and fail in one line (issue 13: 2, 5,
6, 12, 15)."""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import hashlib
import io
import os
import re
import threading
import time
from pathlib import Path

import pytest

import zoo
from zoo.cli import main
from zoo.errors import UsageError
from zoo.hub.data import cache_dir, fetch
from zoo.hub.locate import cached_path, pull

ROOT = Path(__file__).resolve().parents[2]
DINOS = (ROOT / "weights" / "dinos_rnn.safetensors").read_bytes()
OTHER = (ROOT / "weights" / "hello_ohlol_rnn.safetensors").read_bytes()
SHA = hashlib.sha256(DINOS).hexdigest()
ZOO_TIMEOUT = "ZOO_DOWNLOAD_TIMEOUT"


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A folder holding the cache (``xdg/``) and the current directory (``cwd/``), so that a file written anywhere but
    inside the cache shows up in :func:`files_under`."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(ZOO_TIMEOUT, raising=False)
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def files_under(folder: Path) -> list[Path]:
    """Every file and folder below ``folder``."""
    return sorted(folder.rglob("*")) if folder.exists() else []


def cached() -> list[Path]:
    """Every file in the cache, temporary ones included."""
    return sorted(p for p in cache_dir().rglob("*") if p.is_file()) if cache_dir().exists() else []


def cli(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in this process: exit code, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def one_line_error(code: int, err: str, expected: int = 2) -> str:
    """The CLI exited with ``expected`` and said why in one ``Error:`` line, no traceback or internal error."""
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert code == expected and len(lines) == 1 and lines[0].startswith("Error: "), err
    assert "internal error" not in err and "Traceback" not in err, err
    return lines[0]


# -- item 2: committed only when complete and a safetensors file -------------------------------------------------


def test_a_truncated_body_without_content_length_is_not_cached(home, server):
    server.files["/m.safetensors"] = DINOS[:-100]
    server.nolength.add("/m.safetensors")
    with pytest.raises(UsageError, match="is not a safetensors file .*refused, nothing cached"):
        pull(f"{server.url}/m.safetensors")
    assert cached() == []
    server.files["/m.safetensors"] = DINOS  # the server is mended: the next use downloads it again
    path = pull(f"{server.url}/m.safetensors")
    assert path.read_bytes() == DINOS and cached() == [path] and len(server.hits) == 2
    assert zoo.load(f"{server.url}/m.safetensors").vocab is not None and len(server.hits) == 2


def test_a_body_that_is_not_safetensors_is_refused(home, server):
    server.files["/m.safetensors"] = b"<html>the page you wanted has moved</html>"
    with pytest.raises(UsageError, match="not a safetensors file"):
        zoo.load(f"{server.url}/m.safetensors")
    assert files_under(cache_dir() / "models") == [], "not even an empty folder for the entry"


def test_a_truncated_cached_entry_is_downloaded_again(home, server):
    server.files["/m.safetensors"] = DINOS
    dest = cached_path(f"{server.url}/m.safetensors", None)
    dest.parent.mkdir(parents=True)
    dest.write_bytes(DINOS[:500])  # what a zoo before this fix left behind
    assert pull(f"{server.url}/m.safetensors").read_bytes() == DINOS and server.hits == ["/m.safetensors"]


def test_zoo_pull_of_etc_passwd_is_refused_and_not_cached(home):
    line = one_line_error(*cli(["pull", "file:///etc/passwd"])[::2])
    assert "not a safetensors file" in line
    assert cached() == [] and files_under(home / "cwd") == []


def test_a_gzip_encoded_answer_is_decoded(home, server):
    server.files["/m.safetensors"] = gzip.compress(DINOS)
    server.headers["/m.safetensors"] = {"Content-Encoding": "gzip"}
    path = pull(f"{server.url}/m.safetensors#sha256={SHA}")
    assert path.read_bytes() == DINOS


def test_a_broken_or_unknown_encoding_is_refused(home, server):
    server.files |= {"/cut.safetensors": gzip.compress(DINOS)[:-40], "/br.safetensors": DINOS}
    server.nolength.add("/cut.safetensors")
    server.headers |= {"/cut.safetensors": {"Content-Encoding": "gzip"}, "/br.safetensors": {"Content-Encoding": "br"}}
    with pytest.raises(UsageError, match="stopped inside its gzip stream"):
        pull(f"{server.url}/cut.safetensors")
    with pytest.raises(UsageError, match="'br'-encoded, which zoo cannot decode"):
        pull(f"{server.url}/br.safetensors")
    assert cached() == []


def test_zoo_pull_refresh_replaces_the_cached_entry(home, server):
    url = f"{server.url}/m.safetensors"
    server.files["/m.safetensors"] = DINOS
    code, out, err = cli(["pull", url])
    assert code == 0, err
    path = cached_path(url, None)
    server.files["/m.safetensors"] = OTHER  # the address now serves new weights
    assert cli(["pull", url])[0] == 0 and path.read_bytes() == DINOS and len(server.hits) == 1
    server.files["/m.safetensors"] = b"oops"  # a refresh that fails keeps the cached copy
    assert "not a safetensors file" in one_line_error(*cli(["pull", "--refresh", url])[::2])
    assert path.read_bytes() == DINOS
    server.files["/m.safetensors"] = OTHER
    code, out, err = cli(["pull", "--refresh", url])
    assert code == 0 and str(path) in out, err
    assert path.read_bytes() == OTHER and cached() == [path] and len(server.hits) == 3


# -- item 5: an overall deadline, and temporaries of killed downloads swept ----------------------------------


def _trickle_body(handler):
    """Announce 1000 bytes, then send one every 0.2 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    _trickle(handler, b"\0" * 1000)


def _trickle_headers(handler):
    """Send the status line and an endless header one byte every 0.2 s."""
    _trickle(handler, b"HTTP/1.0 200 OK\r\nX-Slow: " + b"a" * 1000)


def _trickle(handler, data: bytes):
    with contextlib.suppress(OSError):
        for i in range(len(data)):
            handler.wfile.write(data[i : i + 1])
            handler.wfile.flush()
            time.sleep(0.2)


@pytest.mark.parametrize("route", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_a_trickling_server_hits_the_deadline(home, server, monkeypatch, route):
    monkeypatch.setenv(ZOO_TIMEOUT, "1")
    server.routes["/m.safetensors"] = route
    start = time.monotonic()
    with pytest.raises(
        UsageError, match=r"did not finish within 1 s \(ZOO_DOWNLOAD_TIMEOUT\); try again, or set ZOO_DOWNLOAD_TIMEOUT"
    ):
        pull(f"{server.url}/m.safetensors")
    assert time.monotonic() - start < 3
    assert cached() == []


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_bad_download_timeout_is_one_line_naming_it(home, server, monkeypatch, value):
    monkeypatch.setenv(ZOO_TIMEOUT, value)
    server.files["/m.safetensors"] = DINOS
    with pytest.raises(UsageError, match=f"^ZOO_DOWNLOAD_TIMEOUT='{value}' is not a number of seconds above 0"):
        pull(f"{server.url}/m.safetensors")
    assert server.hits == [] and cached() == []


def test_temporaries_of_a_killed_download_are_swept_on_next_use(home, server):
    url = f"{server.url}/m.safetensors"
    server.files["/m.safetensors"] = DINOS
    dest = cached_path(url, None)
    dest.parent.mkdir(parents=True)
    killed = dest.parent / f".{dest.name}.k1ll3d_x.tmp"  # what atomic_path left when its process was killed
    live = dest.parent / f".{dest.name}.l1ve_abc.tmp"  # one that a running download holds locked
    stranger = dest.parent / ".notes.tmp"
    for p in (killed, live, stranger):
        p.write_bytes(b"partial")
    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        pull(url)
        assert not killed.exists() and live.exists() and stranger.exists()
        killed.write_bytes(b"partial")  # a killed --refresh: the next use, served from the cache, sweeps it too
        pull(url)
        assert not killed.exists() and live.exists() and server.hits == ["/m.safetensors"]


def test_temporaries_of_a_killed_corpus_download_are_swept_on_next_use(home):
    corpus = cache_dir() / "c.txt"
    corpus.parent.mkdir(parents=True)
    corpus.write_bytes(b"text")
    killed = cache_dir() / ".c.txt.k1ll3d_x.tmp"
    killed.write_bytes(b"par")
    assert fetch("c.txt", None, None) == corpus and not killed.exists()


# -- item 6: hashes are 64 hex digits, paths stay inside the cache ---------------------------------------------


@pytest.mark.parametrize(
    "fragment",
    [
        "sha256=../../../escape/",
        "sha256=abc",
        "sha256=" + "g" * 64,
        "sha256=" + "0" * 65,
        "sha256=",
        "sha=" + "0" * 64,
        "",
    ],
)
def test_a_bad_sha256_fragment_is_refused_before_any_file_is_touched(home, server, fragment):
    server.files["/m.safetensors"] = DINOS
    with pytest.raises(UsageError) as exc:
        pull(f"{server.url}/m.safetensors#{fragment}")
    assert "64 hex digits" in str(exc.value) and "\n" not in str(exc.value)
    assert files_under(home) == [home / "cwd"] and server.hits == []


def test_an_upper_case_sha256_is_accepted(home, server):
    server.files["/m.safetensors"] = DINOS
    path = pull(f"{server.url}/m.safetensors#sha256={SHA.upper()}")
    assert path == cached_path(f"{server.url}/m.safetensors", SHA) and path.read_bytes() == DINOS


def test_a_catalog_sha256_cannot_steer_files_out_of_the_cache(home, server, monkeypatch):
    catalog = home / "registry.yaml"
    catalog.write_text(
        f"models:\n  bad:\n    weights: {{url: '{server.url}/m.safetensors', sha256: '../../../escape/'}}\n"
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(catalog))
    server.files["/m.safetensors"] = DINOS
    line = one_line_error(*cli(["pull", "bad"])[::2])
    assert "sha256" in line
    assert files_under(home) == [home / "cwd", catalog] and server.hits == []


@pytest.mark.parametrize("tail", ["..", ".", "", "a/..", "m.safetensors?x=/../../.."])
def test_a_url_name_cannot_leave_the_cache(home, server, tail):
    server.files["/" + tail] = DINOS
    path = pull(f"{server.url}/{tail}")
    assert path.is_relative_to(cache_dir() / "models") and path.read_bytes() == DINOS
    assert [p for p in files_under(home) if p.is_file()] == [path]


def test_a_corpus_path_cannot_leave_the_cache(home, server):
    server.files["/c.txt"] = b"text"
    with pytest.raises(UsageError, match="outside the cache"):
        fetch("../../escape.txt", f"{server.url}/c.txt", hashlib.sha256(b"text").hexdigest())
    with pytest.raises(UsageError, match="64 hex digits"):
        fetch("c.txt", f"{server.url}/c.txt", "../../")
    assert files_under(home) == [home / "cwd"] and server.hits == []


def test_a_file_url_to_a_fifo_is_refused_at_once(home):
    fifo = home / "fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []
    worker = threading.Thread(target=lambda: _catch(outcome, lambda: pull(fifo.as_uri())), daemon=True)
    worker.start()
    worker.join(5)
    assert not worker.is_alive(), "zoo pull of a FIFO blocked"
    assert isinstance(outcome[0], UsageError) and "not a regular file" in str(outcome[0])


def _catch(outcome: list[BaseException], step) -> None:
    try:
        step()
    except BaseException as exc:  # handed to the test's thread
        outcome.append(exc)


# -- item 12: HTTP errors and a read-only cache are one line ------------------------------------------------------


def _raw(data: bytes):
    def route(handler):
        handler.wfile.write(data)

    return route


def _redirect_to_itself(handler):
    handler.send_response(302)
    handler.send_header("Location", handler.path)
    handler.send_header("Content-Length", "0")
    handler.end_headers()


@pytest.mark.parametrize(
    "route, needle",
    [
        (_raw(b"HELLO WORLD\r\n\r\n"), "not valid HTTP (BadStatusLine"),
        (_raw(b"HTTP/1.0 200 OK\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n"), "not valid HTTP (LineTooLong"),
        (_raw(b"HTTP/1.0 200 OK\r\nContent-Length: lots\r\n\r\nabc"), "invalid Content-Length"),
        (_raw(b""), "Remote end closed connection"),
        (
            _raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n400\r\nabc"),
            "the connection closed early (IncompleteRead",
        ),
        (_redirect_to_itself, "redirects go round in a loop"),
    ],
    ids=["bad-status-line", "line-too-long", "bad-length", "hang-up", "chunk-cut", "redirect-loop"],
)
def test_http_failures_are_one_line(home, server, route, needle):
    server.routes["/m.safetensors"] = route
    line = one_line_error(*cli(["pull", f"{server.url}/m.safetensors"])[::2])
    assert needle in line and len(line) < 600
    assert cached() == []


def test_an_unwritable_cache_advises_another_cache_not_data_dir(home, server, monkeypatch):
    blocker = home / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "cache"))
    server.files["/m.safetensors"] = DINOS
    line = one_line_error(*cli(["pull", f"{server.url}/m.safetensors"])[::2])
    assert "cannot write the download cache" in line and "XDG_CACHE_HOME" in line and "--data-dir" not in line


# -- item 15: advice that fits ----------------------------------------------------------------------------------


def test_a_failed_model_download_does_not_advise_data_dir(home, server):
    with pytest.raises(UsageError) as exc:
        zoo.load(f"{server.url}/missing.safetensors")
    assert "HTTP 404" in str(exc.value) and "--data-dir" not in str(exc.value) and "ZOO_DATA" not in str(exc.value)
    line = one_line_error(*cli(["predict", f"{server.url}/missing.safetensors", "--prefix", "a"])[::2])
    assert "HTTP 404" in line and "--data-dir" not in line and "ZOO_DATA" not in line
    with pytest.raises(UsageError, match="HTTP 404.*--data-dir"):  # corpora keep theirs
        fetch("c.txt", f"{server.url}/missing.txt", None)


def test_an_unfinished_run_suggests_resume(home):
    run = home / "cwd" / "runs" / "half"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "checkpoint.json").write_text("{}")
    with pytest.raises(UsageError, match=f"has not finished.*zoo run --resume {re.escape(str(run))}$"):
        zoo.load(run)
    line = one_line_error(*cli(["predict", str(run), "--prefix", "a"])[::2])
    assert f"zoo run --resume {run}" in line
