"""``zoo sweep`` on Optuna: trials as run directories, several workers, exact resume after SIGKILL, pruning, the report,
and the specs and extras it refuses before anything trains."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

import pytest
from clitools import KILL_AFTER_STEPS, assert_one_line_error, in_process
from clitools import zoo as zoo_cli

import zoo

pytest.importorskip("optuna", reason="the sweep extra: pip install 'rnn-zoo[sweep]'")

TEXT = "".join(random.Random(3).choices("abcdefgh ijk\n", k=800))
GRID = ["--param", "model.hidden_size=choice(8,16)", "--param", "trainer.lr=choice(0.03,0.01)"]


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """A tiny GRU on 800 characters, a fifth held out, two epochs of 10 batches, a checkpoint every 4 batches."""
    folder = tmp_path_factory.mktemp("recipe")
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    data = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "text", "path": str(folder / "corpus.txt"), "valid_fraction": 0.2},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 8},
        "backend": "torch",
        "trainer": {"epochs": 2, "lr": 0.01, "optimizer": "adam", "checkpoint_every": 4, "checkpoint_unit": "batches"},
        "predict": {"prefixes": ["ab"], "length": 5},
    }
    path = folder / "tiny.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def sweep(recipe: Path, out: Path, *args: str):
    return in_process("sweep", str(recipe), "--out", str(out), *args)


def weights(folder: Path) -> dict[str, bytes]:
    """Each trial's run directory name and its weights."""
    return {d.name: (d / "model.safetensors").read_bytes() for d in sorted(folder.glob("trial-*"))}


def states(folder: Path) -> dict[int, tuple[str, float | None, dict]]:
    """Each trial's state, value and parameters, from the report."""
    data = json.loads(in_process("sweep", "--report", str(folder), "--json").stdout)
    return {t["number"]: (t["state"], t["value"], t["params"]) for t in data["trials"]}


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory):
    """The uninterrupted sweeps, once: the grid of 4, and 5 trials of TPE (seed 7) over a range and a choice."""
    grid = tmp_path_factory.mktemp("grid") / "sweep"
    assert sweep(recipe, grid, *GRID).returncode == 0
    tpe = tmp_path_factory.mktemp("tpe") / "sweep"
    args = ["--param", "trainer.lr=loguniform(0.001,0.1)", "--param", "model.hidden_size=int(4,12)", "--trials", "5"]
    proc = sweep(recipe, tpe, *args, "--sampler", "tpe", "--seed", "7")
    assert proc.returncode == 0, proc.stderr
    return {"grid": (grid, GRID), "tpe": (tpe, [*args, "--sampler", "tpe", "--seed", "7"])}


def test_a_grid_sweep_trains_each_point_as_a_run_directory_and_reports_them_best_first(reference):
    folder, _ = reference["grid"]
    report = json.loads(in_process("sweep", "--report", str(folder), "--json").stdout)
    assert report["sampler"] == "grid" and report["metric"] == "valid_loss"
    trials = report["trials"]
    assert [t["params"] for t in sorted(trials, key=lambda t: t["number"])] == [
        {"model.hidden_size": 8, "trainer.lr": 0.03},
        {"model.hidden_size": 8, "trainer.lr": 0.01},
        {"model.hidden_size": 16, "trainer.lr": 0.03},
        {"model.hidden_size": 16, "trainer.lr": 0.01},
    ]  # the grid in order, the last key fastest
    values = [t["value"] for t in trials]
    assert values == sorted(values) and all(t["state"] == "finished" and t["epochs"] == 2 for t in trials)
    for t in trials:
        (run,) = t["dirs"]
        assert Path(run).name.startswith(f"trial-{t['number']:03d}-")
        model = zoo.load(run)
        assert model.metrics["valid_loss"] == t["value"]
        assert model.recipe.model.core.hidden_size == t["params"]["model.hidden_size"]
    assert report["best"]["number"] == trials[0]["number"] and (folder / "report.png").stat().st_size > 10_000
    listed = json.loads(in_process("runs", str(folder), "--json").stdout)
    assert sorted(Path(r["path"]).name for r in listed) == sorted(weights(folder))
    printed = in_process("sweep", "--report", str(folder)).stdout
    assert printed.splitlines()[0].split() == [
        "trial",
        "state",
        "model.hidden_size",
        "trainer.lr",
        "valid_loss",
        "epochs",
        "seconds",
    ]
    assert f"best: trial {trials[0]['number']} in {trials[0]['dirs'][0]}" in printed


