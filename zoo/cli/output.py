"""What every ``--json`` prints: one JSON document, indented, its text as written (not ``\\u`` escapes), and a number
that is not finite (NaN weights, an overflowing perplexity) as ``null``, which JSON has no other word for."""

from __future__ import annotations

import json
import math
from typing import Any

import click

__all__ = ["finite", "echo_json", "table"]


def finite(data: Any) -> Any:
    """``data`` with every float that is not finite replaced by ``None``, through dicts, lists and tuples (as lists)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def echo_json(data: Any) -> None:
    """Print ``data`` as JSON on stdout: indented by two spaces, non-ASCII text as is, non-finite numbers as ``null``,
    and a value JSON has no type for (a plugin option's default object) as its ``str``."""
    click.echo(json.dumps(finite(data), indent=2, ensure_ascii=False, allow_nan=False, default=str))


def table(lines: list[tuple[str, ...]], left: int = 1) -> str:
    """Columns aligned, two spaces apart: the first ``left`` to the left (names), the others to the right (numbers)."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    aligned = [
        [cell.ljust(w) if i < left else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))]
        for line in lines
    ]
    return "\n".join("  ".join(cells).rstrip() for cells in aligned)
