"""Shipping a trained run as a catalogued model: weights copied (optionally to float16) and the catalog updated."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from zoo.errors import UsageError
from zoo.hub.catalog import catalog_path, installed_from_wheel, read_catalog, write_catalog
from zoo.hub.data import sha256_of
from zoo.hub.weights import read_weights, save_weights
from zoo.options import unknown
from zoo.train import rundir

__all__ = ["ship", "DTYPES", "VERIFY_EPOCHS"]

DTYPES = {"float32": torch.float32, "float16": torch.float16}
VERIFY_EPOCHS = (1, 2)  # shortened runs `zoo verify` can check, recorded beside the catalog's own epochs
TOLERANCE = 0.01  # a float16 copy must keep the perplexity within 1%
DIGITS = 6  # decimals of the held-out figures (nats and perplexities)
HELD_OUT_SPLITS = ("valid", "test")
HELD_OUT_KEYS = ("valid_loss", "valid_perplexity", "test_loss", "test_perplexity", "valid_loss_at", "kept_batch")


def _perplexities(run_dir: Path, shipped: Path, data_dir: str | Path | None) -> tuple[float, float] | None:
    """Perplexity of the first 2,000 training tokens under the run's weights and under the shipped copy."""
    from zoo.hub.pretrained import load

    original, copy = load(run_dir), load(shipped)
    r = original.recipe
    corpus = r.dataset.build().load(Path(data_dir) if data_dir else None)
    if corpus.task != "next_token" or r.model.core.bidirectional:
        return None
    text = original.vocab.decode(corpus.train[:2000])
    return original.perplexity(text), copy.perplexity(text)


def _held_out(weights: Path, data_dir: str | Path | None) -> dict[str, float]:
    """``valid_loss``/``valid_perplexity`` (and ``test_*``) of the model at ``weights``, scored by
    :meth:`zoo.Model.evaluate` as ``zoo eval`` scores them, for each split its corpus holds (none for a model that has
    no next-token loss)."""
    from zoo.hub.pretrained import load

    model = load(weights)
    if model.task != "next_token" or model.recipe.model.core.bidirectional:
        return {}
    section = model.recipe.dataset
    corpus = section.build().load(Path(data_dir) if data_dir is not None else None)
    figures = {}
    for split in HELD_OUT_SPLITS:
        ids = getattr(corpus, split)
        if ids is not None and len(ids) >= 2:
            s = model.evaluate(split=split, data_dir=data_dir)
            figures |= {f"{split}_loss": round(s.loss, DIGITS), f"{split}_perplexity": round(s.perplexity, DIGITS)}
    return figures


def _measured(
    before: dict[str, Any], records: list[dict[str, Any]], final: dict[str, Any], held_out: dict[str, float]
) -> dict[str, Any]:
    """An entry's ``metrics`` from a run's epoch records, its saved weights' record (``final``) and their held-out
    figures: the training perplexity of the epoch the weights come from (with ``keep: best`` not always the last;
    ``kept_batch`` when they were taken within it), the perplexities (and validation losses) at the epochs the catalog
    keeps, the last one trained included, and the time. Held-out figures recorded before are dropped."""
    history = {m["epoch"]: m for m in records}
    last = records[-1]
    kept = final["epoch"] if final.get("epoch") in history else last["epoch"]
    epochs = [
        e
        for e in sorted(set(before.get("perplexity_at", {})) | set(VERIFY_EPOCHS) | {kept, last["epoch"]})
        if e in history
    ]
    measured = {
        "perplexity": round(history[kept]["perplexity"], 4),
        "epoch": kept,
        "perplexity_at": {e: round(history[e]["perplexity"], 4) for e in epochs},
        **{k: round(last[k], 4) for k in ("smoothed_loss", "steps") if k in last},
        "seconds": round(sum(m.get("seconds", 0.0) for m in records), 1),
        **held_out,
    }
    valid_at = {e: round(history[e]["valid_loss"], DIGITS) for e in epochs if "valid_loss" in history[e]}
    if valid_at:
        measured["valid_loss_at"] = valid_at
    if final.get("batch"):  # the best evaluation fell within an epoch
        measured["kept_batch"] = final["batch"]
    return {**{k: v for k, v in before.items() if k not in HELD_OUT_KEYS}, **measured}


