"""Exact resume: a run killed (SIGKILL) or stopped (SIGINT) anywhere, then resumed, ends bit for bit where an
uninterrupted run ends; and the directory rules around it (refusals, the lock, a tampered checkpoint)."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clitools import assert_one_line_error, in_process
from clitools import zoo as zoo_cli

import zoo
from zoo.errors import UsageError
from zoo.train.runlock import RunLock

# Fault injection from outside the product: the driver patches the engines and the checkpoint writer so that the
# process signals itself at the chosen point, then runs the CLI as a user would.
DRIVER = r"""
import os, signal, sys
import zoo.atomic, zoo.train.checkpoint
from zoo_plugins import numpy_engine, torch_engine

where, at, sig = os.environ["KILL_WHERE"], int(os.environ["KILL_AT"]), getattr(signal, os.environ["KILL_SIG"])
count = 0

def tick():
    global count
    count += 1
    if count == at:
        os.kill(os.getpid(), sig)

def after(fn):
    def wrapped(*args, **kwargs):
        out = fn(*args, **kwargs)
        tick()
        return out
    return wrapped

def before(fn, only=None):
    def wrapped(*args, **kwargs):
        if only is None or only in str(args[0]):
            tick()
        return fn(*args, **kwargs)
    return wrapped

if where == "step":  # after an optimizer step: mid-epoch or at an epoch's end
    torch_engine.TorchEngine.train_step = after(torch_engine.TorchEngine.train_step)
    numpy_engine.NumpyEngine.train_step = after(numpy_engine.NumpyEngine.train_step)
elif where == "eval":  # after a validation pass, before what follows it (the record, the best weights, a checkpoint)
    import zoo.plugin  # the trainer imports score from here when it validates
    zoo.plugin.score = after(zoo.plugin.score)
elif where == "pointer":  # the new tensors are on disk, the JSON that commits them is not
    zoo.train.checkpoint.write_text = before(zoo.train.checkpoint.write_text)
elif where == "rename":  # a checkpoint file fully written under its temporary name, not yet renamed
    zoo.atomic.os = type(os)("os_with_a_trap")
    zoo.atomic.os.__dict__.update(os.__dict__)
    zoo.atomic.os.replace = before(os.replace, only="checkpoint")

