"""``zoo verify``: re-run a catalogued model's recipe and compare its perplexity with the catalog's."""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from .catalog import entry, read_catalog
from .errors import UsageError
from .options import unknown
from .runner import run

__all__ = ["Verdict", "verify"]


@dataclasses.dataclass
class Verdict:
    """The outcome: the epoch compared, the perplexity measured and the catalog's, and whether they agree."""

    name: str
    epoch: int
    measured: float
    expected: float
    rtol: float

    @property
    def reproduced(self) -> bool:
        """Whether ``measured`` lies within ``rtol`` (relative) of ``expected``."""
        return abs(self.measured / self.expected - 1) <= self.rtol


def verify(name: str, epochs: int | None = None, *, rtol: float = 0.01, data_dir: str | Path | None = None, progress: bool = False) -> Verdict:
    """Train ``name``'s recipe for ``epochs`` (default: all of them) in a temporary folder and compare.

    :raises UsageError: for an unknown name, or an epoch count the catalog records no perplexity for.
    """
    found = entry(name)
    if found is None:
        raise UsageError(f"{unknown('model', name, read_catalog())}; zoo verify takes a catalog name")
    metrics = found.get("metrics") or {}
    at = {int(k): float(v) for k, v in (metrics.get("perplexity_at") or {}).items()}
    epoch = epochs if epochs is not None else metrics.get("epoch")
    if epoch is None:
        raise UsageError(f"the catalog records no final epoch for '{name}'; pass --epochs with one of {sorted(at) or 'none'}")
    if epoch not in at and epoch == metrics.get("epoch") and "perplexity" in metrics:
        at[epoch] = float(metrics["perplexity"])
    if epoch not in at:
        raise UsageError(f"the catalog records no perplexity of '{name}' at epoch {epoch}; use --epochs with one of {sorted(at) or 'none'}")
    with tempfile.TemporaryDirectory(prefix=f"zoo-verify-{name}-") as tmp:
        result = run(found["recipe"], {"trainer.epochs": epoch, "predict.every": 0}, out=Path(tmp) / name, data_dir=data_dir, progress=progress)
    return Verdict(name, result.final["epoch"], result.final["perplexity"], at[epoch], rtol)
