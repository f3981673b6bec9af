"""Model cards from the catalog: the ``zoo models`` table and the README's Markdown table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .catalog import entries, read_catalog
from .hub import availability
from .yamlfile import load_yaml

__all__ = ["rows", "text_table", "markdown_table", "results_markdown", "rewrite", "MARKERS", "RESULTS_MARKERS"]

MARKERS = ("<!-- zoo models --markdown: begin -->", "<!-- zoo models --markdown: end -->")
RESULTS_MARKERS = ("<!-- zoo models --results: begin -->", "<!-- zoo models --results: end -->")


def _metric(e: dict[str, Any]) -> str:
    m = e.get("metrics") or {}
    return f"{m['perplexity']:.4f} @ epoch {m['epoch']}" if "perplexity" in m and "epoch" in m else "-"


def _held_out(m: dict[str, Any]) -> str:
    """``valid 5.123 nats (ppl 167.9) @ epoch 4`` (then the test split's), or ``train only`` where the catalog records
    no held-out figure."""
    parts = [f"{split} {m[f'{split}_loss']:.3f} nats (ppl {m[f'{split}_perplexity']:#.4g})" for split in ("valid", "test")
             if f"{split}_loss" in m and f"{split}_perplexity" in m]
    if not parts:
        return "train only"
    at = f" @ epoch {m.get('epoch', '?')}" + (f", batch {m['kept_batch']}" if "kept_batch" in m else "")
    return ", ".join(parts) + at


def _size(e: dict[str, Any]) -> str:
    w = e.get("weights")
    if not isinstance(w, dict) or "size" not in w:
        return "-"
    return f"{w['size'] / 1e6:.2f} MB ({w.get('dtype', 'float32')})" if w["size"] >= 1e5 else f"{w['size'] / 1e3:.1f} kB ({w.get('dtype', 'float32')})"


def _model_section(recipe: str | None) -> dict[str, Any]:
    try:
        data = load_yaml(Path(recipe).read_text(encoding="utf-8")) if recipe else {}
    except (OSError, yaml.YAMLError):
        return {}
    model = data.get("model") if isinstance(data, dict) else None
    return model if isinstance(model, dict) else {}


def rows() -> list[dict[str, str]]:
    """One row per catalogued model: name, cell, layers, params, metric (training), held_out, source (in the catalog),
    weights (here), size, recipe, dtype."""
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
            "held_out": _held_out(raw.get("metrics") or {}),
            "source": "shipped" if "file" in w else "download" if "url" in w else "-",
            "weights": availability(name, e),
            "size": _size(raw),
            "dtype": str(w.get("dtype", "float32")),
            "recipe": str(raw.get("recipe", "-")),
        })
    return out


def text_table(items: list[dict[str, str]]) -> str:
    """The rows as an aligned plain-text table."""
    heads = {"name": "NAME", "cell": "CELL", "layers": "LAYERS", "params": "PARAMS", "metric": "TRAIN PPL",
             "held_out": "HELD-OUT", "weights": "WEIGHTS"}
    keys = list(heads)
    widths = {k: max(len(heads[k]), *(len(r[k]) for r in items)) if items else len(heads[k]) for k in keys}
    lines = ["  ".join(heads[k].ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in items]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(items: list[dict[str, str]]) -> str:
    """The rows as the README's Markdown table, between its markers; only the catalog decides its content."""
    lines = [MARKERS[0], "| model | cell | layers | params | training perplexity | held-out (`zoo eval`) | weights | reproduce |",
             "|---|---|---|---|---|---|---|---|"]
    for r in items:
        shipped = {"shipped": f"shipped, {r['size']}", "download": f"download, {r['size']}"}.get(r["source"], "train it")
        how = f"`zoo run {r['recipe']}`" + (f" then `zoo ship {r['name']} runs/{r['name']} --dtype {r['dtype']}`" if r["source"] != "-" else "")
        lines.append(f"| `{r['name']}` | {r['cell']} | {r['layers']} | {r['params']} | {r['metric']} | {r['held_out']} | {shipped} | {how} |")
    return "\n".join([*lines, MARKERS[1]])


def _measured(metrics: dict[str, Any]) -> str:
    """``1093 @1, 236.8 @2, 1.000 @40`` (four significant digits), then the smoothed loss and the label where recorded."""
    at = {int(k): v for k, v in (metrics.get("perplexity_at") or {}).items()}
    if "epoch" in metrics and "perplexity" in metrics:
        at.setdefault(int(metrics["epoch"]), metrics["perplexity"])
    parts = [f"{v:.0f} @{e}" if v >= 1000 else f"{v:#.4g} @{e}" for e, v in sorted(at.items())]  # 1.000, not 1
    if "smoothed_loss" in metrics:
        parts.append(f"smoothed loss {metrics['smoothed_loss']:.2f} @{metrics.get('epoch', '?')}")
    if "label" in metrics:
        parts.append(f'labels "{metrics["label"]}"')
    return ", ".join(parts) or "-"


def results_markdown(catalog: dict[str, dict[str, Any]] | None = None) -> str:
    """The README's results, between their markers: per model the seed document's figures (``reference``) beside the
    training perplexities the catalog records by epoch and the held-out figures of its weights (``train only`` where
    none), then the samples each run generated after its last epoch."""
    catalog = read_catalog() if catalog is None else catalog
    lines = [RESULTS_MARKERS[0], "| model | reference (seed document) | measured: training perplexity @ epoch | held-out (`zoo eval`) |",
             "|---|---|---|---|"]
    lines += [f"| `{name}` | {e.get('reference', '-')} | {_measured(e.get('metrics') or {})} | {_held_out(e.get('metrics') or {})} |"
              for name, e in catalog.items()]
    sampled = [(name, line) for name, e in catalog.items() for line in e.get("samples", [])]
    if sampled:
        width = max(len(name) for name, _ in sampled)
        lines += ["", "Generated after the last epoch (each run's `samples.txt`):", "", "```text"]
        lines += [f"{name.ljust(width)}  {line}".rstrip() for name, line in sampled] + ["```"]
    return "\n".join([*lines, RESULTS_MARKERS[1]])


def rewrite(text: str) -> tuple[str, list[str]]:
    """Replace every generated block found in ``text`` (the model table, the results) with the catalog's current one.

    :returns: the new text and the start markers of the blocks replaced (none: the text has no markers).
    """
    done = []
    for markers, render in ((MARKERS, lambda: markdown_table(rows())), (RESULTS_MARKERS, results_markdown)):
        start, end = text.find(markers[0]), text.find(markers[1])
        if start >= 0 and end > start:
            text = text[:start] + render() + text[end + len(markers[1]):]
            done.append(markers[0])
    return text, done
