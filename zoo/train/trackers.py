"""A run's loggers (:class:`zoo.interfaces.Logger`): ``metrics.jsonl``'s, always, then those the recipe names.

:class:`Trackers` tells each of them of the run, in order, on the main process. ``jsonl`` writes the run directory's
own record, so its errors are the run's (a full disk stops the run, in one line, as any write there does). Any other
logger that raises is disabled for the rest of the run with one warning naming it, and the run goes on: a tracker's
server being down never costs a training run.

Its :meth:`~Trackers.state_dict` goes into every checkpoint (``state.run.loggers``): the optimizer steps logged so far
and each logger's own state, so that a resumed run's loggers continue where the checkpoint stood (see
:class:`zoo.interfaces.Logger` on one point per step).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from zoo.errors import Interrupted, StopRun
from zoo.interfaces import Logger, RunEnd, RunStart

__all__ = ["ALWAYS", "LoggerWarning", "Trackers"]

ALWAYS = "jsonl"  # the logger every run has: metrics.jsonl in the run directory


class LoggerWarning(UserWarning):
    """A logger failed and was disabled; the run goes on."""


class Trackers:
    """The loggers of one run, by name, ``jsonl`` first; empty on a distributed run's other processes.

    :param loggers: ``(name, logger)`` pairs in the order they are told of the run.
    """

    def __init__(self, loggers: Sequence[tuple[str, Logger]] = ()):
        self._loggers = dict(loggers)
        self.steps = 0  # the optimizer steps of the last record passed on: where a checkpoint taken now stands

    def check(self) -> None:
        """Each logger's :meth:`~zoo.interfaces.Logger.check`: one line for one that cannot work here."""
        for logger in self._loggers.values():
            logger.check()

    def start(self, run: RunStart, states: dict[str, Any] | None) -> None:
        """Start each logger (``states``: what a resumed run's checkpoint saved, see :meth:`state_dict`)."""
        saved = (states or {}).get("loggers", {})
        if run.resumed_at is not None:
            self.steps = run.resumed_at
        for name, logger in list(self._loggers.items()):
            self._call(name, lambda logger=logger, name=name: logger.start(run, saved.get(name)))

    @contextlib.contextmanager
    def running(self, run: RunStart, states: dict[str, Any] | None) -> Iterator[RunEnd]:
        """Start the loggers, and end them however the block ends: the block fills in the :class:`RunEnd` it is given
        (``metrics`` and ``files``) when the run finishes; an exception ends them as ``interrupted``
        (:class:`~zoo.errors.Interrupted`, Ctrl-C, a logger's :class:`~zoo.errors.StopRun`) or ``failed``, and goes
        on."""
        self.start(run, states)
        outcome = RunEnd("finished")
        try:
            yield outcome
        except (Interrupted, KeyboardInterrupt, StopRun):
            self.end(RunEnd("interrupted"))
            raise
        except BaseException:
            self.end(RunEnd("failed"))
            raise
        self.end(outcome)

    def log(self, record: dict[str, Any]) -> None:
        """A metrics record (an epoch's, or an evaluation's within one) to every logger."""
        self.steps = record.get("steps", self.steps)
        for name, logger in list(self._loggers.items()):
            self._call(name, lambda logger=logger: logger.log(record))

    def batch(self, record: dict[str, Any]) -> None:
        """One optimizer step's record to the loggers that asked for them (``batches = True``)."""
        self.steps = record["steps"]
        for name, logger in list(self._loggers.items()):
            if logger.batches:
                self._call(name, lambda logger=logger: logger.log(record))

    def samples(self, epoch: int, lines: list[str]) -> None:
        """The text generated after ``epoch``, at the current step."""
        for name, logger in list(self._loggers.items()):
            self._call(name, lambda logger=logger: logger.samples(epoch, self.steps, lines))

    def end(self, run: RunEnd) -> None:
        """Tell every logger the run ended, however it ended."""
        for name, logger in list(self._loggers.items()):
            self._call(name, lambda logger=logger: logger.end(run))

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: ``steps`` and, under ``loggers``, each logger's own state (JSON values)."""
        states: dict[str, Any] = {}

        def keep(name: str, logger: Logger) -> None:
            states[name] = logger.state_dict()

        for name, logger in list(self._loggers.items()):
            self._call(name, lambda name=name, logger=logger: keep(name, logger))
        return {"steps": self.steps, "loggers": states}

    def _call(self, name: str, action: Callable[[], None]) -> None:
        """Run ``action``; if it raises (and ``name`` is not ``jsonl``), disable that logger with one warning, but let
        :class:`~zoo.errors.StopRun` end the run."""
        if name not in self._loggers:
            return
        if name == ALWAYS:
            action()
            return
        try:
            action()
        except StopRun:
            raise
        except Exception as exc:
            del self._loggers[name]
            text = " ".join(str(exc).split())
            reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            warnings.warn(
                f"logger '{name}' failed and is disabled for the rest of this run ({reason}); the run goes on, and "
                "metrics.jsonl has every record",
                LoggerWarning,
                stacklevel=2,
            )
