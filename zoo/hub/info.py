"""Model cards: what is known of a catalogued model, a run directory or a weights file, gathered for ``zoo info``.

A card holds the description, the resolved recipe, the parameter count, the metrics (training and held out, with the
epochs they were reached at), where the weights are and their sha256, the versions that made them, the last samples and
the command that reproduces the model. Nothing is trained or downloaded to gather it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.hub.data import sha256_of
from zoo.hub.locate import REFS, Located, locate, resolve
from zoo.hub.weights import WeightsFile, read_weights
from zoo.recipe import Recipe, prepare
from zoo.registry import Registry, get_registry
from zoo.train import rundir

__all__ = ["Card", "WeightsInfo", "METRIC_KEYS", "model_card"]

METRIC_KEYS = (
    "epoch",
    "batch",
    "perplexity",
    "valid_loss",
    "valid_perplexity",
    "test_loss",
    "test_perplexity",
    "epochs_trained",
    "seconds",
    "perplexity_at",
    "valid_loss_at",
)
_DTYPES = {"F16": "float16", "BF16": "bfloat16", "F32": "float32", "F64": "float64"}


@dataclasses.dataclass
class WeightsInfo:
    """Where a model's weights are.

    :ivar location: where they are, in the words of :class:`zoo.hub.locate.Located` (``shipped``, ``missing``,
        ``cache``, ``url``, ``run``, ``file`` or ``none``), which ``zoo models`` shows too.
    :ivar available: whether they are on this machine, ready to load without a download.
    """

    location: str
    path: str | None = None
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    dtype: str | None = None
    available: bool = False


@dataclasses.dataclass
class Card:
    """A model card's data; :meth:`to_dict` is what ``zoo info --json`` prints.

    :ivar source: ``catalog``, ``run`` or ``file``: what the card was made from.
    :ivar task: ``next_token`` or ``labelling`` (``None`` when the recipe does not resolve here).
    :ivar metrics: every key of :data:`METRIC_KEYS`, ``None`` (or ``{}`` for the ``*_at`` tables) where unknown: the
        epoch (and batch, for an evaluation within an epoch) the weights come from, their training perplexity and
        held-out figures (loss in nats per token), the epochs trained, the training seconds, and the training perplexity
        and validation loss by epoch.
    :ivar samples: the text generated after the last epoch (``samples_epoch``).
    :ivar reproduce: the command that trains the model again (``None`` for a bare weights file).
    """

    name: str
    source: str
    description: str
    task: str | None
    recipe: dict[str, Any]
    params: int | None
    metrics: dict[str, Any]
    weights: WeightsInfo
    versions: dict[str, str]
    samples: list[str]
    samples_epoch: int | None
    reproduce: str | None

    def to_dict(self) -> dict[str, Any]:
        """The card as plain JSON-ready data (epoch tables keyed by the epoch as a string)."""
        out = dataclasses.asdict(self)
        for key in ("perplexity_at", "valid_loss_at"):
            out["metrics"][key] = {str(e): v for e, v in out["metrics"][key].items()}
        return out


def _finite(value: Any) -> float | int | None:
    """A number as a card shows it: ``None`` for a missing, non-numeric or non-finite one."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return value if ok else None


def _metrics(values: dict[str, Any]) -> dict[str, Any]:
    """A card's metrics from ``values``: every key of :data:`METRIC_KEYS`, non-finite numbers as ``None``."""
    out: dict[str, Any] = {key: _finite(values.get(key)) for key in METRIC_KEYS[:-2]}
    for key in METRIC_KEYS[-2:]:
        out[key] = {int(e): _finite(v) for e, v in sorted((values.get(key) or {}).items(), key=lambda kv: int(kv[0]))}
    return out


def _resolved(source: str | Path | dict[str, Any] | None, registry: Registry) -> tuple[dict[str, Any], Recipe | None]:
    """A recipe (a path or a mapping) with every default filled in, and its :class:`Recipe`; as written (and ``None``)
    when it does not resolve here (a plugin it names is not installed), ``{}`` when there is none."""
    if source is None:
        return {}, None
    try:
        r = prepare(source, registry)
    except UsageError:
        return (dict(source) if isinstance(source, dict) else {}), None
    return r.to_dict(), r


def _weights_facts(wf: WeightsFile) -> tuple[int, str, dict[str, str]]:
    """A weights file's parameter count, dtype (``float16``; ``mixed`` for several) and the versions its metadata
    records."""
    params = sum(math.prod(shape) for _, shape in wf.layout.values())
    dtypes = sorted({_DTYPES.get(dtype, dtype) for dtype, _ in wf.layout.values()})
    versions = {
        k.removeprefix("zoo.").removesuffix("_version"): v
        for k, v in sorted(wf.metadata.items())
        if k.startswith("zoo.") and k.endswith("_version")
    }
    return params, dtypes[0] if len(dtypes) == 1 else "mixed", versions


def _local(where: Located) -> tuple[WeightsInfo, WeightsFile]:
    """The facts of weights on this disk, read from the file: its header, and its bytes for the sha256."""
    path = Path(where.path)
    wf = read_weights(path)
    _, dtype, _ = _weights_facts(wf)
    return WeightsInfo(where.location, str(path), where.url, sha256_of(path), path.stat().st_size, dtype, True), wf


