"""One run per directory: an advisory lock that the operating system drops when its holder dies."""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat
from pathlib import Path

from zoo.errors import UsageError, ZooError
from zoo.train.diskerror import disk_error

__all__ = ["RunLock"]


def _pid(fd: int) -> str:
    """The pid a lock file holds, as its holder wrote it (``unknown`` when it has not written it yet)."""
    return os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"


class RunLock:
    """An exclusive ``flock`` on ``<run_dir>/.lock``, held while a run writes there.

    A second run into the same directory is refused with one line naming the
    holder's pid. The lock lives on the open file, so a crashed or killed run
    never leaves it stuck: the kernel releases it with the process.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise :class:`~zoo.errors.UsageError` saying who holds it, or why the lock file cannot be
        used.

        A ``.lock`` that is not a regular file, or holds anything but a pid, is not zoo's: it is refused, never
        overwritten.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError as exc:
            raise self._unusable(exc) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode) or not re.fullmatch(rb"\d*\n?", os.pread(fd, 64, 0)):
                raise UsageError(
                    f"{self.path} was not made by zoo (it is not a lock file holding a pid); move it away, "
                    "or pass --out DIR to run elsewhere"
                )
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(
                    f"{self.path.parent} is in use by another run (pid {_pid(fd)}); wait for it to finish, "
                    "or pass --out DIR to run elsewhere"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except BaseException as exc:
            os.close(fd)
            if isinstance(exc, OSError):
                raise self._unusable(exc) from None
            raise
        self._fd = fd
        return self

    def holder(self) -> str | None:
        """The pid (as text) of the run holding the lock right now, or ``None`` when none does; takes nothing.

        Probes with a shared lock, which the kernel refuses while a run holds its exclusive one, and drops it at once.
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            return None  # no lock file (or none of zoo's): no run has it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid(fd)
        finally:
            os.close(fd)  # drops our shared lock too
        return None

    def _unusable(self, exc: OSError) -> ZooError:
        """One line for a lock file the operating system would not let us take."""
        if isinstance(exc, IsADirectoryError) or (exc.errno == errno.ELOOP and self.path.is_symlink()):
            return UsageError(
                f"{self.path} is {'a folder' if self.path.is_dir() else 'a symbolic link'}, where zoo keeps its lock "
                "file; move it away, or pass --out DIR to run elsewhere"
            )
        return disk_error(exc, self.path.parent)

    def release(self) -> None:
        """Drop the lock (the file stays; an unlocked file means nobody holds it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
