"""Model cards from the catalog: the ``zoo models`` table and the README's Markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .catalog import entries, read_catalog
from .hub import availability

__all__ = ["rows", "text_table", "markdown_table", "MARKERS"]

MARKERS = ("<!-- zoo models --markdown: begin -->", "<!-- zoo models --markdown: end -->")


def _metric(e: dict[str, Any]) -> str:
    m = e.get("metrics") or {}
    return f"{m['perplexity']:.4f} @ epoch {m['epoch']}" if "perplexity" in m and "epoch" in m else "-"


def _size(e: dict[str, Any]) -> str:
    w = e.get("weights")
    if not isinstance(w, dict) or "size" not in w:
        return "-"
    return f"{w['size'] / 1e6:.2f} MB ({w.get('dtype', 'float32')})" if w["size"] >= 1e5 else f"{w['size'] / 1e3:.1f} kB ({w.get('dtype', 'float32')})"


def _model_section(recipe: str | None) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(recipe).read_text(encoding="utf-8")) if recipe else {}
    except (OSError, yaml.YAMLError):
        return {}
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, dict) else {}


def rows() -> list[dict[str, str]]:
    """One row per catalogued model: name, cell, layers, params, metric, source (in the catalog), weights (here), size, recipe, dtype."""
    catalog, resolved = read_catalog(), entries()
    out = []
    for name, raw in catalog.items():
        e = resolved[name]
        model = _model_section(e.get("recipe"))
        w = raw.get("weights") if isinstance(raw.get("weights"), dict) else {}
        out.append({
            "name": name,
            "cell": f"{model.get('cell', e.get('cell', '?'))}/{model.get('impl', 'nn')}" + (" bidirectional" if model.get("bidirectional") else ""),
            "layers": str(model.get("layers", 1)),
            "params": f"{raw['params']:,}" if isinstance(raw.get("params"), int) else "-",
            "metric": _metric(raw),
            "source": "shipped" if "file" in w else "download" if "url" in w else "-",
            "weights": availability(name, e),
            "size": _size(raw),
            "dtype": str(w.get("dtype", "float32")),
            "recipe": str(raw.get("recipe", "-")),
        })
    return out


def text_table(items: list[dict[str, str]]) -> str:
    """The rows as an aligned plain-text table."""
    keys = ["name", "cell", "layers", "params", "metric", "weights"]
    widths = {k: max(len(k), *(len(r[k]) for r in items)) if items else len(k) for k in keys}
    lines = ["  ".join(k.upper().ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in items]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(items: list[dict[str, str]]) -> str:
    """The rows as the README's Markdown table, between its markers; only the catalog decides its content."""
    lines = [MARKERS[0], "| model | cell | layers | params | training perplexity | weights | reproduce |", "|---|---|---|---|---|---|---|"]
    for r in items:
        shipped = {"shipped": f"shipped, {r['size']}", "download": f"download, {r['size']}"}.get(r["source"], "train it")
        how = f"`zoo run {r['recipe']}`" + (f" then `zoo ship {r['name']} runs/{r['name']} --dtype {r['dtype']}`" if r["source"] != "-" else "")
        lines.append(f"| `{r['name']}` | {r['cell']} | {r['layers']} | {r['params']} | {r['metric']} | {shipped} | {how} |")
    return "\n".join([*lines, MARKERS[1]])
