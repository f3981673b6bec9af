"""``zoo verify``: re-run catalogued recipes and compare their perplexities (and validation losses) with the
catalog's."""

from __future__ import annotations

import dataclasses
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zoo.errors import UsageError
from zoo.hub.catalog import entry, read_catalog
from zoo.options import unknown
from zoo.train.runner import run

__all__ = ["Verdict", "verify", "verify_all", "recorded", "recorded_valid", "EARLY_EPOCHS"]

EARLY_EPOCHS = 2  # what a budgeted check trains when the full run takes too long (zoo ship records epochs 1 and 2)


Check = tuple[int, float, float]  # (epoch, measured, expected)


def _off(check: Check) -> float:
    """How far a check lies from the catalog, relatively (``inf`` where nothing was measured)."""
    _, measured, expected = check
    if not math.isfinite(measured):
        return math.inf
    return abs(measured - expected) / abs(expected) if expected else (0.0 if measured == expected else math.inf)


@dataclasses.dataclass
class Verdict:
    """The outcome of one check: every recorded epoch up to ``epoch`` with its measured and catalogued perplexity
    (and validation loss, where the catalog records one).

    :ivar checks: ``(epoch, measured, expected)`` perplexities for each epoch the catalog records, up to ``epoch``;
        ``measured`` is NaN for an epoch the run did not reach.
    :ivar valid: ``(epoch, measured, expected)`` validation losses (nats per token) likewise, from ``valid_loss_at``.
    """

    name: str
    epoch: int
    checks: list[Check]
    rtol: float
    valid: list[Check] = dataclasses.field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        """Whether every measured perplexity and validation loss lies within ``rtol`` (relative) of the catalog's."""
        return all(_off(c) <= self.rtol for c in self.checks + self.valid)

    def shown(self, checks: list[Check]) -> Check:
        """The one of ``checks`` (``self.checks`` or ``self.valid``) a report shows: the last when the run reproduced,
        else the farthest from the catalog, relatively."""
        return checks[-1] if self.reproduced else max(checks, key=_off)

    @property
    def measured(self) -> float:
        """The perplexity measured at ``epoch``."""
        return self.checks[-1][1]

    @property
    def expected(self) -> float:
        """The catalog's perplexity at ``epoch``."""
        return self.checks[-1][2]


def recorded(found: dict[str, Any]) -> dict[int, float]:
    """The perplexities a catalog entry records, by epoch (its final one included)."""
    metrics = found.get("metrics") or {}
    at = {int(k): float(v) for k, v in (metrics.get("perplexity_at") or {}).items()}
    if "epoch" in metrics and "perplexity" in metrics:
        at.setdefault(int(metrics["epoch"]), float(metrics["perplexity"]))
    return dict(sorted(at.items()))


def recorded_valid(found: dict[str, Any]) -> dict[int, float]:
    """The validation losses a catalog entry records, by epoch (``metrics.valid_loss_at``)."""
    at = (found.get("metrics") or {}).get("valid_loss_at") or {}
    return dict(sorted((int(k), float(v)) for k, v in at.items()))


def _entry(name: str, models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if name not in models:
        raise UsageError(f"{unknown('model', name, models)}; zoo verify takes a catalog name")
    found = entry(name)
    assert found is not None
    if not isinstance(found.get("recipe"), str):
        raise UsageError(f"the catalog entry of '{name}' names no recipe; add one to verify it")
    return found


def verify(
    name: str,
    epochs: int | None = None,
    *,
    rtol: float = 0.01,
    data_dir: str | Path | None = None,
    progress: bool = False,
) -> Verdict:
    """Train ``name``'s recipe for ``epochs`` (default: all of them) in a temporary folder and compare
    every epoch the catalog records up to there: perplexities, and validation losses where it records them.

    :raises UsageError: for an unknown name, or an epoch count the catalog records no perplexity for.
    """
    found = _entry(name, read_catalog())
    at = recorded(found)
    epoch = epochs if epochs is not None else (found.get("metrics") or {}).get("epoch")
    if epoch is None:
        raise UsageError(
            f"the catalog records no final epoch for '{name}'; pass --epochs with one of {sorted(at) or 'none'}"
        )
    if epoch not in at:
        raise UsageError(
            f"the catalog records no perplexity of '{name}' at epoch {epoch}; use --epochs with one of "
            f"{sorted(at) or 'none'}"
        )
    with tempfile.TemporaryDirectory(prefix=f"zoo-verify-{name}-") as tmp:
        result = run(
            found["recipe"],
            {"trainer.stop_after": epoch, "predict.every": 0},
            out=Path(tmp) / name,
            data_dir=data_dir,
            progress=progress,
        )
    trained = {m["epoch"]: m for m in result.metrics if "loss" in m}  # epoch records, not mid-epoch evaluations

    def checks(expected: dict[int, float], key: str) -> list[Check]:
        return [(e, trained.get(e, {}).get(key, math.nan), x) for e, x in expected.items() if e <= epoch]

    return Verdict(name, epoch, checks(at, "perplexity"), rtol, checks(recorded_valid(found), "valid_loss"))


def plan(name: str, found: dict[str, Any], epochs: int | None, budget: float | None) -> int:
    """The epochs ``verify_all`` trains ``name`` for: ``epochs``, else its full count, else (when its recorded
    full run took longer than ``budget`` seconds) its early epochs, or only the first when those would take longer
    too (at the recorded seconds per epoch)."""
    if epochs is not None:
        return epochs
    metrics = found.get("metrics") or {}
    full = metrics.get("epoch")
    if full is None:
        raise UsageError(f"the catalog records no final epoch for '{name}'; record one with  zoo ship")
    seconds = metrics.get("seconds")
    if budget is not None and (seconds is None or seconds > budget) and EARLY_EPOCHS in recorded(found):
        early = min(full, EARLY_EPOCHS)
        return 1 if seconds is not None and seconds / full * early > budget and 1 in recorded(found) else early
    return full


def verify_all(
    epochs: int | None = None,
    *,
    budget: float | None = None,
    rtol: float = 0.01,
    data_dir: str | Path | None = None,
    progress: bool = False,
    report: Callable[[Verdict], None] = lambda v: None,
) -> list[Verdict]:
    """Verify every catalog entry, in catalog order; ``report`` is called after each.

    :param epochs: train each for this many epochs (each must record it); default its full count.
    :param budget: seconds: an entry whose full run took longer (``metrics.seconds``) is checked at its
        early epochs (1 and 2) instead, or at epoch 1 alone when two of its epochs take longer too.
    """
    models = read_catalog()
    verdicts = []
    for name in models:
        v = verify(
            name, plan(name, _entry(name, models), epochs, budget), rtol=rtol, data_dir=data_dir, progress=progress
        )
        report(v)
        verdicts.append(v)
    return verdicts
