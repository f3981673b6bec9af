"""Checkpoint pruning: ``zoo run --no-keep-checkpoint`` drops a finished run's checkpoint (a stopped run keeps it), and
``zoo prune RUN...`` drops those of finished runs, refusing unfinished, running and foreign folders in one line."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import signal
from pathlib import Path

import pytest
from clitools import assert_one_line_error, in_process
from safetensors.torch import load_file
from zoo_plugins import torch_engine

import zoo
from zoo.errors import Interrupted
from zoo.train.rundir import RunDir
from zoo.train.runlock import RunLock
from zoo.units import human_size

TEXT = "".join(random.Random(3).choices("abcdefgh ijk\n", k=700))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """A run of a few seconds: two epochs, a checkpoint at the end of each."""
    folder = tmp_path_factory.mktemp("recipe")
    (folder / "corpus.txt").write_text(TEXT, encoding="utf-8")
    data = {
        "name": "tiny",
        "seed": 1,
        "dataset": {"name": "text", "path": str(folder / "corpus.txt")},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "backend": "torch",
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 8},
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 2, "clip_norm": 1.0},
        "predict": {"prefixes": ["ab"], "length": 4},
    }
    path = folder / "tiny.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def finished(recipe, tmp_path_factory) -> Path:
    """A finished run that kept its checkpoint (the default); tests prune copies of it."""
    return zoo.run(recipe, out=tmp_path_factory.mktemp("finished") / "run").run_dir


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    """A copy of the finished run, for a test to prune."""
    return Path(shutil.copytree(finished, tmp_path / "run"))


def stopped(recipe: Path, run_dir: Path, monkeypatch, **kwargs) -> Path:
    """A run stopped by SIGINT after its third batch: it writes a checkpoint and raises Interrupted."""
    original, steps = torch_engine.TorchEngine.train_step, itertools.count(1)

    def step(self, *args, **kw):
        out = original(self, *args, **kw)
        if next(steps) == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the run's own handler takes it: stop at the next batch boundary
        return out

    with monkeypatch.context() as patched, pytest.raises(Interrupted, match="zoo run --resume"):
        patched.setattr(torch_engine.TorchEngine, "train_step", step)
        zoo.run(recipe, out=run_dir, **kwargs)
    return run_dir


def tensors(run_dir: Path) -> dict:
    return load_file(run_dir / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    ta, tb = tensors(a), tensors(b)
    assert ta.keys() == tb.keys() and all(ta[k].equal(tb[k]) for k in ta)


def checkpoint_bytes(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in (run_dir / "checkpoint").iterdir())


# -- zoo run --no-keep-checkpoint ---------------------------------------------------------------------------------


def test_a_finished_run_keeps_its_checkpoint_by_default(finished):
    assert (finished / "checkpoint" / "checkpoint.json").is_file()


def test_no_keep_checkpoint_drops_it_once_the_run_has_finished(recipe, finished, tmp_path):
    run_dir = zoo.run(recipe, out=tmp_path / "run", keep_checkpoint=False).run_dir
    assert not (run_dir / "checkpoint").exists()
    assert_same_weights(run_dir, finished)  # the same run otherwise
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in finished.iterdir() if p.name != "checkpoint"
    )


def test_the_command_line_flag_drops_it_too(recipe, tmp_path):
    proc = in_process("run", str(recipe), "--out", str(tmp_path / "run"), "--no-keep-checkpoint", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run" / "model.safetensors").is_file() and not (tmp_path / "run" / "checkpoint").exists()


def test_a_stopped_run_keeps_its_checkpoint_and_resumes_to_the_same_weights(recipe, finished, tmp_path, monkeypatch):
    run_dir = stopped(recipe, tmp_path / "run", monkeypatch, keep_checkpoint=False)
    assert (run_dir / "checkpoint" / "checkpoint.json").is_file() and not (run_dir / "model.safetensors").exists()
    zoo.resume(run_dir, keep_checkpoint=False)
    assert not (run_dir / "checkpoint").exists()
    assert_same_weights(run_dir, finished)


# -- zoo prune ----------------------------------------------------------------------------------------------------


def test_prune_drops_the_checkpoint_and_says_what_it_freed(run_copy):
    size = checkpoint_bytes(run_copy)
    kept = {p.name: p.read_bytes() for p in run_copy.iterdir() if p.is_file() and p.name != ".lock"}
    proc = in_process("prune", str(run_copy))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{run_copy}: dropped its checkpoint, {human_size(size)} freed\n"
    assert not (run_copy / "checkpoint").exists()
    assert {name: (run_copy / name).read_bytes() for name in kept} == kept  # weights, metrics, samples, plot, recipe
    assert zoo.load(run_copy).generate("ab", 3).startswith("ab")
    assert in_process("prune", str(run_copy)).stdout == f"{run_copy}: no checkpoint to drop\n"


def test_a_pruned_run_says_in_one_line_that_there_is_nothing_to_resume(run_copy):
    assert in_process("prune", str(run_copy)).returncode == 0
    assert_one_line_error(in_process("run", "--resume", str(run_copy)), 2, "already finished", "nothing to resume")
    assert_one_line_error(
        in_process("run", str(run_copy / "recipe.yaml"), "--out", str(run_copy)), 2, "already holds a finished run"
    )


def test_prune_totals_several_runs(run_copy, finished, tmp_path):
    other = Path(shutil.copytree(finished, tmp_path / "other"))
    sizes = checkpoint_bytes(run_copy) + checkpoint_bytes(other)
    proc = in_process("prune", str(run_copy), str(other))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == f"{human_size(sizes)} freed in all"


def test_prune_refuses_an_unfinished_run(recipe, tmp_path, monkeypatch):
    run_dir = stopped(recipe, tmp_path / "run", monkeypatch)
    assert_one_line_error(in_process("prune", str(run_dir)), 2, "has not finished", f"zoo run --resume {run_dir}")
    assert (run_dir / "checkpoint" / "checkpoint.json").is_file()


def test_one_refused_run_means_none_is_pruned(run_copy, recipe, tmp_path, monkeypatch):
    unfinished = stopped(recipe, tmp_path / "unfinished", monkeypatch)
    assert_one_line_error(in_process("prune", str(run_copy), str(unfinished)), 2, str(unfinished), "has not finished")
    assert (run_copy / "checkpoint" / "checkpoint.json").is_file()


def test_prune_refuses_a_run_being_written(run_copy):
    lock = RunLock(run_copy).acquire()
    try:
        assert_one_line_error(in_process("prune", str(run_copy)), 2, "being written by a run", f"pid {os.getpid()}")
    finally:
        lock.release()
    assert (run_copy / "checkpoint" / "checkpoint.json").is_file()


def test_prune_refuses_what_is_no_finished_zoo_run(tmp_path, finished):
    assert_one_line_error(in_process("prune", str(tmp_path / "absent")), 2, "not found")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(in_process("prune", str(tmp_path / "empty")), 2, "holds no finished run")
    mine = tmp_path / "mine"  # someone's folder, with weights copied in beside their notes
    mine.mkdir()
    shutil.copy(finished / "model.safetensors", mine)
    (mine / "notes.txt").write_text("mine")
    assert_one_line_error(in_process("prune", str(mine)), 2, "not a zoo run directory")
    assert sorted(p.name for p in mine.iterdir()) == ["model.safetensors", "notes.txt"]


def test_a_checkpoint_folder_with_no_committed_checkpoint_is_no_unfinished_run(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoint").mkdir(parents=True)
    run = RunDir(run_dir)
    run.adopt()  # a zoo run, stopped before its first checkpoint: there is nothing to resume
    assert run.state() == "none"
    assert_one_line_error(in_process("prune", str(run_dir)), 2, "holds no finished run")


def test_the_lock_names_its_holder_only_while_it_is_held(tmp_path):
    assert RunLock(tmp_path).holder() is None
    with RunLock(tmp_path):
        assert RunLock(tmp_path).holder() == str(os.getpid())
    assert RunLock(tmp_path).holder() is None
