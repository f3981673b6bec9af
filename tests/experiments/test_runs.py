"""zoo runs and zoo compare: each run's state and numbers read back from what it wrote, the recipe keys that differ,
the metrics with their epochs, the samples, the overlaid curves; zoo.compare returns what --json prints."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from clitools import assert_one_line_error, in_process

import zoo
from zoo.cli.runs import _SORT_KEYS
from zoo.experiments.summary import SORT_KEYS
from zoo.train.runlock import RunLock

TEXT = "the quick brown fox jumps over the lazy dog. " * 40
DOCUMENTED_KEYS = (  # docs/cli.md, zoo runs --json
    "path",
    "state",
    "pid",
    "recipe",
    "cell",
    "impl",
    "layers",
    "hidden",
    "epochs",
    "perplexity",
    "valid_loss",
    "valid_epoch",
    "tokens_per_s",
    "seconds",
    "problem",
)


def recipe(folder: Path, lr: float, valid: bool = True) -> dict:
    """A tiny GRU on TEXT (20% held out when ``valid``), two epochs at learning rate ``lr``."""
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    return {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus), "valid_fraction": 0.2 if valid else 0.0},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
        "model": {"cell": "gru", "hidden_size": 8},
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": lr, "epochs": 2},
        "predict": {"prefixes": ["the", "fox"], "length": 5},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """runs/{fast,slow}: finished, differing in trainer.lr only; runs/plain: no validation split; runs/stopped: its
    weights removed (a checkpoint to resume); runs/empty: neither weights nor checkpoint; runs/broken: a metrics
    line that is not JSON; runs/unreadable: a recipe.yaml that is not YAML; runs/notes: a folder of no run (not
    listed)."""
    root = tmp_path_factory.mktemp("experiments")
    folder = root / "runs"
    zoo.run(recipe(root, 0.05), out=folder / "fast")
    zoo.run(recipe(root, 0.01), out=folder / "slow")
    zoo.run(recipe(root, 0.05, valid=False), out=folder / "plain")
    for name in ("stopped", "empty", "broken", "unreadable"):
        shutil.copytree(folder / "fast", folder / name)
    (folder / "stopped" / "model.safetensors").unlink()
    (folder / "empty" / "model.safetensors").unlink()
    shutil.rmtree(folder / "empty" / "checkpoint")
    with (folder / "broken" / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    (folder / "unreadable" / "recipe.yaml").write_text("name: [\n", encoding="utf-8")
    (folder / "notes").mkdir()
    (folder / "notes" / "todo.txt").write_text("try a larger model\n")
    return root


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def listed(*args: str) -> dict[str, dict]:
    proc = in_process("runs", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return {Path(row["path"]).name: row for row in json.loads(proc.stdout)}


def test_runs_lists_every_run_with_its_state_and_numbers(runs):
    rows = listed(str(runs / "runs"))
    assert {name: row["state"] for name, row in rows.items()} == {
        "broken": "damaged",
        "empty": "empty",
        "fast": "finished",
        "plain": "finished",
        "slow": "finished",
        "stopped": "interrupted",
        "unreadable": "damaged",
    }
    fast, records = rows["fast"], metrics(runs / "runs" / "fast")
    assert set(fast) == set(DOCUMENTED_KEYS)
    assert (fast["cell"], fast["impl"], fast["layers"], fast["hidden"], fast["epochs"]) == ("gru", "nn", 1, 8, 2)
    assert fast["perplexity"] == records[-1]["perplexity"]
    best = min(records, key=lambda r: r["valid_loss"])
    assert (fast["valid_loss"], fast["valid_epoch"]) == (best["valid_loss"], best["epoch"])
    seconds = sum(r["seconds"] for r in records)
    assert fast["tokens_per_s"] == pytest.approx(sum(r["tokens_per_s"] * r["seconds"] for r in records) / seconds)
    assert fast["seconds"] == pytest.approx(seconds + sum(r["valid_seconds"] for r in records))
    assert rows["plain"]["valid_loss"] is None and rows["stopped"]["epochs"] == 2
    assert "metrics.jsonl: line 3 is not JSON" in rows["broken"]["problem"] and rows["broken"]["cell"] is None
    assert "recipe.yaml is not the YAML a run writes" in rows["unreadable"]["problem"]


def test_a_run_being_written_shows_the_pid_that_holds_its_lock(runs):
    lock = RunLock(runs / "runs" / "slow").acquire()
    try:
        assert listed(str(runs / "runs"))["slow"]["pid"] == os.getpid()
        proc = in_process("runs", str(runs / "runs"))
    finally:
        lock.release()
    assert f"running (pid {os.getpid()})" in proc.stdout
    assert listed(str(runs / "runs"))["slow"]["state"] == "finished"


def test_runs_sorts_best_first_and_puts_rows_without_the_value_last(runs):
    assert tuple(SORT_KEYS) == _SORT_KEYS  # the command line's copy (it imports no run-directory code for --help)
    rows = list(listed(str(runs / "runs"), "--sort", "valid_loss").values())
    losses = [row["valid_loss"] for row in rows]
    scored = [v for v in losses if v is not None]
    assert scored == sorted(scored) and losses[len(scored) :] == [None] * (len(losses) - len(scored))
    speeds = [row["tokens_per_s"] for row in listed(str(runs / "runs"), "--sort", "tokens_per_s").values()]
    assert [v for v in speeds if v is not None] == sorted((v for v in speeds if v is not None), reverse=True)


def test_runs_reads_runs_here_by_default_and_says_when_there_are_none(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(runs)
    proc = in_process("runs")
    assert proc.returncode == 0 and "runs/fast" in proc.stdout and "notes" not in proc.stdout
    assert proc.stdout.splitlines()[0].split() == [
        "run",
        "state",
        "model",
        "epochs",
        "perplexity",
        "valid_loss",
        "tokens/s",
        "time",
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert "no zoo run directories under runs" in in_process("runs").stdout
    assert_one_line_error(in_process("runs", "absent"), 2, "absent not found", "default: runs")


def test_compare_shows_only_the_keys_that_differ_with_metrics_and_samples(runs):
    fast, slow = str(runs / "runs" / "fast"), str(runs / "runs" / "slow")
    proc = in_process("compare", fast, slow, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert list(result) == ["runs", "differs", "metrics", "samples", "history"]  # docs/cli.md, zoo compare --json
    assert result["differs"] == {"trainer.lr": [0.05, 0.01]}
    for run, m in zip((fast, slow), result["metrics"]):
        records = metrics(Path(run))
        best = min(records, key=lambda r: r["valid_loss"])
        assert m["valid_loss"] == {"value": best["valid_loss"], "epoch": best["epoch"]}
        assert m["perplexity"]["value"] == min(r["perplexity"] for r in records) and m["epochs"] == 2
    samples = (runs / "runs" / "fast" / "samples.txt").read_text(encoding="utf-8").split("epoch 2\n")[-1]
    assert result["samples"][0] == {"epoch": 2, "lines": samples.splitlines()}
    assert len(result["samples"][0]["lines"]) == 2 and result["samples"][0]["lines"][0].startswith("the")
    assert result == json.loads(json.dumps(zoo.compare([fast, slow])))  # the Python API returns the same data


def test_compare_prints_tables_and_draws_the_curves(runs, tmp_path):
    plot = tmp_path / "compare.png"
    proc = in_process("compare", str(runs / "runs" / "fast"), str(runs / "runs" / "plain"), "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[1].split()[0] == "dataset.valid_fraction" and lines[1].split()[1:] == ["0.2", "0.0"]
    valid = next(line.split() for line in lines if line.startswith("valid_loss "))
    assert valid[2:] == ["@2", "—"]  # the lowest validation loss at epoch 2; none without a validation split
    assert "dataset.valid_fraction=0.2 @2: the" in proc.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot written to {plot}" in proc.stdout


def test_compare_refuses_what_it_cannot_compare_in_one_line(runs, tmp_path):
    fast = str(runs / "runs" / "fast")
    assert_one_line_error(in_process("compare", fast), 2, "at least two run directories, got 1")
    assert_one_line_error(in_process("compare", fast, str(runs / "runs" / "notes")), 2, "is not a zoo run directory")
    assert_one_line_error(in_process("compare", fast, str(tmp_path / "nope")), 2, "nope not found")
    assert_one_line_error(in_process("compare", fast, str(runs / "runs" / "broken")), 2, "line 3 is not JSON")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    assert_one_line_error(
        in_process("compare", fast, str(runs / "runs" / "slow"), "--plot", str(folder)), 2, "folder.png"
    )