from zoo.cli import main
main(sys.argv[1:])
"""

TEXT = "".join(random.Random(7).choices("abcdefgh ijk\n", k=900))

CONFIGS = {
    # carried state on torch, Adam, checkpoints every 5 batches (so they fall mid-epoch)
    "torch": {
        "model": {"cell": "gru", "impl": "scratch", "hidden_size": 16, "layers": 2},
        "backend": "torch",
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8, "random_offset": True},
        "trainer": {
            "optimizer": "adam",
            "lr": 0.01,
            "epochs": 4,
            "clip_norm": 1.0,
            "checkpoint_every": 5,
            "checkpoint_unit": "batches",
        },
    },
    # shuffled batches on numpy, SGD with dropout masks, a checkpoint every epoch
    "numpy": {
        "model": {"cell": "lstm", "hidden_size": 12, "layers": 2, "dropout": 0.3},
        "backend": "numpy",
        "sampler": {"name": "random", "batch_size": 3, "num_steps": 10},
        "trainer": {"optimizer": "sgd", "lr": 0.5, "epochs": 4, "clip_norm": 1.0, "checkpoint_every": 1},
    },
    # carried state on numpy with Adam (its step count is a 0-d tensor in the checkpoint)
    "numpy_adam": {
        "model": {"cell": "gru", "hidden_size": 12},
        "backend": "numpy",
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "trainer": {
            "optimizer": "adam",
            "lr": 0.01,
            "epochs": 3,
            "clip_norm": 1.0,
            "checkpoint_every": 4,
            "checkpoint_unit": "batches",
        },
    },
    # a held-out split scored mid-epoch and at epoch ends, the best weights kept, a schedule that learns from the
    # validation loss, and early stopping (which ends this run at step 40, in its second epoch)
    "heldout": {
        "dataset": {"valid_fraction": 0.2},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 16},
        "backend": "torch",
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "trainer": {
            "optimizer": "adam",
            "lr": 0.02,
            "epochs": 3,
            "clip_norm": 1.0,
            "checkpoint_every": 3,
            "checkpoint_unit": "batches",
            "eval_every": 5,
            "keep": "best",
            "early_stop": {"patience": 8},
        },
        "schedule": {"name": "plateau", "factor": 0.5},
    },
    # the same on numpy, with a cosine schedule and a checkpoint every epoch
    "heldout_numpy": {
        "dataset": {"valid_fraction": 0.2},
        "model": {"cell": "lstm", "hidden_size": 12},
        "backend": "numpy",
        "sampler": {"name": "random", "batch_size": 3, "num_steps": 10},
        "trainer": {"optimizer": "adam", "lr": 0.02, "epochs": 4, "clip_norm": 1.0, "eval_every": 5, "keep": "best"},
        "schedule": {"name": "cosine", "warmup": 5},
    },
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """One corpus file for every run here: its path is part of the recipe, and so of the weights' metadata."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def recipe(tmp_path: Path, config: str, corpus: Path) -> Path:
    c = CONFIGS[config]
    data = {
        "name": f"resume_{config}",
        "seed": 3,
        "dataset": {"name": "text", "path": str(corpus), **c.get("dataset", {})},
        "sampler": c["sampler"],
        "model": c["model"],
        "backend": c["backend"],
        "trainer": {"name": "bptt", **c["trainer"]},
        "schedule": c.get("schedule", "constant"),
        "predict": {"prefixes": ["ab"], "length": 8, "every": 1, "strategy": "sample"},
    }
    path = tmp_path / f"{config}.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, corpus):
    """The uninterrupted run of each configuration, once."""
    out = {}
    for config in CONFIGS:
        tmp = tmp_path_factory.mktemp(config)
        out[config] = zoo.run(recipe(tmp, config, corpus), out=tmp / "run")
    return out


def interrupted(
    tmp_path: Path, corpus: Path, config: str, where: str, at: int, sig: str
) -> tuple[subprocess.CompletedProcess, Path]:
    """Start a run that signals itself at the given point."""
    run_dir = tmp_path / "run"
    first = zoo_cli(
        "run",
        str(recipe(tmp_path, config, corpus)),
        "--out",
        str(run_dir),
        "-q",
        driver=DRIVER,
        env={"KILL_WHERE": where, "KILL_AT": str(at), "KILL_SIG": sig},
    )
    return first, run_dir


def assert_same_run(run_dir: Path, ref: zoo.RunResult) -> None:
    assert (run_dir / "model.safetensors").read_bytes() == (ref.run_dir / "model.safetensors").read_bytes()
    mine = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    timing = {"seconds", "tokens_per_s", "valid_seconds"}  # all that may differ: wall-clock time
    assert [{k: v for k, v in m.items() if k not in timing} for m in mine] == [
        {k: v for k, v in m.items() if k not in timing} for m in ref.metrics
    ]
    assert (run_dir / "samples.txt").read_text(encoding="utf-8") == (ref.run_dir / "samples.txt").read_text(
        encoding="utf-8"
    )


# Several points drawn at random (seeded, so a failure reproduces): steps 1-40 of 4 epochs of ~8-12 batches
# fall before the first checkpoint, mid-epoch and at epoch ends; the n-th checkpoint write is cut short too.
POINTS = [("step", n) for n in sorted(random.Random(11).sample(range(1, 41), 4))] + [
    ("pointer", 2),
    ("rename", 3),
    ("rename", 6),
]


