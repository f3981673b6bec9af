"""The ``tensorboard`` and ``mlflow`` loggers, read back with TensorBoard's ``EventAccumulator`` and MLflow's client on
a local store: what a run logs, and exactly one point per step after a SIGKILL and a resume."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from clitools import KILL_AFTER_STEPS, in_process
from clitools import zoo as zoo_cli

import zoo
from zoo.train.trackers import LoggerWarning

pytest.importorskip("tensorboard", reason="the tensorboard extra: pip install 'rnn-zoo[tensorboard]'")
pytest.importorskip("mlflow", reason="the mlflow extra: pip install 'rnn-zoo[mlflow]'")

from mlflow import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

TIMING = ("seconds", "tokens_per_s", "valid_seconds")  # wall-clock: the same steps, other values
TEXT = "".join(random.Random(5).choices("abcdefgh ijk\n", k=700))


def recipe(folder: Path) -> Path:
    """A small GRU with a held-out split scored every 5 batches and at each epoch's end, samples every epoch, a
    checkpoint every 5 batches, and both loggers with every batch, MLflow on a SQLite store in ``folder``."""
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    data = {
        "name": "logged",
        "seed": 1,
        "dataset": {"name": "text", "path": str(corpus), "valid_fraction": 0.2},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 16},
        "backend": "torch",
        "trainer": {
            "epochs": 3,
            "lr": 0.02,
            "optimizer": "adam",
            "eval_every": 5,
            "checkpoint_every": 5,
            "checkpoint_unit": "batches",
        },
        "predict": {"prefixes": ["ab"], "length": 8, "every": 1},
        "loggers": {
            "tensorboard": {"batches": True},
            "mlflow": {"tracking_uri": f"sqlite:///{folder / 'mlflow.db'}", "experiment": "tests", "batches": True},
        },
    }
    path = folder / "logged.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard shows for the run: (step, value) in order, per tag."""
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def mlflow_run(folder: Path):
    """The client on the test's store and its one MLflow run."""
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    return client, run


