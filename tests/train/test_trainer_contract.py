"""A trainer written outside zoo, with the plugin API alone, is exactly resumable by construction: its session keeps
what exact resume needs, so a run killed (SIGKILL) or stopped (Ctrl-C) and resumed ends bit for bit where an
uninterrupted run ends."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import zoo_plugins.backends
import zoo_plugins.datasets
import zoo_plugins.gru
import zoo_plugins.jsonl_logger
import zoo_plugins.predictor
import zoo_plugins.samplers
import zoo_plugins.schedules

from zoo.errors import Interrupted
from zoo.plugin import TrainContext, Trainer, TrainSettings, hookimpl
from zoo.registry import Registry
from zoo.train.checkpoint import Checkpoints
from zoo.train.runner import resume, run


@dataclasses.dataclass
class TinyOptions:
    """Options of the ``tiny`` trainer."""

    lr: float = 0.02
    epochs: int = 3
    every: int = 4  # a checkpoint every this many batches, and one at each epoch's end


@dataclasses.dataclass
class Sums:
    """The epoch's running sums: the trainer's own part of a checkpoint."""

    loss: float = 0.0
    tokens: int = 0


class TinyTrainer(Trainer):
    """Adam on every batch and a record per epoch: all a trainer writes. The session does the rest."""

    Options = TinyOptions

    def __init__(self, options: TinyOptions | None = None):
        self.options = options or TinyOptions()

    def fit(self, ctx: TrainContext) -> list[dict]:
        o = self.options
        session = ctx.session(TrainSettings("adam", o.lr, clip_norm=1.0), epochs=o.epochs, state=Sums())
        for epoch in session.epochs():
            start = time.perf_counter()
            for X, Y in session.batches():
                loss, stop = session.step(X, Y)
                session.state.loss += loss * Y.size
                session.state.tokens += Y.size
                if stop or session.at.batch % o.every == 0:
                    session.save(stop)  # and stops the run after writing, if a stop was requested
            mean, seconds = session.state.loss / session.state.tokens, time.perf_counter() - start
            record = {
                "epoch": epoch,
                "loss": mean,
                "perplexity": math.exp(mean),
                "steps": session.at.steps,
                "tokens_per_s": session.state.tokens / seconds,
                "seconds": seconds,
            }
            session.at.records.append(record)
            ctx.on_epoch(record)
            session.end_epoch()
            session.state = Sums()
            session.save(session.agree_stop())
        session.engine.sync()
        return session.at.records


PLUGIN = types.SimpleNamespace(
    __name__="tiny_trainer", register_trainers=hookimpl(lambda register: register("tiny", TinyTrainer))
)


def registry() -> Registry:
    """The built-ins a run needs and the tiny trainer, registered inline."""
    return Registry.from_plugins(
        zoo_plugins.datasets,
        zoo_plugins.gru,
        zoo_plugins.samplers,
        zoo_plugins.backends,
        zoo_plugins.schedules,
        zoo_plugins.predictor,
        zoo_plugins.jsonl_logger,
        PLUGIN,
    )


# The driver trains through the Python API and kills itself (SIGKILL) after the chosen optimizer step.
DRIVER = r"""
import os, signal, sys
sys.path.insert(0, os.environ["TESTS"])
import test_trainer_contract as contract
from zoo_plugins import torch_engine
from zoo.train.runner import run

step, count = torch_engine.TorchEngine.train_step, 0

def train_step(self, *args):
    global count
    out = step(self, *args)
    count += 1
    if count == int(os.environ["KILL_AT"]):
        os.kill(os.getpid(), signal.SIGKILL)
    return out

torch_engine.TorchEngine.train_step = train_step
run(sys.argv[1], out=sys.argv[2], registry=contract.registry())
"""


@pytest.fixture(scope="module")
def recipe(tmp_path_factory) -> Path:
    """18 batches an epoch of a carried state drawn at a random offset, dropout masks from torch's generator."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "corpus.txt").write_text("".join(random.Random(5).choices("abcdefgh ijk\n", k=600)), encoding="utf-8")
    data = {
        "name": "tiny",
        "seed": 4,
        "dataset": {"name": "text", "path": str(folder / "corpus.txt")},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8, "random_offset": True},
        "model": {"cell": "gru", "impl": "scratch", "hidden_size": 12, "layers": 2, "dropout": 0.2},
        "backend": "torch",
        "trainer": {"name": "tiny"},
    }
    path = folder / "tiny.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory) -> Path:
    """The uninterrupted run."""
    return run(recipe, out=tmp_path_factory.mktemp("reference") / "run", registry=registry()).run_dir


def assert_same_run(run_dir: Path, reference: Path) -> None:
    assert (run_dir / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    timing = {"seconds", "tokens_per_s"}  # all that may differ: wall-clock time
    lines = [(d / "metrics.jsonl").read_text().splitlines() for d in (run_dir, reference)]
    records = [[{k: v for k, v in json.loads(line).items() if k not in timing} for line in run] for run in lines]
    assert records[0] == records[1] and len(records[0]) == 3


def test_a_third_party_trainer_killed_mid_epoch_resumes_bit_for_bit(recipe, reference, tmp_path):
    run_dir = tmp_path / "run"  # killed after step 10: two batches past the checkpoint at batch 8 and its carried state
    env = {**os.environ, "TESTS": str(Path(__file__).parent), "KILL_AT": "10"}
    killed = subprocess.run(
        [sys.executable, "-c", DRIVER, str(recipe), str(run_dir)], capture_output=True, text=True, timeout=300, env=env
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (run_dir / "model.safetensors").exists() and (run_dir / "checkpoint" / "checkpoint.json").is_file()
    resume(run_dir, registry=registry())
    assert_same_run(run_dir, reference)


# a stop request is read after every batch and at each epoch's end: the 7th read is batch 7's, the 19th epoch 1's end
@pytest.mark.parametrize("read, where", [(7, "epoch 1, batch 7"), (19, "the end of epoch 1")])
def test_a_third_party_trainer_stopped_by_ctrl_c_resumes_bit_for_bit(
    recipe, reference, tmp_path, monkeypatch, read, where
):
    reads = iter(range(1, 1000))
    with monkeypatch.context() as mp:  # the session saves, then stops the run
        mp.setattr(Checkpoints, "stop_requested", property(lambda self: "SIGINT" if next(reads) == read else None))
        with pytest.raises(Interrupted, match=f"stopped by SIGINT at {where} after writing a checkpoint"):
            run(recipe, out=tmp_path / "run", registry=registry())
    resume(tmp_path / "run", registry=registry())
    assert_same_run(tmp_path / "run", reference)
