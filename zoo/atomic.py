"""Atomic file writes: write to a temporary name beside the target, then rename."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_open", "write_text", "sweep_temporaries", "temporary_target"]

_TEMPORARY = re.compile(r"\.(.+)\.[a-z0-9_]{8}\.tmp")  # mkstemp(prefix=".{name}.", suffix=".tmp"): 8 random characters
_UMASK = os.umask(0)  # read once, at import: changing it later, even briefly, would race with other threads
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is fsynced and renamed onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was,
    so a crash never leaves a half-written file under the final name.
    An :class:`OSError` that names no file, or only the temporary one, is made to name ``path``: a
    "disk full" then says which file could not be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path)  # noqa: B904 - re-raises exc itself (made to name path), not a new error
    tmp = Path(name)
    try:
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it, not mkstemp's owner-only mode
        finally:
            os.close(fd)
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # report why the write failed, not why its clean-up did
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _naming(exc, path)  # noqa: B904 - re-raises exc itself (made to name path), not a new error
        raise


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc``, made to name ``path`` where it named no file or one of ``path``'s temporaries (an error without
    an errno, raised by hand with a message of its own, is left as it is)."""
    if exc.errno is None:
        return exc
    if exc.filename is None or temporary_target(Path(os.fsdecode(exc.filename)).name) == path.name:
        exc.filename = str(path)
    return exc


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a file for writing that appears under ``path`` only once fully written."""
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else encoding) as f:
        yield f


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically, UTF-8 encoded."""
    with atomic_open(path) as f:
        f.write(text)


def sweep_temporaries(folder: str | os.PathLike, targets: Collection[str] | Callable[[str], bool]) -> None:
    """Remove the temporary files a killed :func:`atomic_path` left in ``folder`` for the given target names.

    Only names of exactly the form ``mkstemp`` gives them (``.{target}.XXXXXXXX.tmp``) whose target is
    one of ``targets`` (a set of names, or a test on a name) are removed: never a file zoo did not make.
    Call it only while no one else writes there.
    """
    wanted = targets if callable(targets) else targets.__contains__
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        target, tmp = temporary_target(name), Path(folder) / name
        if target is not None and wanted(target) and tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)


def temporary_target(name: str) -> str | None:
    """The file name whose :func:`atomic_path` temporary ``name`` is, or ``None`` when it is not one."""
    found = _TEMPORARY.fullmatch(name)
    return found.group(1) if found else None
