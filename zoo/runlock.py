"""One run per directory: an advisory lock that the operating system drops when its holder dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import UsageError

__all__ = ["RunLock"]


class RunLock:
    """An exclusive ``flock`` on ``<run_dir>/.lock``, held while a run writes there.

    A second run into the same directory is refused with one line naming the
    holder's pid. The lock lives on the open file, so a crashed or killed run
    never leaves it stuck: the kernel releases it with the process.
    """

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        """Take the lock or raise :class:`~zoo.errors.UsageError` saying who holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UsageError(f"{self.path.parent} is in use by another run (pid {holder}); wait for it to finish, "
                             "or pass --out DIR to run elsewhere") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        """Drop the lock (the file stays; an unlocked file means nobody holds it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