def test_two_workers_give_the_same_trials_and_weights_as_one(recipe, reference, tmp_path):
    folder, args = reference["grid"]
    proc = zoo_cli("sweep", str(recipe), "--out", str(tmp_path / "sweep"), *args, "--workers", "2")
    assert proc.returncode == 0, proc.stderr
    assert weights(tmp_path / "sweep") == weights(folder)
    assert states(tmp_path / "sweep") == states(folder)


# Kill points (seeded): optimizer steps counted across trials; each trial trains 20 steps (2 epochs of 10 batches).
KILLS = [("grid", n) for n in sorted(random.Random(5).sample(range(2, 80), 3))] + [
    ("tpe", n) for n in sorted(random.Random(6).sample(range(2, 100), 2))
]


@pytest.mark.slow
@pytest.mark.parametrize("sampler, at", KILLS)
def test_a_sweep_killed_anywhere_and_rerun_equals_the_uninterrupted_one_and_trains_no_trial_twice(
    recipe, reference, tmp_path, sampler, at
):
    folder, args = reference[sampler]
    out = tmp_path / "sweep"
    first = zoo_cli("sweep", str(recipe), "--out", str(out), *args, driver=KILL_AFTER_STEPS, env={"KILL_AT": str(at)})
    assert first.returncode == -signal.SIGKILL, first.stderr
    done = {
        d.name: (d / "model.safetensors").stat().st_mtime_ns
        for d in out.glob("trial-*")
        if (d / "model.safetensors").exists()
    }
    rerun = sweep(recipe, out, *args)
    assert rerun.returncode == 0, rerun.stderr
    assert " (resumed): " in rerun.stderr, "the trial the kill cut short was resumed"
    assert weights(out) == weights(folder)
    assert states(out) == states(folder)
    assert {name: (out / name / "model.safetensors").stat().st_mtime_ns for name in done} == done, "retrained"


# In every process Python starts with this folder on its path: the first sweep worker to reach its N-th optimizer step
# kills itself (the marker file makes it one worker only).
WORKER_KILLER = r"""
import os, signal, sys

if "--worker" in sys.argv and os.environ.get("KILL_AT"):
    from zoo_plugins import torch_engine

    at, count, step = int(os.environ["KILL_AT"]), [0], torch_engine.TorchEngine.train_step

    def killing(*args, **kwargs):
        out = step(*args, **kwargs)
        count[0] += 1
        if count[0] == at:
            try:
                os.close(os.open(os.environ["KILL_MARK"], os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return out
            os.kill(os.getpid(), signal.SIGKILL)
        return out

    torch_engine.TorchEngine.train_step = killing
"""