# ... and, where a validation split is scored, right after the first and the fourth validation pass
# (the held-out configurations at two steps, a cut rename and two validation passes: the checkpoint writing the other
# points cut is the same code the first two configurations exercise)
MATRIX = [(config, where, at) for config in ("torch", "numpy") for where, at in POINTS] + [
    (config, where, at)
    for config in ("heldout", "heldout_numpy")
    for where, at in (*POINTS[1:3], ("rename", 3), ("eval", 1), ("eval", 4))
]


@pytest.mark.slow
@pytest.mark.parametrize("config, where, at", MATRIX)
def test_sigkill_anywhere_then_resume_gives_identical_weights(tmp_path, reference, corpus, config, where, at):
    first, run_dir = interrupted(tmp_path, corpus, config, where, at, "SIGKILL")
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert not (run_dir / "model.safetensors").exists()
    assert not list(run_dir.rglob(".*.tmp")) or where == "rename"  # a temp file only where the kill fell on a rename
    resumed = in_process("run", "--resume", str(run_dir), "-q")
    if resumed.returncode == 2 and "before its first checkpoint" in resumed.stderr:
        restart = in_process("run", str(run_dir / "recipe.yaml"), "--out", str(run_dir), "--overwrite", "-q")
        assert restart.returncode == 0, restart.stderr
    else:
        assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference[config])
    assert not list(run_dir.rglob(".*.tmp")), "temporary files survived the resumed run"
    assert len(list((run_dir / "checkpoint").glob("state-*.safetensors"))) == 1


def test_numpy_with_adam_resumes_bit_for_bit_after_sigkill(tmp_path, reference, corpus):
    # Adam's step count is a 0-d array; a checkpoint once stored it with shape (1,) and resuming crashed
    first, run_dir = interrupted(tmp_path, corpus, "numpy_adam", "step", 7, "SIGKILL")
    assert first.returncode == -signal.SIGKILL, first.stderr
    resumed = in_process("run", "--resume", str(run_dir), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference["numpy_adam"])


@pytest.mark.parametrize("config, sig", [("torch", "SIGINT"), ("numpy", "SIGINT"), ("torch", "SIGTERM")])
def test_sigint_writes_a_checkpoint_and_says_how_to_resume(tmp_path, reference, corpus, config, sig):
    first, run_dir = interrupted(tmp_path, corpus, config, "step", 13, sig)
    line = assert_one_line_error(
        first, 130, f"stopped by {sig} at epoch", "after writing a checkpoint", f"zoo run --resume {run_dir}"
    )
    assert f"{sig} received" in first.stderr
    assert not (run_dir / "model.safetensors").exists(), line
    resumed = in_process("run", "--resume", str(run_dir), "-q")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(run_dir, reference[config])


@pytest.mark.slow
def test_sigint_from_outside_at_any_moment(tmp_path, reference, corpus):
    """A real Ctrl-C from another process, at a moment the test does not choose precisely."""
    run_dir = tmp_path / "run"
    path = recipe(tmp_path, "torch", corpus)
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", str(path), "--out", str(run_dir), "-q", "--set", "trainer.epochs=60"],
        stderr=subprocess.PIPE,
        text=True,
    )
    metrics = run_dir / "metrics.jsonl"
    while proc.poll() is None and not (metrics.is_file() and metrics.read_text()):
        time.sleep(0.01)  # wait until training is under way
    proc.send_signal(signal.SIGINT)
    stderr = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, stderr
    assert "zoo run --resume" in stderr
    resumed = in_process("run", "--resume", str(run_dir), "-q")
    assert resumed.returncode == 0, resumed.stderr
    uninterrupted = zoo.run(path, {"trainer.epochs": 60}, out=tmp_path / "ref")
    assert (run_dir / "model.safetensors").read_bytes() == (uninterrupted.run_dir / "model.safetensors").read_bytes()


# -- what a run directory may and may not be used for ------------------------------------------------------------