def model_card(ref: str | Path, registry: Registry | None = None) -> Card:
    """Gather the card of ``ref``: a catalog name, a run directory (``runs/NAME`` for a bare name the catalog lacks), or
    a ``.safetensors`` file, told apart as :func:`zoo.hub.locate.resolve` tells them apart for ``zoo.load``.

    :raises UsageError: one line: an unknown name (with the close one), a folder that is not a run, an unreadable file,
        a URL (nothing is downloaded).
    """
    registry = registry or get_registry()
    r = resolve(ref)
    if r.kind == "url":
        raise UsageError(
            f"{r.text}: zoo info downloads nothing; fetch it with  zoo pull {r.text}  and pass the file it prints, "
            f"or pass {REFS}"
        )
    if r.kind == "run":
        return _run_card(Path(r.path), registry)
    if r.kind == "file":
        if Path(r.path).suffix != ".safetensors":
            raise UsageError(f"{r.path} is not a .safetensors file; pass {REFS}")
        return _file_card(Path(r.path), registry)
    return _catalog_card(r.text, r.entry or {}, registry)


def _catalog_card(name: str, found: dict[str, Any], registry: Registry) -> Card:
    """The card of a catalog entry: its recipe file resolved, its recorded metrics and samples, its weights wherever
    :func:`zoo.hub.locate.locate` finds them."""
    w, m = found.get("weights") or {}, found.get("metrics") or {}
    where, wf = locate(name, found), None
    if where.available:
        weights, wf = _local(where)
    else:  # what the catalog records of them
        weights = WeightsInfo(
            where.location,
            None if where.path is None else str(where.path),
            where.url,
            w.get("sha256"),
            w.get("size"),
            w.get("dtype", "float32") if w else None,
        )
    recipe, r = _resolved(found.get("recipe"), registry)
    if r is None and wf is not None:
        recipe, r = _resolved(wf.recipe, registry)
    params, _, versions = _weights_facts(wf) if wf is not None else (found.get("params"), None, {})
    at = {int(e): v for e, v in (m.get("perplexity_at") or {}).items()}
    trained = max([*at, *([m["epoch"]] if "epoch" in m else [])], default=None)
    samples = list(found.get("samples") or [])
    return Card(
        name,
        "catalog",
        found.get("description") or recipe.get("description", ""),
        r.sampler.cls.task if r else None,
        recipe,
        params,
        _metrics({**m, "batch": m.get("kept_batch"), "epochs_trained": trained}),
        weights,
        versions,
        samples,
        trained if samples else None,
        f"zoo run {name}",
    )


def _run_card(path: Path, registry: Registry) -> Card:
    """The card of a run directory: its recipe.yaml resolved, its metrics.jsonl and samples.txt, its
    model.safetensors."""
    has_recipe, has_weights = (path / "recipe.yaml").is_file(), (path / "model.safetensors").is_file()
    if not has_recipe and not has_weights:
        raise UsageError(
            f"{path} is not a zoo run directory (it holds neither recipe.yaml nor model.safetensors); pass {REFS}"
        )
    weights, wf = _local(Located("run", path / "model.safetensors")) if has_weights else (WeightsInfo("none"), None)
    recipe, r = _resolved(path / "recipe.yaml" if has_recipe else None, registry)
    if r is None and wf is not None:
        recipe, r = _resolved(wf.recipe, registry)
    params, _, versions = _weights_facts(wf) if wf is not None else (None, None, {})
    history = rundir.read_history(path)
    kept = (wf.metrics if wf is not None else {}) or (history[-1] if history else {})
    samples_epoch, samples = rundir.last_samples(path)
    metrics = _metrics(
        {
            **kept,
            "epochs_trained": history[-1]["epoch"] if history else None,
            "seconds": round(sum(h.get("seconds", 0.0) for h in history), 1) if history else None,
            "perplexity_at": {h["epoch"]: h.get("perplexity") for h in history},
            "valid_loss_at": {h["epoch"]: h["valid_loss"] for h in history if "valid_loss" in h},
        }
    )
    name = recipe.get("name") if isinstance(recipe.get("name"), str) else path.name
    again = (
        f" --out {path}_again" if rundir.default_dir(name).resolve() == path.resolve() else ""
    )  # else it would refuse its own folder
    reproduce = f"zoo run {path / 'recipe.yaml'}{again}" if has_recipe else None
    return Card(
        name,
        "run",
        recipe.get("description", ""),
        r.sampler.cls.task if r else None,
        recipe,
        params,
        metrics,
        weights,
        versions,
        samples,
        samples_epoch,
        reproduce,
    )


def _file_card(path: Path, registry: Registry) -> Card:
    """The card of a bare weights file: what its metadata records (recipe, final metrics, versions)."""
    weights, wf = _local(Located("file", path))
    recipe, r = _resolved(wf.recipe, registry)
    params, _, versions = _weights_facts(wf)
    name = recipe.get("name") if isinstance(recipe.get("name"), str) else path.stem
    return Card(
        name,
        "file",
        recipe.get("description", ""),
        r.sampler.cls.task if r else None,
        recipe,
        params,
        _metrics(wf.metrics),
        weights,
        versions,
        [],
        None,
        None,
    )