def ship(
    name: str,
    run_dir: str | Path,
    dtype: str = "float32",
    *,
    metrics_only: bool = False,
    data_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Copy ``run_dir``'s weights to ``weights/NAME.safetensors`` beside the catalog and record them in its entry.

    The entry's ``metrics`` (perplexities by epoch, training seconds) and ``samples`` (the last epoch's
    generations) are taken from the run; where its corpus holds out a validation (or test) split, the shipped
    weights (after any float16 conversion) are scored on it as ``zoo eval`` scores them: ``valid_loss``,
    ``valid_perplexity`` (``test_*``).

    :param dtype: ``float16`` halves the file; refused when it moves the perplexity by more than 1%.
    :param metrics_only: record the run's metrics and samples but ship no weights (models too large to ship).
    :param data_dir: a folder searched first for the corpus that the float16 check and the held-out scores read
        (else ``ZOO_DATA``).
    :returns: the updated catalog entry.
    :raises UsageError: when the catalog in use is the one installed with the rnn-zoo wheel (site-packages is not
        the place for one's own models): ``ZOO_REGISTRY`` then names a catalog of one's own.
    """
    path = catalog_path()
    if installed_from_wheel(path):
        raise UsageError(
            f"zoo ship writes the catalog, and {path} is the one installed with the rnn-zoo wheel; copy its folder "
            f"(cp -r {path.parent} my-catalog) and point ZOO_REGISTRY at my-catalog/registry.yaml"
        )
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
        raise UsageError(
            f"{run_dir} is a run of recipe '{wf.recipe.get('name')}', not '{name}'; ship the run of  "
            f"zoo run {models[name].get('recipe')}"
        )
    records = rundir.read_history(run_dir)
    if not records:
        raise UsageError(f"{run_dir / 'metrics.jsonl'} records no finished epoch (or is missing); ship a finished run")
    _, samples = rundir.last_samples(run_dir)  # read before anything is written: a damaged file is refused first
    tensors = {k: v.to(DTYPES[dtype]) if v.is_floating_point() else v for k, v in wf.tensors.items()}
    entry["params"] = sum(t.numel() for t in tensors.values())
    if metrics_only:
        held_out = _held_out(run_dir / "model.safetensors", data_dir)
    else:
        entry["weights"], held_out = _ship_weights(name, run_dir, wf, tensors, dtype, data_dir)
    entry["metrics"] = _measured(dict(entry.get("metrics") or {}), records, wf.metrics, held_out)
    if samples:
        entry["samples"] = samples
    models[name] = entry
    write_catalog(models)
    return entry


def _ship_weights(
    name: str, run_dir: Path, wf: Any, tensors: dict[str, torch.Tensor], dtype: str, data_dir: str | Path | None
) -> tuple[dict[str, Any], dict[str, float]]:
    """Write ``weights/NAME.safetensors`` (replaced only once the new copy passes its check); its catalog ``weights``
    and the new copy's held-out figures."""
    versions = {
        k.removeprefix("zoo.").removesuffix("_version"): v for k, v in wf.metadata.items() if k.endswith("_version")
    }
    out = catalog_path().parent / "weights" / f"{name}.safetensors"
    candidate = out.with_name(
        f".{name}.candidate.safetensors"
    )  # the shipped file is replaced only once this one passes
    try:
        save_weights(candidate, tensors, vocab=wf.vocab, recipe=wf.recipe, metrics=wf.metrics, versions=versions)
        check = _perplexities(run_dir, candidate, data_dir) if dtype != "float32" else None
        if check is not None and abs(check[1] / check[0] - 1) > TOLERANCE:
            raise UsageError(
                f"{dtype} moves the perplexity of {name} from {check[0]:.4f} to {check[1]:.4f} (more than 1%); "
                "ship it as float32"
            )
        weights = {
            "file": f"weights/{name}.safetensors",
            "sha256": sha256_of(candidate),
            "size": candidate.stat().st_size,
            "dtype": dtype,
        }
        if check is not None:
            weights["perplexity_check"] = {
                "float32": round(check[0], 4),
                dtype: round(check[1], 4),
                "text": "first 2,000 training tokens",
            }
        held_out = _held_out(candidate, data_dir)
        os.replace(candidate, out)  # then the catalog at once: the window where they disagree is these two renames
    finally:
        candidate.unlink(missing_ok=True)
    return weights, held_out