def histories(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every metric of the MLflow run: (step, value) by step, per key."""
    client, run = mlflow_run(folder)
    return {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))
        for key in run.data.metrics
    }


def without_timing(series: dict[str, list[tuple[int, float]]]) -> dict[str, list]:
    """The series with the wall-clock ones reduced to their steps."""
    return {
        tag: [step for step, _ in points] if tag.rsplit("/", 1)[-1] in TIMING else points
        for tag, points in series.items()
    }


@contextlib.contextmanager
def inside(folder: Path) -> Iterator[None]:
    """Run from ``folder``: MLflow puts a new experiment's artifacts in ``./mlruns`` of the current folder."""
    before = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, once: its result, folder and what each tracker holds."""
    folder = tmp_path_factory.mktemp("reference")
    with inside(folder):
        result = zoo.run(recipe(folder), out=folder / "run")
    return result, folder, scalars(folder / "run"), histories(folder)


def test_tensorboard_holds_each_record_at_its_step_with_the_recipe_samples_and_hparams(reference):
    result, folder, tb, _ = reference
    epochs = [m for m in result.metrics if "loss" in m]
    assert tb["train/loss"] == [(m["steps"], pytest.approx(m["loss"], rel=1e-6)) for m in epochs]
    valid = [m for m in result.metrics if "valid_loss" in m]
    assert tb["valid/loss"] == [(m["steps"], pytest.approx(m["valid_loss"], rel=1e-6)) for m in valid]
    assert [step for step, _ in tb["train/batch_loss"]] == list(range(1, epochs[-1]["steps"] + 1))
    assert {"train/lr", "train/perplexity", "valid/perplexity", "speed/tokens_per_s"} <= set(tb)
    assert tb["final/valid_loss"] == [(0, pytest.approx(result.saved["valid_loss"], rel=1e-6))]

    events = EventAccumulator(str(folder / "run" / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    (recipe_text,) = events.Tensors("recipe/text_summary")
    assert b"hidden_size: 16" in recipe_text.tensor_proto.string_val[0]
    assert [e.step for e in events.Tensors("samples/text_summary")] == [m["steps"] for m in epochs]
    assert events.PluginTagToContent("hparams"), "add_hparams wrote no HParams summary"


def test_mlflow_holds_params_metrics_by_step_and_the_runs_files(reference):
    result, folder, _, ml = reference
    client, run = mlflow_run(folder)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["model.hidden_size"] == "16" and run.data.params["trainer.eval_every"] == "5"
    epochs = [m for m in result.metrics if "loss" in m]
    assert ml["loss"] == [(m["steps"], pytest.approx(m["loss"], rel=1e-12)) for m in epochs]
    valid = [m for m in result.metrics if "valid_loss" in m]
    assert ml["valid_loss"] == [(m["steps"], pytest.approx(m["valid_loss"], rel=1e-12)) for m in valid]
    assert [step for step, _ in ml["batch_loss"]] == list(range(1, epochs[-1]["steps"] + 1))
    files = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"model.safetensors", "perplexity.png", "samples.txt", "recipe.yaml", "metrics.jsonl", "samples"} <= files
    samples = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
    assert samples == {f"samples/epoch-00{e}.txt" for e in (1, 2, 3)}


# Killed right after the N-th optimizer step: before that step's batch record is logged, and past the last checkpoint
# (one every 5 batches), so the trackers were given records that the resumed run makes again.
@pytest.mark.slow
@pytest.mark.parametrize("at", [7, 14, 23])  # mid-epoch, just after an evaluation, and in the last epoch
def test_sigkill_and_resume_leave_one_point_per_step_in_each_tracker(tmp_path, reference, at):
    _, _, tb, ml = reference
    path, out = recipe(tmp_path), str(tmp_path / "run")
    first = zoo_cli(
        "run", str(path), "--out", out, "-q", driver=KILL_AFTER_STEPS, env={"KILL_AT": str(at)}, cwd=tmp_path
    )
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert mlflow_run(tmp_path)[1].info.status == "RUNNING"
    with inside(tmp_path):
        resumed = in_process("run", "--resume", out, "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert without_timing(scalars(tmp_path / "run")) == without_timing(tb)
    assert without_timing(histories(tmp_path)) == without_timing(ml)
    assert mlflow_run(tmp_path)[1].info.status == "FINISHED"  # the same MLflow run, finished


def test_an_unreachable_mlflow_server_disables_the_logger_with_one_warning_and_the_run_finishes(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    server = "loggers.mlflow.tracking_uri=http://127.0.0.1:9"  # the discard port: nothing answers there
    with pytest.warns(LoggerWarning) as caught:
        proc = in_process("run", str(recipe(tmp_path)), "--out", str(tmp_path / "run"), "-q", "--set", server)
    assert proc.returncode == 0, proc.stderr
    (warned,) = [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]
    assert warned.startswith("logger 'mlflow' failed and is disabled for the rest of this run (MlflowException: ")
    assert "\n" not in warned and "the run goes on" in warned
    assert (tmp_path / "run" / "model.safetensors").is_file()
    assert scalars(tmp_path / "run")["train/loss"], "the other logger went on"


def test_the_mlflow_store_and_artifacts_go_where_the_run_starts_by_default(tmp_path):
    with inside(tmp_path):
        result = zoo.run(recipe(tmp_path), {"loggers.mlflow.tracking_uri": None}, out=tmp_path / "run")
    assert result.final["epoch"] == 3 and (tmp_path / "mlflow.db").is_file()
    (artifacts,) = (tmp_path / "mlruns").glob("*/*/artifacts")
    assert (artifacts / "model.safetensors").read_bytes() == (tmp_path / "run" / "model.safetensors").read_bytes()