def test_a_finished_run_is_not_overwritten_without_asking(tmp_path, reference):
    run_dir = reference["torch"].run_dir
    before = (run_dir / "model.safetensors").read_bytes()
    assert_one_line_error(
        in_process("run", str(run_dir / "recipe.yaml"), "--out", str(run_dir)),
        2,
        "already holds a finished run",
        "--overwrite",
    )
    assert_one_line_error(in_process("run", "--resume", str(run_dir)), 2, "already finished", "nothing to resume")
    assert (run_dir / "model.safetensors").read_bytes() == before


def test_an_unfinished_run_is_not_restarted_by_accident(tmp_path, corpus):
    first, run_dir = interrupted(tmp_path, corpus, "torch", "step", 7, "SIGKILL")
    assert first.returncode == -signal.SIGKILL
    line = assert_one_line_error(
        in_process("run", str(run_dir / "recipe.yaml"), "--out", str(run_dir)),
        2,
        "unfinished run",
        f"zoo run --resume {run_dir}",
        "--overwrite",
    )
    assert (run_dir / "checkpoint" / "checkpoint.json").is_file(), line
    fresh = in_process("run", str(run_dir / "recipe.yaml"), "--out", str(run_dir), "--overwrite", "-q")
    assert fresh.returncode == 0, fresh.stderr


def test_resume_refusals_are_one_line(tmp_path):
    assert_one_line_error(in_process("run", "--resume", str(tmp_path / "absent")), 2, "not found")
    assert_one_line_error(in_process("run", "--resume", str(tmp_path)), 2, "not a zoo run directory")
    assert_one_line_error(in_process("run", "--resume", str(tmp_path), "--set", "trainer.lr=1"), 2, "drop --set")
    assert_one_line_error(in_process("run"), 2, "needs a RECIPE", "--resume")


def test_a_tampered_checkpoint_is_refused(tmp_path, corpus):
    first, run_dir = interrupted(tmp_path, corpus, "torch", "step", 12, "SIGKILL")
    assert first.returncode == -signal.SIGKILL
    state = next((run_dir / "checkpoint").glob("state-*.safetensors"))
    blob = bytearray(state.read_bytes())
    blob[-5] ^= 0xFF
    state.write_bytes(bytes(blob))
    assert_one_line_error(
        in_process("run", "--resume", str(run_dir)), 2, "checkpoint", "truncated or altered", "--overwrite"
    )
    (run_dir / "checkpoint" / "checkpoint.json").write_text("{not json")
    assert_one_line_error(in_process("run", "--resume", str(run_dir)), 2, "checkpoint.json is unreadable")


def test_a_changed_corpus_is_refused_on_resume(tmp_path):
    own = tmp_path / "own.txt"
    own.write_text(TEXT, encoding="utf-8")
    first, run_dir = interrupted(tmp_path, own, "torch", "step", 12, "SIGKILL")
    assert first.returncode == -signal.SIGKILL
    own.write_text(TEXT[::-1], encoding="utf-8")
    assert_one_line_error(
        in_process("run", "--resume", str(run_dir)), 2, "differs from the one the checkpoint", "was its file changed"
    )


def test_a_second_run_into_a_busy_directory_is_refused(tmp_path, corpus):
    run_dir = tmp_path / "run"
    lock = RunLock(run_dir).acquire()
    try:
        assert_one_line_error(
            zoo_cli("run", str(recipe(tmp_path, "torch", corpus)), "--out", str(run_dir)),
            2,
            "in use by another run",
            "pid",
        )
        with pytest.raises(UsageError, match="in use by another run"):
            zoo.resume(run_dir)
    finally:
        lock.release()
    assert not (run_dir / "recipe.yaml").exists()


def test_a_killed_holder_leaves_no_stuck_lock(tmp_path):
    run_dir = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from zoo.train.runlock import RunLock; RunLock({str(run_dir)!r}).acquire(); "
            "print('held', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(UsageError, match=f"pid {holder.pid}"):
        RunLock(run_dir).acquire()
    holder.kill()
    holder.wait()
    RunLock(run_dir).acquire().release()
