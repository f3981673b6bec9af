"""Reading the files a user names: only regular files, since a FIFO blocks forever and ``/dev/zero`` never ends."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from zoo.errors import UsageError

__all__ = ["check_regular", "read_text"]

_SPECIAL = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def check_regular(path: str | os.PathLike, what: str, fix: str) -> None:
    """Refuse, in one line, a path that exists but is a FIFO, a device or a socket (from ``os.stat`` alone, never
    opened).

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


def read_text(path: Path, what: str) -> str:
    """Read a UTF-8 text file (universal newlines); any failure is one :class:`UsageError` line.

    Only a regular file is opened: a FIFO would block the read forever and a device such as
    ``/dev/zero`` never ends, so both are refused from ``os.stat`` alone.
    """
    try:
        check_regular(path, what, "name a text file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"{what}: file {path} not found; check the path (relative paths start at the current directory)"
        ) from None
    except IsADirectoryError:
        raise UsageError(f"{what}: {path} is a directory, not a text file; name a file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{what}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc.strerror or exc}); check its permissions") from None
    except ValueError:  # a NUL byte in the name (UnicodeDecodeError, also a ValueError, is caught above)
        raise UsageError(f"{what}: {str(path)!r} holds a NUL byte, which no file name can; fix the path") from None
