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


def _perplexities(run_dir: Path, shipped: Path) -> tuple[float, float] | None:
    """Perplexity of the first 2,000 training tokens under the run's weights and under the shipped copy."""
    from .pretrained import load

    original, copy = load(run_dir), load(shipped)
    r = original.recipe
    corpus = r.dataset.cls(r.dataset.options).load(None)
    if corpus.task != "next_token" or r.model.core.bidirectional:
        return None
    text = original.vocab.decode(corpus.train[:2000])
    return original.perplexity(text), copy.perplexity(text)


def ship(name: str, run_dir: str | Path, dtype: str = "float32") -> dict[str, Any]:
    """Copy ``run_dir``'s weights to ``weights/NAME.safetensors`` beside the catalog and record them in its entry.

    :param dtype: ``float16`` halves the file; refused when it moves the perplexity by more than 1%.
    :returns: the updated catalog entry.
    """
    models = read_catalog()
    if name not in models:
        raise UsageError(f"{unknown('model', name, models)}; add an entry to {catalog_path()} first")
    if dtype not in DTYPES:
        raise UsageError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    run_dir = Path(run_dir)
    wf = read_weights(run_dir / "model.safetensors")
    if wf.recipe.get("name") != name:
        raise UsageError(f"{run_dir} is a run of recipe '{wf.recipe.get('name')}', not '{name}'; ship the run of  zoo run {models[name].get('recipe')}")
    try:
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        history = {m["epoch"]: m["perplexity"] for m in records}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} is missing or unreadable ({exc}); ship a finished run") from None
    if not history:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} records no epoch; ship a finished run")
    tensors = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in wf.tensors.items()}
    versions = {k.removeprefix("zoo.").removesuffix("_version"): v for k, v in wf.metadata.items() if k.endswith("_version")}
    out = catalog_path().parent / "weights" / f"{name}.safetensors"
    candidate = out.with_name(f".{name}.candidate.safetensors")  # the shipped file is replaced only once this one passes
    try:
        save_weights(candidate, tensors, vocab=wf.vocab, recipe=wf.recipe, metrics=wf.metrics, versions=versions)
        check = _perplexities(run_dir, candidate) if dtype != "float32" else None
        if check is not None and abs(check[1] / check[0] - 1) > TOLERANCE:
            raise UsageError(f"{dtype} moves the perplexity of {name} from {check[0]:.4f} to {check[1]:.4f} (more than 1%); ship it as float32")
        entry = dict(models[name])
        before = dict(entry.get("metrics") or {})
        epochs = sorted(set(before.get("perplexity_at", {})) | set(VERIFY_EPOCHS) | {max(history)})
        extra = {k: round(records[-1][k], 4) for k in ("smoothed_loss", "steps") if k in records[-1]}
        entry["params"] = sum(t.numel() for t in tensors.values())
        entry["metrics"] = {**before, **extra, "perplexity": round(wf.metrics["perplexity"], 4), "epoch": wf.metrics["epoch"],
                            "perplexity_at": {e: round(history[e], 4) for e in epochs if e in history}}
        entry["weights"] = {"file": f"weights/{name}.safetensors", "sha256": sha256_of(candidate), "size": candidate.stat().st_size, "dtype": dtype}
        if check is not None:
            entry["weights"]["perplexity_check"] = {"float32": round(check[0], 4), dtype: round(check[1], 4), "text": "first 2,000 training tokens"}
        os.replace(candidate, out)  # then the catalog at once: the window where they disagree is these two renames
    finally:
        candidate.unlink(missing_ok=True)
    models[name] = entry
    write_catalog(models)
    return entry
