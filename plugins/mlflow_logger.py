"""The ``mlflow`` logger: params, metrics by step and artifacts, to an MLflow tracking store.

By default the store is MLflow's own default: ``$MLFLOW_TRACKING_URI`` when set, otherwise a local one in the current
folder (``mlflow.db`` and ``mlruns/``; ``mlflow ui`` there shows it), with no server. Pointing ``tracking_uri`` at an
MLflow server is how a team shares runs. ``mlflow`` is an optional extra: ``pip install 'rnn-zoo[mlflow]'``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from typing import Any

from zoo.plugin import Logger, RunEnd, RunStart, UsageError, hookimpl, measures, option

__all__ = ["MlflowLogger", "MlflowOptions"]

_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
_PARAMS_PER_CALL = 100  # MLflow's limit on the params of one log_batch


@dataclasses.dataclass
class MlflowOptions:
    """Options of the ``mlflow`` logger."""

    tracking_uri: str | None = option(
        None, "the tracking store or server (default: $MLFLOW_TRACKING_URI, else mlflow.db in the current folder)"
    )
    experiment: str = option("zoo", "the MLflow experiment the run goes into (made when missing)")
    run_name: str | None = option(None, "the MLflow run's name (default: the run directory's name)")
    batches: bool = option(False, "also log each optimizer step's loss (batch_loss)")
    artifacts: bool = option(True, "upload the weights, plot, samples, recipe and metrics when the run finishes")


class MlflowLogger(Logger):
    """The flattened resolved recipe as params, each record's numbers as metrics at its optimizer step, the samples
    as text files, and when the run finishes, its files as artifacts.

    A resumed run logs into the same MLflow run (its id is kept in the checkpoint) and skips every (metric, step)
    that run already holds, so that what a killed process logged after its checkpoint is not logged twice; the MLflow
    run's status follows the zoo run's (``KILLED`` when interrupted, ``RUNNING`` again when resumed).
    """

    Options = MlflowOptions

    def __init__(self, options: MlflowOptions | None = None):
        self.options = options or MlflowOptions()
        self.batches = self.options.batches
        self._client: Any = None
        self._run_id: str | None = None
        self._uri: str | None = None
        self._logged: set[tuple[str, int]] = set()  # (metric, step) the MLflow run held when this process resumed it

    def check(self) -> None:
        """Refuse, in one line, when the ``mlflow`` package is not installed."""
        if importlib.util.find_spec("mlflow") is None:
            raise UsageError(
                "loggers.mlflow: the mlflow package is not installed; install it with  pip install 'rnn-zoo[mlflow]'  "
                "or leave mlflow out of the recipe's loggers"
            )

    def start(self, run: RunStart, state: dict[str, Any] | None) -> None:
        """Create the MLflow run and log the params, or, resuming, reopen the checkpoint's run and fill in anything it
        lacks up to the checkpoint."""
        import mlflow
        from mlflow import MlflowClient
        from mlflow.entities import Param

        if state and state.get("run_id"):
            self._uri = self.options.tracking_uri or state.get("tracking_uri") or mlflow.get_tracking_uri()
            self._client, self._run_id = MlflowClient(self._uri), state["run_id"]
            held = self._client.get_run(self._run_id)
            for key in held.data.metrics:
                self._logged |= {(key, m.step) for m in self._client.get_metric_history(self._run_id, key)}
            self._client.update_run(self._run_id, status="RUNNING")
            for record in run.records:
                self.log(record)
            return
        self._uri = self.options.tracking_uri or mlflow.get_tracking_uri()
        self._client = MlflowClient(self._uri)
        found = self._client.get_experiment_by_name(self.options.experiment)
        experiment = found.experiment_id if found else self._client.create_experiment(self.options.experiment)
        created = self._client.create_run(
            experiment, run_name=self.options.run_name or run.run_dir.name, tags={"zoo.run_dir": str(run.run_dir)}
        )
        self._run_id = created.info.run_id
        params = [Param(k, "null" if v is None else str(v)) for k, v in run.params.items()]
        for i in range(0, len(params), _PARAMS_PER_CALL):
            self._client.log_batch(self._run_id, params=params[i : i + _PARAMS_PER_CALL])

    def log(self, record: dict[str, Any]) -> None:
        """Every number of ``record`` as a metric at its step, but those the MLflow run holds already."""
        from mlflow.entities import Metric

        now, step = int(time.time() * 1000), record["steps"]
        metrics = [
            Metric(key, float(value), now, step)
            for key, value in measures(record).items()
            if (key, step) not in self._logged
        ]
        if metrics:
            self._client.log_batch(self._run_id, metrics=metrics)

    def samples(self, epoch: int, steps: int, lines: list[str]) -> None:
        """The epoch's generated text as the artifact ``samples/epoch-NNN.txt``."""
        self._client.log_text(self._run_id, "\n".join(lines) + "\n", f"samples/epoch-{epoch:03d}.txt")

    def end(self, run: RunEnd) -> None:
        """Upload a finished run's files; set the MLflow run's status."""
        if self._run_id is None:
            return
        if run.status == "finished" and self.options.artifacts:
            for path in run.files.values():
                self._client.log_artifact(self._run_id, str(path))
        self._client.set_terminated(self._run_id, _STATUS[run.status])

    def state_dict(self) -> dict[str, Any]:
        """The MLflow run's id and the store it lives in, for a resumed run."""
        return {"run_id": self._run_id, "tracking_uri": self._uri}


@hookimpl
def register_loggers(register):
    """Register ``mlflow``."""
    register("mlflow", MlflowLogger)
