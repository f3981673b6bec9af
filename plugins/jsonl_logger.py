"""The ``jsonl`` logger: ``metrics.jsonl`` in the run directory, one JSON record a line. Every run has it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from zoo.plugin import Logger, NoOptions, RunEnd, RunStart, hookimpl, write_text

__all__ = ["JsonlLogger"]


class JsonlLogger(Logger):
    """Each metrics record as a line of ``metrics.jsonl``, the file rewritten whole (atomically) with each record, so
    that it never holds half a line. A resumed run's file holds its checkpoint's records and goes on from there."""

    Options = NoOptions

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()
        self._path: Path | None = None
        self._records: list[dict[str, Any]] = []

    def start(self, run: RunStart, state: dict[str, Any] | None) -> None:
        """Write the records the run has already (none, or a resumed run's), dropping any a killed run wrote after."""
        self._path, self._records = run.run_dir / "metrics.jsonl", list(run.records)
        self._write()

    def log(self, record: dict[str, Any]) -> None:
        """Add ``record`` to the file."""
        self._records.append(record)
        self._write()

    def end(self, run: RunEnd) -> None:
        """Nothing to release: every record is on disk."""

    def _write(self) -> None:
        assert self._path is not None, "start() comes first"
        write_text(self._path, "".join(json.dumps(m) + "\n" for m in self._records))


@hookimpl
def register_loggers(register):
    """Register ``jsonl``."""
    register("jsonl", JsonlLogger)
