"""Disk errors while writing a run directory, as one line naming the path and what to do."""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Iterator
from pathlib import Path

from zoo.errors import RunError, UsageError
from zoo.train.checkpoint import CheckpointStore

__all__ = ["disk_error", "disk_errors"]


# errno -> (what happened, what to do); the first group is the place's fault (bad input before a run starts)
_PLACE = {
    errno.EACCES: ("permission denied", "make the folder writable, or pass --out a folder you may write to"),
    errno.EPERM: ("operation not permitted", "make the folder writable, or pass --out a folder you may write to"),
    errno.EROFS: ("the file system is read-only", "pass --out a folder on a writable disk"),
    errno.ENOTDIR: ("a part of the path is not a folder", "pass --out a folder path"),
    errno.EISDIR: ("it is a folder where zoo writes a file", "move that folder away, or pass --out another folder"),
    errno.EEXIST: ("something else is already there", "move it away, or pass --out another folder"),
    errno.ENAMETOOLONG: ("the path is too long", "pass --out a shorter path"),
    errno.ELOOP: ("too many symbolic links", "pass --out a path without a link loop"),
}
_FAILURE = {
    errno.ENOSPC: ("the disk is full", "free space on it"),
    errno.EDQUOT: ("the disk quota is exhausted", "free space or raise the quota"),
    errno.EFBIG: (
        "the file is larger than the file system (or ulimit -f) allows",
        "pass --out a folder on a file system without that limit, or lower model.hidden_size",
    ),
    errno.EIO: ("an input/output error (a failing disk?)", "check the disk"),
}


def disk_error(exc: OSError, run_dir: Path, started: bool = False) -> RunError | UsageError:
    """The one-line error for ``exc``, raised while writing ``run_dir``: see :func:`disk_errors`."""
    unknown = (exc.strerror or str(exc), "check the disk and the folder")
    what, advice = _PLACE.get(exc.errno) or _FAILURE.get(exc.errno) or unknown
    code = f" ({errno.errorcode[exc.errno]})" if exc.errno in errno.errorcode else ""
    line = f"cannot write {exc.filename or run_dir}: {what}{code}; {advice}"
    if not started:
        return UsageError(line) if exc.errno in _PLACE else RunError(f"{line}, then run again")
    store = CheckpointStore(run_dir)
    if store.exists():
        return RunError(
            f"{line}, then continue with  zoo run --resume {run_dir}  (its last checkpoint, in {store.dir}, is intact)"
        )
    again = f" with  zoo run {run_dir / 'recipe.yaml'} --out {run_dir} " if (run_dir / "recipe.yaml").is_file() else ""
    return RunError(f"{line}, then start the run again{again} (it had written no checkpoint yet)")


@contextlib.contextmanager
def disk_errors(run_dir: Path, started: bool = False) -> Iterator[None]:
    """Turn an operating-system error while writing ``run_dir`` into one line naming the path and what to do.

    :param started: whether training has begun. Before it, a place zoo may not write (permissions, a read-only disk, a
        file where a folder goes) is bad input (:class:`UsageError`, exit 2); a full disk and every error once the run
        has started are failures (:class:`RunError`, exit 1), whose line says how to continue.

    A lost connection to another process of a distributed run passes through untouched: the CLI knows it.
    """
    try:
        yield
    except ConnectionError:
        raise
    except OSError as exc:
        raise disk_error(exc, Path(run_dir), started) from None
