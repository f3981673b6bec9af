"""The catalog as a listing: ``zoo.list_models``, the ``zoo models`` table and JSON, and the README's Markdown
tables."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

from zoo.hub.catalog import entries, read_catalog
from zoo.hub.locate import locate
from zoo.hub.shape import cell_label, entry_shape
from zoo.units import human_size

__all__ = [
    "list_models",
    "rows",
    "records",
    "text_table",
    "markdown_table",
    "results_markdown",
    "rewrite",
    "MARKERS",
    "RESULTS_MARKERS",
]

MARKERS = ("<!-- zoo models --markdown: begin -->", "<!-- zoo models --markdown: end -->")
RESULTS_MARKERS = ("<!-- zoo models --results: begin -->", "<!-- zoo models --results: end -->")


def _metric(e: dict[str, Any]) -> str:
    m = e.get("metrics") or {}
    return f"{m['perplexity']:.4f} @ epoch {m['epoch']}" if "perplexity" in m and "epoch" in m else "-"


def _held_out(m: dict[str, Any]) -> str:
    """``valid 5.123 nats (ppl 167.9) @ epoch 4`` (then the test split's), or ``train only`` where the catalog records
    no held-out figure."""
    parts = [
        f"{split} {m[f'{split}_loss']:.3f} nats (ppl {m[f'{split}_perplexity']:#.4g})"
        for split in ("valid", "test")
        if f"{split}_loss" in m and f"{split}_perplexity" in m
    ]
    if not parts:
        return "train only"
    at = f" @ epoch {m.get('epoch', '?')}" + (f", batch {m['kept_batch']}" if "kept_batch" in m else "")
    return ", ".join(parts) + at


def _size(e: dict[str, Any]) -> str:
    w = e.get("weights")
    if not isinstance(w, dict) or "size" not in w:
        return "-"
    return f"{human_size(w['size'])} ({w.get('dtype', 'float32')})"


def _source(e: dict[str, Any]) -> str | None:
    """What the catalog publishes of an entry's weights: ``shipped`` (a file), ``download`` (a URL), or ``None``."""
    w = e.get("weights") or {}
    return "shipped" if "file" in w else "download" if "url" in w else None


def _listed(pattern: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """The catalog entries whose names match ``pattern``, in catalog order: the name, the entry as written, its model
    shape (:func:`~zoo.hub.shape.entry_shape`) and where its weights are here
    (:attr:`~zoo.hub.locate.Located.location`)."""
    catalog, resolved = read_catalog(), entries()
    for name, raw in catalog.items():
        if fnmatch.fnmatch(name, pattern):
            yield name, raw, entry_shape(resolved[name]), locate(name, resolved[name]).location


def list_models(pattern: str = "*") -> list[str]:
    """The catalogued model names matching a shell-style wildcard, sorted (as timm's ``list_models``).

    >>> zoo.list_models("jay_gru*")
    ['jay_gru', 'jay_gru_heldout', 'jay_gru_scratch']
    """
    return sorted(name for name in read_catalog() if fnmatch.fnmatch(name, pattern))


def rows(pattern: str = "*") -> list[dict[str, str]]:
    """One row of text per catalogued model (in catalog order; names matching ``pattern``): name, cell, layers, params,
    metric (training), held_out, source (in the catalog), weights (here), size, dtype."""
    return [
        {
            "name": name,
            "cell": cell_label(model),
            "layers": str(model["layers"]),
            "params": f"{raw['params']:,}" if isinstance(raw.get("params"), int) else "-",
            "metric": _metric(raw),
            "held_out": _held_out(raw.get("metrics") or {}),
            "source": _source(raw) or "-",
            "weights": where,
            "size": _size(raw),
            "dtype": str((raw.get("weights") or {}).get("dtype", "float32")),
        }
        for name, raw, model, where in _listed(pattern)
    ]


def records(pattern: str = "*") -> list[dict[str, Any]]:
    """One JSON object per catalogued model matching ``pattern``, in catalog order (the ``zoo models --json`` schema):
    name, description, dataset, the model (cell, impl, layers, hidden_size, bidirectional, params), the training
    perplexity and the epoch of the weights, the held-out figures (``null`` where the catalog records none), where the
    weights are (``weights``: the word of :attr:`~zoo.hub.locate.Located.location`; ``source``: shipped, download or
    null), their size, dtype and the recipe."""
    out = []
    for name, raw, model, where in _listed(pattern):
        m, w = raw.get("metrics") or {}, raw.get("weights") or {}
        out.append(
            {
                "name": name,
                "description": raw.get("description"),
                "dataset": raw.get("dataset"),
                **{key: model[key] for key in ("cell", "impl", "layers", "hidden_size", "bidirectional")},
                "params": raw.get("params"),
                "train_perplexity": m.get("perplexity"),
                "epoch": m.get("epoch"),
                **{key: m.get(key) for key in ("valid_loss", "valid_perplexity", "test_loss", "test_perplexity")},
                "weights": where,
                "source": _source(raw),
                "size": w.get("size"),
                "dtype": w.get("dtype", "float32") if w else None,
                "recipe": raw.get("recipe"),
            }
        )
    return out


def text_table(items: list[dict[str, str]]) -> str:
    """The rows as an aligned plain-text table."""
    heads = {
        "name": "NAME",
        "cell": "CELL",
        "layers": "LAYERS",
        "params": "PARAMS",
        "metric": "TRAIN PPL",
        "held_out": "HELD-OUT",
        "weights": "WEIGHTS",
    }
    keys = list(heads)
    widths = {k: max(len(heads[k]), *(len(r[k]) for r in items)) if items else len(heads[k]) for k in keys}
    lines = ["  ".join(heads[k].ljust(widths[k]) for k in keys)]
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys) for r in items]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(items: list[dict[str, str]]) -> str:
    """The rows as the README's Markdown table, between its markers; only the catalog decides its content."""
    lines = [
        MARKERS[0],
        "| model | cell | layers | params | training perplexity | held-out (`zoo eval`) | weights | reproduce |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in items:
        shipped = {"shipped": f"shipped, {r['size']}", "download": f"download, {r['size']}"}.get(
            r["source"], "train it"
        )
        how = f"`zoo run {r['name']}`" + (
            f" then `zoo ship {r['name']} runs/{r['name']} --dtype {r['dtype']}`" if r["source"] != "-" else ""
        )
        lines.append(
            f"| `{r['name']}` | {r['cell']} | {r['layers']} | {r['params']} | {r['metric']} | {r['held_out']} "
            f"| {shipped} | {how} |"
        )
    return "\n".join([*lines, MARKERS[1]])


def _measured(metrics: dict[str, Any]) -> str:
    """``1093 @1, 236.8 @2, 1.000 @40`` (four significant digits), then the smoothed loss and the label where
    recorded."""
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
    lines = [
        RESULTS_MARKERS[0],
        "| model | reference (seed document) | measured: training perplexity @ epoch | held-out (`zoo eval`) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{name}` | {e.get('reference', '-')} | {_measured(e.get('metrics') or {})} "
        f"| {_held_out(e.get('metrics') or {})} |"
        for name, e in catalog.items()
    ]
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
            text = text[:start] + render() + text[end + len(markers[1]) :]
            done.append(markers[0])
    return text, done
