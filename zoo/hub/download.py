"""Downloads into the cache: verified (length, sha256, a caller's check) or not kept, under an overall deadline.

A download is written to a temporary name beside its cache entry and renamed only once it has passed
every check; a killed download's temporary file is swept the next time that entry is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import math
import os
import re
import stat
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path, temporary_target
from zoo.errors import UsageError

__all__ = [
    "is_sha256",
    "check_sha256",
    "inside",
    "download_timeout",
    "sweep_download",
    "download",
    "CORPUS_ADVICE",
    "TIMEOUT_ENV",
]

CORPUS_ADVICE = "put the file in a folder and pass --data-dir (or set ZOO_DATA)"
TIMEOUT_ENV = "ZOO_DOWNLOAD_TIMEOUT"
_DEFAULT_TIMEOUT = 300.0
_READ_TIMEOUT = 60.0  # the most one connect or read may wait, within the overall deadline
_CHUNK = 1 << 16
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _line(text: str, limit: int = 300) -> str:
    """``text`` as one line (control characters become spaces), cut to ``limit`` characters: servers choose it."""
    text = re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()
    return text if len(text) <= limit else text[:limit] + "..."


def is_sha256(value: Any) -> bool:
    """Whether ``value`` is a sha256 as zoo writes it (catalog, checkpoints): 64 lower-case hexadecimal digits."""
    return isinstance(value, str) and _SHA256.fullmatch(value) is not None


def check_sha256(value: Any, where: str) -> str:
    """``value`` in lower case when it is a sha256 (exactly 64 hex digits); else :class:`UsageError` naming
    ``where``."""
    if isinstance(value, str) and is_sha256(value.lower()):
        return value.lower()
    raise UsageError(_line(f"{where}: a sha256 must be exactly 64 hex digits, not {value!r}; fix it", 400))


def inside(path: Path, root: Path, what: str) -> Path:
    """``path`` when, resolved, it stays inside ``root``; else :class:`UsageError` (no file is touched)."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        raise UsageError(_line(f"{what} {str(path)!r} would lie outside the cache {root}; refused")) from None
    return path


def download_timeout() -> float:
    """The overall deadline of one download in seconds: ``$ZOO_DOWNLOAD_TIMEOUT``, by default 300."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return _DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(
            _line(f"{TIMEOUT_ENV}={value!r} is not a number of seconds above 0; set it to e.g. 300, or unset it")
        )
    return seconds


def sweep_download(dest: Path) -> None:
    """Remove the temporary files that killed downloads of ``dest`` left beside it.

    Only zoo's own temporary names for ``dest`` (``.NAME.XXXXXXXX.tmp``) are touched, and only those
    no live download holds locked, so a download running in another process keeps its file.
    """
    try:
        candidates = [p for p in dest.parent.iterdir() if temporary_target(p.name) == dest.name]
    except OSError:
        return  # no folder yet (nothing to sweep), or one we cannot read: the download reports that
    for tmp in candidates:
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if stat.S_ISREG(os.fstat(fd).st_mode):
                tmp.unlink(missing_ok=True)
        except OSError:
            pass  # locked (a download still writes it), or not ours to remove
        finally:
            os.close(fd)


class _Deadline:
    """A download's overall deadline: once it passes, every connection the download opened is shut down,
    so that no read (of headers or body, however slowly a server trickles them) outlives it."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[Any] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: Any) -> None:
        """Shut ``sock`` down at the deadline (at once when it has passed)."""
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def passed(self) -> bool:
        """Whether the deadline has passed."""
        return self.expired or time.monotonic() > self.end

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: Any) -> None:
    with contextlib.suppress(OSError, ValueError):  # already closed
        sock.shutdown(2)  # socket.SHUT_RDWR: a blocked read returns at once


class _Watching:
    """Mixin for urllib's HTTP(S) handlers: every connection they open is handed to ``deadline``."""

    deadline: _Deadline

    def do_open(self, http_class: type, req: urllib.request.Request, **kwargs: Any) -> Any:
        """Open ``req`` with a connection class that reports its socket to the deadline."""
        deadline = self.deadline

        class Watched(http_class):  # type: ignore[misc, valid-type]
            def connect(self) -> None:
                super().connect()
                deadline.watch(self.sock)

        return super().do_open(Watched, req, **kwargs)  # type: ignore[misc]


class _HTTPHandler(_Watching, urllib.request.HTTPHandler):
    """``http://`` under a deadline."""


class _HTTPSHandler(_Watching, urllib.request.HTTPSHandler):
    """``https://`` under a deadline."""


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    handlers = [_HTTPHandler(), _HTTPSHandler()]
    for handler in handlers:
        handler.deadline = deadline
    return urllib.request.build_opener(*handlers)


def _reason(exc: Exception) -> str:
    """Why a download failed, in a few words."""
    if isinstance(exc, urllib.error.HTTPError):
        exc.close()  # the error response holds the socket open
        if urllib.request.HTTPRedirectHandler.inf_msg.split("\n")[0] in str(exc.msg):
            return f"its redirects go round in a loop (last HTTP {exc.code})"
        return f"HTTP {exc.code} {str(exc.reason).splitlines()[0] if str(exc.reason).strip() else ''}".strip()
    if isinstance(exc, http.client.IncompleteRead):
        return f"the connection closed early ({exc!r})"
    if isinstance(exc, http.client.HTTPException) and not isinstance(exc, OSError):
        return f"the server's answer is not valid HTTP ({type(exc).__name__}: {exc})"
    return str(getattr(exc, "reason", exc)) or type(exc).__name__


