"""What every ``--json`` prints: one JSON document, indented, its text as written (not ``\\u`` escapes), and a number
that is not finite (NaN weights, an overflowing perplexity) as ``null``, which JSON has no other word for."""

from __future__ import annotations

import json
import math
from typing import Any

import click

__all__ = ["finite", "echo_json"]


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
