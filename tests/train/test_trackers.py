"""A run's loggers: ``metrics.jsonl`` always, a failing logger disabled with one warning while the run finishes, and a
missing optional package refused in one line before anything trains."""

from __future__ import annotations

import importlib.metadata
import json
import sys

import pytest
from clitools import assert_one_line_error, in_process
from test_hooks import train, with_plugin

from zoo.errors import PluginError
from zoo.plugin import Logger, NoOptions, RunEnd, RunStart
from zoo.registry import BUILTIN_DIST, Registry
from zoo.train.trackers import LoggerWarning


class Flaky(Logger):
    """Takes two records, then fails as a tracker whose server went away does."""

    Options = NoOptions
    calls: list[str] = []

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

    def start(self, run: RunStart, state: dict | None) -> None:
        Flaky.calls.append("start")

    def log(self, record: dict) -> None:
        Flaky.calls.append("log")
        if Flaky.calls.count("log") == 3:
            raise ConnectionError("the tracking server closed the connection")

    def end(self, run: RunEnd) -> None:
        Flaky.calls.append("end")


def test_a_failing_logger_is_disabled_with_one_warning_and_the_run_finishes_with_every_record(tmp_path):
    Flaky.calls = []
    reg = with_plugin(register_loggers=lambda register: register("flaky", Flaky))
    with pytest.warns(LoggerWarning) as caught:
        result = train(tmp_path, reg, loggers=["flaky"], trainer={"name": "bptt", "epochs": 5})
    (warned,) = [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]
    assert warned == (
        "logger 'flaky' failed and is disabled for the rest of this run (ConnectionError: the tracking server closed "
        "the connection); the run goes on, and metrics.jsonl has every record"
    )
    assert Flaky.calls == ["start", "log", "log", "log"], "never called again once it failed, not even to end"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == result.metrics and len(result.metrics) == 5
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_naming_jsonl_changes_nothing_it_is_always_on(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "named").mkdir()
    plain = train(tmp_path / "plain", with_plugin())
    named = train(tmp_path / "named", with_plugin(), loggers=["jsonl"])
    timing = ("seconds", "tokens_per_s")
    assert [{k: v for k, v in m.items() if k not in timing} for m in named.metrics] == [
        {k: v for k, v in m.items() if k not in timing} for m in plain.metrics
    ]
    assert (tmp_path / "named" / "run" / "metrics.jsonl").is_file()


@pytest.mark.parametrize("package", ["tensorboard", "mlflow"])
def test_a_logger_whose_package_is_missing_is_one_line_naming_the_extra_before_anything_trains(
    tmp_path, monkeypatch, package
):
    monkeypatch.setitem(sys.modules, package, None)  # as if not installed: find_spec gives None, import fails
    proc = in_process(
        "run", "jay_gru", "--set", f"loggers=[{package}]", "--out", str(tmp_path / "run"), "--set", "trainer.epochs=1"
    )
    assert_one_line_error(
        proc, 2, f"loggers.{package}: the {package} package is not installed", f"pip install 'rnn-zoo[{package}]'"
    )
    assert not (tmp_path / "run").exists(), "refused before the run directory was made"


def test_a_registry_without_the_jsonl_logger_is_refused_in_one_line_naming_it(tmp_path):
    import zoo_plugins.jsonl_logger

    eps = importlib.metadata.entry_points(group="zoo")
    builtins = [ep.load() for ep in eps if ep.dist and ep.dist.name == BUILTIN_DIST]
    partial = Registry.from_plugins(*(m for m in builtins if m is not zoo_plugins.jsonl_logger))
    with pytest.raises(PluginError, match="logger 'jsonl', which writes every run's metrics.jsonl, is not registered"):
        train(tmp_path, partial)
    assert not (tmp_path / "run").exists()