@pytest.mark.slow
def test_a_killed_worker_says_so_and_the_rerun_equals_the_uninterrupted_sweep(recipe, reference, tmp_path):
    folder, args = reference["grid"]
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(WORKER_KILLER, encoding="utf-8")
    env = {"PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]), "KILL_AT": "13"}
    out = tmp_path / "sweep"
    first = zoo_cli(
        "sweep", str(recipe), "--out", str(out), *args, "--workers", "2", env={**env, "KILL_MARK": str(tmp_path / "k")}
    )
    assert first.returncode == 1 and "Traceback" not in first.stderr
    last = first.stderr.strip().splitlines()[-1]  # after the workers' lines about their trials
    assert last.startswith("Error: worker ") and "was killed by signal 9; rerun the same zoo sweep command" in last
    assert " (resumed): " in first.stderr, "the other worker took over the trial the kill cut short"
    rerun = sweep(recipe, out, *args, "--workers", "1")
    assert rerun.returncode == 0, rerun.stderr
    assert weights(out) == weights(folder)
    assert states(out) == states(folder)


def test_pruning_stops_a_hopeless_trial_marks_it_pruned_and_keeps_its_directory(recipe, tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(recipe, out, "--param", "trainer.lr=choice(0.03,0.02,0.0000001)", "--prune")
    assert proc.returncode == 0, proc.stderr
    found = states(out)
    assert [found[n][0] for n in range(3)] == ["finished", "finished", "pruned"]
    assert "trial 2: pruned at epoch 1" in proc.stderr
    (kept,) = out.glob("trial-002-*")
    records = [json.loads(line) for line in (kept / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in records] == [1] and not (kept / "model.safetensors").exists()
    assert "pruned" in in_process("sweep", "--report", str(out)).stdout


def test_seeds_run_each_trial_under_each_seed_and_report_the_mean_and_spread(recipe, tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(recipe, out, "--param", "trainer.lr=choice(0.03)", "--seeds", "2")
    assert proc.returncode == 0, proc.stderr
    (trial,) = json.loads(in_process("sweep", "--report", str(out), "--json").stdout)["trials"]
    assert [Path(d).name.rsplit("-", 1)[1] for d in trial["dirs"]] == ["seed0", "seed1"]
    runs = [zoo.load(d).metrics["valid_loss"] for d in trial["dirs"]]
    assert trial["values"] == runs and trial["value"] == pytest.approx(sum(runs) / 2) and trial["std"] > 0
    assert " ± " in in_process("sweep", "--report", str(out)).stdout


def test_the_python_api_returns_the_report(recipe, tmp_path):
    report = zoo.sweep(recipe, {"trainer.lr": "choice(0.03)"}, out=tmp_path / "sweep")
    assert [t["state"] for t in report["trials"]] == ["finished"] and report["best"]["number"] == 0


@pytest.mark.parametrize(
    ("param", "needles"),
    [
        (
            "model.hiden_size=choice(8,16)",
            ["--param model.hiden_size=choice(8,16): model.hiden_size: unknown key", "did you mean 'hidden_size'?"],
        ),
        (
            "model.hidden_size=choice(8,big)",
            ["--param model.hidden_size=choice(8,big): model.hidden_size: expected int, got 'big'"],
        ),
        ("trainer.lr=choice()", ["choice needs one or more values"]),
        ("trainer.lr=uniform(0.1,0.01)", ["LOW must be below HIGH, got 0.1 and 0.01"]),
        ("trainer.lr=loguniform(0,0.1)", ["loguniform needs LOW above 0"]),
        ("model.hidden_size=int(4.5,8)", ["int takes two whole numbers"]),
        ("trainer.lr=normal(0,1)", ["expected choice(A,B,...), int(LOW,HIGH), uniform(LOW,HIGH) or loguniform"]),
        ("trainer.lr", ["--param expects KEY=SPEC"]),
        ("trainer.lr=uniform(a,1)", ["'a' is not a number"]),
    ],
)
def test_a_spec_that_does_not_parse_or_fit_the_recipe_is_one_line_before_anything_trains(
    recipe, tmp_path, param, needles
):
    proc = sweep(recipe, tmp_path / "sweep", "--param", param)
    assert_one_line_error(proc, 2, *needles)
    assert not (tmp_path / "sweep").exists()


def test_the_grid_sampler_refuses_a_continuous_range_and_a_changed_sweep_is_refused(recipe, tmp_path):
    proc = sweep(recipe, tmp_path / "sweep", "--param", "trainer.lr=uniform(0.01,0.1)", "--sampler", "grid")
    assert_one_line_error(proc, 2, "the grid sampler takes only choice(...) and int(...)", "--sampler random or tpe")
    assert sweep(recipe, tmp_path / "sweep", "--param", "trainer.lr=choice(0.03)").returncode == 0
    proc = sweep(recipe, tmp_path / "sweep", "--param", "trainer.lr=choice(0.01)")
    assert_one_line_error(proc, 2, "holds another sweep (its params differ)", "pass --out another folder")


def test_a_held_out_metric_without_a_validation_split_is_refused(recipe, tmp_path):
    proc = sweep(recipe, tmp_path / "sweep", "--param", "trainer.lr=choice(0.03)", "--set", "dataset.valid_fraction=0")
    assert_one_line_error(proc, 2, "--metric valid_loss: recipe 'tiny' holds no validation split")


def test_without_optuna_zoo_sweep_is_one_line_naming_the_extra(recipe, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    proc = sweep(recipe, tmp_path / "sweep", "--param", "trainer.lr=choice(0.03)")
    assert_one_line_error(proc, 2, "zoo sweep needs Optuna", "pip install 'rnn-zoo[sweep]'")
