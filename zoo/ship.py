"""Shipping a trained run as a catalogued model: weights copied (optionally to float16) and the catalog updated."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from .catalog import catalog_path, read_catalog, write_catalog
from .data import sha256_of
from .errors import UsageError
from .options import unknown
from .weights import read_weights, save_weights

__all__ = ["ship", "DTYPES", "VERIFY_EPOCHS"]

DTYPES = {"float32": torch.float32, "float16": torch.float16}
VERIFY_EPOCHS = (1, 2)  # shortened runs `zoo verify` can check, recorded beside the catalog's own epochs
TOLERANCE = 0.01  # a float16 copy must keep the perplexity within 1%


def _perplexities(run_dir: Path, shipped: Path, data_dir: str | Path | None) -> tuple[float, float] | None:
    """Perplexity of the first 2,000 training tokens under the run's weights and under the shipped copy."""
    from .pretrained import load

    original, copy = load(run_dir), load(shipped)
    r = original.recipe
    corpus = r.dataset.cls(r.dataset.options).load(Path(data_dir) if data_dir else None)
    if corpus.task != "next_token" or r.model.core.bidirectional:
        return None
    text = original.vocab.decode(corpus.train[:2000])
    return original.perplexity(text), copy.perplexity(text)


def _last_samples(run_dir: Path) -> list[str]:
    """The lines the run generated after its last epoch (``samples.txt``'s last block), or none."""
    try:
        text = (run_dir / "samples.txt").read_text(encoding="utf-8")
    except OSError:
        return []
    block = text.rsplit("epoch ", 1)[-1] if text.startswith("epoch ") else ""
    return [line for line in block.splitlines()[1:] if line]


def _history(run_dir: Path) -> list[dict[str, Any]]:
    """The run's per-epoch records from ``metrics.jsonl``."""
    try:
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        if not all(isinstance(m["epoch"], int) and isinstance(m["perplexity"], float) for m in records):
            raise TypeError("an epoch without its number or perplexity")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} is missing or unreadable ({exc}); ship a finished run") from None
    if not records:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} records no epoch; ship a finished run")
    return records


def _measured(before: dict[str, Any], records: list[dict[str, Any]], final: dict[str, Any]) -> dict[str, Any]:
    """An entry's ``metrics`` from a run: its final figures, the perplexities at the epochs the catalog keeps, the time."""
    history = {m["epoch"]: m["perplexity"] for m in records}
    epochs = sorted(set(before.get("perplexity_at", {})) | set(VERIFY_EPOCHS) | {max(history)})
    extra = {k: round(records[-1][k], 4) for k in ("smoothed_loss", "steps") if k in records[-1]}
    return {**before, **extra, "perplexity": round(final["perplexity"], 4), "epoch": final["epoch"],
            "perplexity_at": {e: round(history[e], 4) for e in epochs if e in history},
            "seconds": round(sum(m.get("seconds", 0.0) for m in records), 1)}


def ship(name: str, run_dir: str | Path, dtype: str = "float32", *, metrics_only: bool = False,
         data_dir: str | Path | None = None) -> dict[str, Any]:
    """Copy ``run_dir``'s weights to ``weights/NAME.safetensors`` beside the catalog and record them in its entry.

    The entry's ``metrics`` (perplexities by epoch, training seconds) and ``samples`` (the last epoch's
    generations) are taken from the run.

    :param dtype: ``float16`` halves the file; refused when it moves the perplexity by more than 1%.
    :param metrics_only: record the run's metrics and samples but ship no weights (models too large to ship).
    :param data_dir: a folder searched first for the corpus that the float16 check reads (else ``ZOO_DATA``).
    :returns: the updated catalog entry.
    """
    models = read_catalog()
    if name not in models:
        raise UsageError(f"{unknown('model', name, models)}; add an entry to {catalog_path()} first")
    if dtype not in DTYPES:
        raise UsageError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    entry = dict(models[name])
    if metrics_only and entry.get("weights") is not None:
        raise UsageError(f"model '{name}' has published weights; ship them with the metrics (leave out --metrics-only)")
    run_dir = Path(run_dir)
    wf = read_weights(run_dir / "model.safetensors")
    if wf.recipe.get("name") != name:
        raise UsageError(f"{run_dir} is a run of recipe '{wf.recipe.get('name')}', not '{name}'; ship the run of  zoo run {models[name].get('recipe')}")
    records = _history(run_dir)
    tensors = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in wf.tensors.items()}
    entry["params"] = sum(t.numel() for t in tensors.values())
    entry["metrics"] = _measured(dict(entry.get("metrics") or {}), records, wf.metrics)
    samples = _last_samples(run_dir)
    if samples:
        entry["samples"] = samples
    if not metrics_only:
        entry["weights"] = _ship_weights(name, run_dir, wf, tensors, dtype, data_dir)
    models[name] = entry
    write_catalog(models)
    return entry


def _ship_weights(name: str, run_dir: Path, wf: Any, tensors: dict[str, torch.Tensor], dtype: str, data_dir: str | Path | None) -> dict[str, Any]:
    """Write ``weights/NAME.safetensors`` (replaced only once the new copy passes its check); its catalog ``weights``."""
    versions = {k.removeprefix("zoo.").removesuffix("_version"): v for k, v in wf.metadata.items() if k.endswith("_version")}
    out = catalog_path().parent / "weights" / f"{name}.safetensors"
    candidate = out.with_name(f".{name}.candidate.safetensors")  # the shipped file is replaced only once this one passes
    try:
        save_weights(candidate, tensors, vocab=wf.vocab, recipe=wf.recipe, metrics=wf.metrics, versions=versions)
        check = _perplexities(run_dir, candidate, data_dir) if dtype != "float32" else None
        if check is not None and abs(check[1] / check[0] - 1) > TOLERANCE:
            raise UsageError(f"{dtype} moves the perplexity of {name} from {check[0]:.4f} to {check[1]:.4f} (more than 1%); ship it as float32")
        weights = {"file": f"weights/{name}.safetensors", "sha256": sha256_of(candidate), "size": candidate.stat().st_size, "dtype": dtype}
        if check is not None:
            weights["perplexity_check"] = {"float32": round(check[0], 4), dtype: round(check[1], 4), "text": "first 2,000 training tokens"}
        os.replace(candidate, out)  # then the catalog at once: the window where they disagree is these two renames
    finally:
        candidate.unlink(missing_ok=True)
    return weights
