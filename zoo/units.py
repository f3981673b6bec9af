"""Quantities written for people: sizes in bytes."""

from __future__ import annotations

__all__ = ["human_size"]


def human_size(n: int) -> str:
    """A size for people, in powers of 1000: ``512 B``, ``17.3 kB``, ``15.2 MB``."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
