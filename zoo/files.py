"""Reading the files a user names: only regular files, since a FIFO blocks forever and ``/dev/zero`` never ends."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import UsageError

__all__ = ["check_regular"]

_SPECIAL = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
            (stat.S_ISSOCK, "a socket"))


def check_regular(path: str | os.PathLike, what: str, fix: str) -> None:
    """Refuse, in one line, a path that exists but is a FIFO, a device or a socket (from ``os.stat`` alone, never opened).

    A missing file, a directory or an unreadable one is left to the caller's own ``open``, which words it better.

    :param what: how the message starts (``"dataset text"``, ``"recipe"``).
    :param fix: what the user should do instead.
    """
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):  # missing, unreadable, or a NUL byte in the name: the caller's open says so
        return
    if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
        kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
        raise UsageError(f"{what}: {Path(path)} is {kind}, not a regular file; {fix}")