def _network(deadline: _Deadline, url: str, advice: str, step: Callable[[], Any]) -> Any:
    """``step()``, a network operation, with its failures turned into one line."""
    try:
        return step()
    except Exception as exc:
        if deadline.passed():
            raise _late(url, deadline) from None
        if isinstance(exc, (OSError, http.client.HTTPException, ValueError)):
            raise UsageError(_line(f"could not download {url}: {_line(_reason(exc))}; {advice}", 1000)) from None
        raise


def _late(url: str, deadline: _Deadline) -> UsageError:
    return UsageError(
        _line(
            f"download of {url} did not finish within {deadline.seconds:g} s ({TIMEOUT_ENV}); "
            f"try again, or set {TIMEOUT_ENV} to more seconds",
            1000,
        )
    )


def _length(value: str | None, url: str) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UsageError(
            _line(f"download of {url} announced an invalid Content-Length {value!r}; refused, nothing cached", 1000)
        )
    return int(value)


def _decoder(encoding: str | None, url: str) -> Any:
    """A zlib decompressor for a gzip-encoded response, ``None`` for a plain one."""
    encoding = (encoding or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(wbits=31)
    if encoding != "identity":
        raise UsageError(
            _line(
                f"download of {url} came {encoding!r}-encoded, which zoo cannot decode; refused, nothing cached", 1000
            )
        )
    return None


def _local_file(url: str) -> None:
    """Refuse a ``file://`` URL that names something other than a regular file (a FIFO, a device): it could block
    forever."""
    if urllib.parse.urlsplit(url).scheme.lower() != "file":
        return
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if path.exists() and not path.is_file():
        raise UsageError(_line(f"{url} names {path}, which is not a regular file; refused", 1000))


def _receive(url: str, tmp: Path, seconds: float, advice: str) -> str:
    """Write the body of ``url`` (decoded) to ``tmp`` within the deadline; returns its sha256.

    Failures of the network are :class:`UsageError`; failures to write ``tmp`` stay ``OSError``.
    """
    h = hashlib.sha256()
    with _Deadline(seconds) as deadline:
        opener = _opener(deadline)
        resp = _network(deadline, url, advice, lambda: opener.open(url, timeout=min(_READ_TIMEOUT, seconds)))
        with resp, open(tmp, "wb") as out:
            fcntl.flock(out.fileno(), fcntl.LOCK_EX)  # tells sweep_download that this file is alive
            chunked = (
                "chunked" in (resp.headers.get("Transfer-Encoding") or "").lower()
            )  # then Content-Length means nothing
            expected = None if chunked else _length(resp.headers.get("Content-Length"), url)
            decoder = _decoder(resp.headers.get("Content-Encoding"), url)
            size = 0
            while chunk := _network(deadline, url, advice, lambda: resp.read(_CHUNK)):
                size += len(chunk)
                if deadline.passed():
                    raise _late(url, deadline)
                if expected is not None and size > expected:
                    raise UsageError(
                        _line(
                            f"download of {url} sent more than the {expected} bytes it announced; refused, "
                            "nothing cached",
                            1000,
                        )
                    )
                data = _decode(decoder, chunk, url)
                h.update(data)
                out.write(data)
            if deadline.passed():
                raise _late(url, deadline)
    if expected is not None and size != expected:
        raise UsageError(_line(f"download of {url} stopped after {size} of {expected} bytes; try again", 1000))
    if decoder is not None and not decoder.eof:
        raise UsageError(_line(f"download of {url} stopped inside its gzip stream; try again", 1000))
    return h.hexdigest()


def _decode(decoder: Any, chunk: bytes, url: str) -> bytes:
    if decoder is None:
        return chunk
    try:
        return decoder.decompress(chunk)
    except zlib.error as exc:
        raise UsageError(_line(f"download of {url} is not valid gzip ({exc}); refused, nothing cached", 1000)) from None


def download(
    url: str,
    dest: Path,
    sha256: str | None,
    *,
    check: Callable[[Path], None] | None = None,
    advice: str = CORPUS_ADVICE,
) -> Path:
    """Download ``url`` to ``dest`` atomically; nothing is left under ``dest`` unless the whole file arrived and passed.

    It passes when its length matches the Content-Length sent (a gzip-encoded body is decoded), its sha256 is
    ``sha256`` (when given), and ``check(path)`` (when given) does not raise. The whole download must end within
    :func:`download_timeout` seconds. Temporary files of earlier, killed downloads of ``dest`` are swept first.

    :param advice: what the user can do when the address cannot be reached (corpora: ``--data-dir``).
    :raises UsageError: one line, when it cannot be downloaded, is refused, or the cache cannot be written.
    """
    seconds = download_timeout()
    _local_file(url)
    made = not dest.parent.exists()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        sweep_download(dest)
        with atomic_path(dest) as tmp:
            digest = _receive(url, tmp, seconds, advice)
            if sha256 is not None and digest != sha256:
                raise UsageError(
                    _line(
                        f"download of {url} has sha256 {digest}, expected {sha256}; refused "
                        "(the file may have changed or been tampered with)",
                        1000,
                    )
                )
            if check is not None:
                check(tmp)
    except OSError as exc:  # the network's errors are UsageError by now: this is the cache
        where = exc.filename or dest.parent
        raise UsageError(
            _line(
                f"cannot write the download cache at {where} ({exc.strerror or exc}); "
                "set XDG_CACHE_HOME to a writable folder with free space",
                1000,
            )
        ) from None
    except UsageError:
        if made:
            with contextlib.suppress(OSError):
                dest.parent.rmdir()  # the entry's folder, made for this download: empty again
        raise
    return dest
