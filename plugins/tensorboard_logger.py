"""The ``tensorboard`` logger: scalars, the recipe, the samples and the hyperparameters, for TensorBoard.

It writes through ``torch.utils.tensorboard`` into ``<run dir>/tensorboard`` by default, so that
``tensorboard --logdir runs`` shows every run by its folder, and its HParams tab compares them. The ``tensorboard``
package is an optional extra: ``pip install 'rnn-zoo[tensorboard]'``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from typing import Any

from zoo.plugin import Logger, RunEnd, RunStart, UsageError, hookimpl, measures, option

__all__ = ["TensorBoardLogger", "TensorBoardOptions", "tag"]

_SPEED = ("tokens_per_s", "seconds", "valid_seconds")


def tag(key: str) -> str:
    """The scalar's name for a record's key, grouped as TensorBoard shows them: ``valid/loss``, ``train/loss``,
    ``train/lr``, ``speed/tokens_per_s``."""
    if key in _SPEED:
        return f"speed/{key}"
    if key.startswith("valid_"):
        return f"valid/{key.removeprefix('valid_')}"
    return f"train/{key}"


@dataclasses.dataclass
class TensorBoardOptions:
    """Options of the ``tensorboard`` logger."""

    log_dir: str | None = option(None, "where the event files go (default: the run directory's tensorboard/)")
    batches: bool = option(False, "also log each optimizer step's loss (train/batch_loss)")


class TensorBoardLogger(Logger):
    """Each record's numbers as scalars at its optimizer step, the resolved recipe and each epoch's samples as text,
    and at the end the hyperparameters (the flattened recipe) with the saved weights' metrics (``final/...``).

    A resumed run writes on in the same folder, telling TensorBoard to purge every event past the step of the checkpoint
    it resumes from (``purge_step``), so that what a killed process logged after its checkpoint is not shown twice; a
    fresh run purges from step 0, so that a run started again with ``--overwrite`` replaces the old curves.
    """

    Options = TensorBoardOptions

    def __init__(self, options: TensorBoardOptions | None = None):
        self.options = options or TensorBoardOptions()
        self.batches = self.options.batches
        self._writer: Any = None
        self._run: RunStart | None = None

    def check(self) -> None:
        """Refuse, in one line, when the ``tensorboard`` package is not installed."""
        if importlib.util.find_spec("tensorboard") is None:
            raise UsageError(
                "loggers.tensorboard: the tensorboard package is not installed; install it with  "
                "pip install 'rnn-zoo[tensorboard]'  or leave tensorboard out of the recipe's loggers"
            )

    def start(self, run: RunStart, state: dict[str, Any] | None) -> None:
        """Open the event folder; log the recipe on a fresh start."""
        import yaml
        from torch.utils.tensorboard import SummaryWriter

        self._run = run
        folder = Path(self.options.log_dir) if self.options.log_dir else run.run_dir / "tensorboard"
        resumed = run.resumed_at is not None
        self._writer = SummaryWriter(str(folder), purge_step=run.resumed_at + 1 if resumed else 0)
        if not resumed:
            text = yaml.safe_dump(run.recipe, sort_keys=False, allow_unicode=True)
            self._writer.add_text("recipe", _code(text), 0)

    def log(self, record: dict[str, Any]) -> None:
        """Every number of ``record`` (``lr``, ``loss``, ``valid_loss``, ...) as a scalar at its step."""
        for key, value in measures(record).items():
            self._writer.add_scalar(tag(key), value, record["steps"])

    def samples(self, epoch: int, steps: int, lines: list[str]) -> None:
        """The epoch's generated text, at its step."""
        self._writer.add_text("samples", _code("\n".join(lines)), steps)

    def end(self, run: RunEnd) -> None:
        """A finished run's hyperparameters and final metrics (TensorBoard's HParams tab); close the files."""
        if self._writer is None:
            return
        if run.status == "finished" and self._run is not None:
            hparams = {k: "null" if v is None else v for k, v in self._run.params.items()}
            final = {f"final/{k}": v for k, v in measures(run.metrics).items()}
            self._writer.add_hparams(hparams, final, run_name=".")
        self._writer.close()
        self._writer = None


def _code(text: str) -> str:
    """``text`` as a Markdown code block (TensorBoard renders its text as Markdown)."""
    return "\n".join(f"    {line}" for line in text.splitlines())


@hookimpl
def register_loggers(register):
    """Register ``tensorboard``."""
    register("tensorboard", TensorBoardLogger)
