"""Data-parallel training (zoo.train.distributed): two gloo processes train as one process on the whole batch,
only rank 0 writes, a killed or interrupted two-process run resumes, and what cannot run distributed says so."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from clitools import assert_one_line_error, in_process
from clitools import zoo as zoo_cli
from safetensors.torch import load_file
from zoo_plugins.samplers import GridOptions, RandomSampler, SequentialOptions, SequentialSampler

import zoo
from zoo.errors import Reported, RunError, UsageError
from zoo.interfaces import Corpus
from zoo.recipe import prepare
from zoo.train.checkpoint import Checkpoint, decode, encode
from zoo.train.distributed import ShardedSampler, World, check_distributable
from zoo.train.launch import _failure
from zoo.vocab import Vocab

ROOT = Path(__file__).resolve().parents[2]
RECIPE = str(ROOT / "recipes" / "jay_gru.yaml")
# A small GRU on the Jay lyrics: 124 sequential batches of 8 × 10 per epoch; plain SGD, as the acceptance asks.
SMALL = {
    "model.hidden_size": 32,
    "sampler.batch_size": 8,
    "sampler.num_steps": 10,
    "trainer.epochs": 2,
    "trainer.optimizer": "sgd",
    "trainer.lr": 1.0,
    "predict.every": 0,
}
TOLERANCE = 1e-6  # two half-batch gradients averaged against one whole-batch gradient: the same sums in another order

# Each process of a torchrun run trains through the Python API, then saves the weights it ended with (rank 0 also
# writes the run directory as usual); the test then compares the ranks' weights with each other.
DRIVER = r"""
import json, os, sys
from safetensors.torch import save_file
import zoo
from zoo_plugins.bptt import BPTTTrainer

out, overrides = sys.argv[1], json.loads(sys.argv[2])
fit = BPTTTrainer.fit

def fit_and_dump(self, ctx):
    records = fit(self, ctx)
    save_file({k: v.contiguous() for k, v in ctx.model.state_dict().items()},
              os.path.join(out, f"rank{os.environ['RANK']}.safetensors"))
    return records

BPTTTrainer.fit = fit_and_dump
zoo.run(sys.argv[3], overrides, out=os.path.join(out, "run"))
"""


def sets(overrides: dict) -> list[str]:
    return [arg for key, value in overrides.items() for arg in ("--set", f"{key}={value}")]


def torchrun(tmp_path: Path, overrides: dict) -> subprocess.CompletedProcess:
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(driver),
            str(tmp_path),
            json.dumps(overrides),
            RECIPE,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def single_process(tmp_path: Path, overrides: dict) -> dict[str, torch.Tensor]:
    zoo.run(RECIPE, overrides, out=tmp_path / "single")
    return load_file(tmp_path / "single" / "model.safetensors")


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], tol: float = TOLERANCE) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=tol, msg=name)


@pytest.mark.parametrize("sampler", ["sequential", "random"])
def test_two_gloo_processes_train_as_one_process_on_the_whole_batch(tmp_path, data_dir, sampler):
    overrides = {**SMALL, "sampler.name": sampler}
    proc = torchrun(tmp_path, overrides)
    assert proc.returncode == 0, proc.stderr
    rank0, rank1 = load_file(tmp_path / "rank0.safetensors"), load_file(tmp_path / "rank1.safetensors")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # (a) identical on both ranks
    assert_close(rank0, single_process(tmp_path, overrides))  # (b) the same SGD steps as one process, batch 8
    run = tmp_path / "run"  # (c) rank 0 wrote a complete run directory, which loads
    assert {p.name for p in run.iterdir()} >= {
        "model.safetensors",
        "metrics.jsonl",
        "samples.txt",
        "perplexity.png",
        "recipe.yaml",
        "checkpoint",
    }
    assert_close(load_file(run / "model.safetensors"), rank0, 0.0)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2] and all(m["tokens_per_s"] > 0 for m in metrics)
    assert len(zoo.load(run).generate("分开", 5)) == 7


def test_zoo_run_nproc_launches_workers_through_torch(tmp_path, data_dir):
    proc = zoo_cli("run", RECIPE, *sets(SMALL), "--out", str(tmp_path / "two"), "--nproc", "2", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("run saved to") == 1 and not proc.stderr.strip()  # rank 0 speaks; nothing else
    assert_close(load_file(tmp_path / "two" / "model.safetensors"), single_process(tmp_path, SMALL))
    ones = [json.loads(line)["loss"] for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    twos = [json.loads(line)["loss"] for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert twos == pytest.approx(ones, rel=1e-6)  # the batch losses are averaged over both ranks


def test_validation_numbers_agree_across_one_and_two_processes(tmp_path, data_dir):
    held = {
        **SMALL,
        "dataset.valid_fraction": 0.1,
        "dataset.unk": True,
        "trainer.eval_every": 4,
        "trainer.keep": "best",
    }
    proc = zoo_cli("run", RECIPE, *sets(held), "--out", str(tmp_path / "two"), "--nproc", "2", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    single_process(tmp_path, held)
    ones = [json.loads(line) for line in (tmp_path / "single" / "metrics.jsonl").read_text().splitlines()]
    twos = [json.loads(line) for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()]
    assert [(m["epoch"], m.get("batch")) for m in twos] == [(m["epoch"], m.get("batch")) for m in ones]
    assert len(ones) > 2 and all("valid_loss" in m for m in ones)
    for one, two in zip(ones, twos):  # the weights agree within 1e-6 (see above), and so do their scores
        assert two["valid_loss"] == pytest.approx(one["valid_loss"], abs=1e-6)


# Two layers with dropout and sampled predictions every epoch: resuming must restore each process's own
# generator (dropout moves them all; rank 0 alone samples, moving its own further).
LONG = {
    **SMALL,
    "trainer.epochs": 3,
    "trainer.checkpoint_unit": "batches",
    "trainer.checkpoint_every": 5,
    "model.layers": 2,
    "model.dropout": 0.2,
    "predict.every": 1,
    "predict.strategy": "sample",
    "predict.length": 10,
}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """A three-epoch two-process run, never stopped: what an interrupted one must end with."""
    if not os.environ.get("ZOO_DATA"):
        pytest.skip("ZOO_DATA not set")
    out = tmp_path_factory.mktemp("uninterrupted") / "run"
    proc = zoo_cli("run", RECIPE, *sets(LONG), "--out", str(out), "--nproc", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def start(out: Path, overrides: dict = LONG) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", RECIPE, *sets(overrides), "--out", str(out), "--nproc", "2", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for_checkpoint(out: Path, steps: int) -> None:
    pointer = out / "checkpoint" / "checkpoint.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads(pointer.read_text())["state"]["trainer"]["steps"] >= steps:
                return
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint past step {steps} in {out}")


def workers_of(out: Path) -> list[str]:
    ps = subprocess.run(
        ["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True
    ).stdout  # ww: whole command lines
    return [line for line in ps.splitlines() if str(out) in line and "zoo" in line]


def assert_same_run(a: Path, b: Path) -> None:
    assert_close(load_file(a / "model.safetensors"), load_file(b / "model.safetensors"), 0.0)
    losses = [[json.loads(line)["loss"] for line in (run / "metrics.jsonl").read_text().splitlines()] for run in (a, b)]
    assert losses[0] == losses[1]
    assert (a / "samples.txt").read_text() == (b / "samples.txt").read_text()


def test_a_killed_worker_is_named_and_its_run_resumes(tmp_path, uninterrupted):
    out = tmp_path / "run"
    launcher = start(out)
    wait_for_checkpoint(out, 100)
    worker = int(workers_of(out)[-1].split()[0])  # the launcher's own line comes first
    assert worker != launcher.pid
    os.kill(worker, signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=120)
    line = assert_one_line_error(
        subprocess.CompletedProcess([], launcher.returncode, "", stderr),
        1,
        "was killed by SIGKILL",
        f"zoo run --resume {out} --nproc 2",
    )
    assert line.startswith("Error: worker rank ")
    proc = zoo_cli("run", "--resume", str(out), "--nproc", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(out, uninterrupted)


def test_killed_two_process_run_resumes_and_finishes(tmp_path, uninterrupted):
    out = tmp_path / "run"
    launcher = start(out)
    wait_for_checkpoint(out, 150)
    os.killpg(launcher.pid, signal.SIGKILL)  # the launcher dies at once; its workers die with it
    launcher.wait(timeout=30)
    deadline = time.monotonic() + 30
    while workers_of(out) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers_of(out), "workers outlived their launcher"
    assert not (out / "model.safetensors").exists()
    proc = zoo_cli("run", "--resume", str(out), "--nproc", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(out, uninterrupted)  # bit for bit: the same processes replay the same batches


def test_ctrl_c_stops_every_worker_at_one_batch_and_resumes(tmp_path, uninterrupted):
    out = tmp_path / "run"
    launcher = start(out)
    wait_for_checkpoint(out, 100)
    os.kill(launcher.pid, signal.SIGINT)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 130, stderr
    assert_one_line_error(
        subprocess.CompletedProcess([], 130, "", stderr), 130, "stopped by SIGINT", f"zoo run --resume {out} --nproc 2"
    )
    proc = zoo_cli("run", "--resume", str(out), "--nproc", "2", "-q")
    assert proc.returncode == 0, proc.stderr
    assert_same_run(out, uninterrupted)


def test_a_two_process_checkpoint_resumes_on_one_process(tmp_path, data_dir):
    plain = {
        **SMALL,
        "trainer.epochs": 3,
        "trainer.checkpoint_unit": "batches",
        "trainer.checkpoint_every": 5,
    }  # no dropout
    out = tmp_path / "run"
    launcher = start(out, plain)
    wait_for_checkpoint(out, 150)
    os.killpg(launcher.pid, signal.SIGKILL)
    launcher.wait(timeout=30)
    proc = zoo_cli("run", "--resume", str(out), "-q")  # the checkpoint holds the whole batch's carried state
    assert proc.returncode == 0, proc.stderr
    assert_close(load_file(out / "model.safetensors"), single_process(tmp_path, plain))


@pytest.mark.parametrize(
    "override,needle",
    [
        ("backend.name=numpy", "backend: numpy does not run distributed"),
        (
            "sampler.batch_size=7",
            "sampler.batch_size: 7 rows cannot be split evenly across 2 processes; choose a multiple of 2",
        ),
    ],
)
def test_what_cannot_run_distributed_says_so_before_starting_workers(tmp_path, override, needle):
    proc = in_process("run", RECIPE, "--set", override, "--out", str(tmp_path / "run"), "--nproc", "2")
    assert_one_line_error(proc, 2, needle)
    assert not (tmp_path / "run").exists()


def test_an_error_every_worker_meets_is_reported_once(tmp_path, data_dir):
    proc = zoo_cli(
        "run", RECIPE, *sets(SMALL), "--set", 'predict.prefixes=["★"]', "--out", str(tmp_path / "run"), "--nproc", "2"
    )
    assert_one_line_error(
        proc, 2, "predict.prefixes[0]", "★"
    )  # each worker found it in the corpus; rank 0 alone says so
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_an_error_of_rank_0_alone_stops_the_others_quietly(tmp_path, data_dir):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.safetensors").write_bytes(
        b"a finished run"
    )  # not zoo's: refused by rank 0, which alone writes
    proc = zoo_cli("run", RECIPE, *sets(SMALL), "--out", str(tmp_path / "run"), "--nproc", "2")
    assert_one_line_error(proc, 2, "model.safetensors was not made by zoo")
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == b"a finished run"


def test_nproc_under_torchrun_is_refused(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    proc = in_process("run", RECIPE, "--nproc", "2")
    assert_one_line_error(proc, 2, "under torchrun, leave it out")


def test_check_distributable_names_the_sampler_that_cannot_shard(registry):
    r = prepare(str(ROOT / "recipes" / "dinos_rnn.yaml"), registry, {"backend.name": "torch"})
    with pytest.raises(UsageError, match="sampler: names cannot split its minibatches across processes"):
        check_distributable(r.backend.build(), r.sampler.build(), r, 2)
    check_distributable(r.backend.build(), r.sampler.build(), r, 1)  # one process: anything goes


def test_a_trainer_that_ignores_the_other_processes_is_refused(registry, monkeypatch):
    r = prepare(RECIPE, registry)
    monkeypatch.setattr(r.trainer.cls, "distributed", False)
    with pytest.raises(UsageError, match="trainer: bptt does not run distributed"):
        check_distributable(r.backend.build(), r.sampler.build(), r, 2)


def corpus(n: int) -> Corpus:
    return Corpus(list(np.arange(n) % 50), Vocab([chr(65 + i) for i in range(50)]))


@pytest.mark.parametrize(
    "sampler",
    [
        SequentialSampler(SequentialOptions(batch_size=6, num_steps=4)),
        RandomSampler(GridOptions(batch_size=6, num_steps=4)),
    ],
)
def test_the_ranks_rows_make_up_the_global_batch(sampler):
    c = corpus(400)
    whole = list(sampler.batches(c, np.random.default_rng(3)))
    parts = [list(ShardedSampler(sampler, World(rank, 3)).batches(c, np.random.default_rng(3))) for rank in range(3)]
    assert len(whole) == sampler.num_batches(c) == ShardedSampler(sampler, World(1, 3)).num_batches(c)
    for i, (X, Y) in enumerate(whole):
        assert np.array_equal(np.concatenate([p[i][0] for p in parts]), X)
        assert np.array_equal(np.concatenate([p[i][1] for p in parts]), Y)


def test_sequential_rows_continue_on_their_own_rank():
    sampler = SequentialSampler(SequentialOptions(batch_size=4, num_steps=5))
    batches = list(ShardedSampler(sampler, World(1, 2)).batches(corpus(300), np.random.default_rng(0)))
    for (X, _), (X2, _) in zip(batches, batches[1:]):
        assert X.shape == (2, 5)
        assert np.array_equal(
            (X[:, -1] + 1) % 50, X2[:, 0]
        )  # the carried state of a row belongs to the next batch's same row


def test_a_lone_world_is_free_and_carries_split_by_rows():
    lone = World()
    assert lone.main and lone.agree(1.5, None) == (1.5, None) and lone.agree(1.5, "SIGINT") == (1.5, "SIGINT")
    carry = (torch.arange(24.0).reshape(1, 6, 4),)
    assert lone.gather(carry) is carry and lone.scatter(carry) is carry
    assert torch.equal(World(2, 3).scatter(carry)[0], carry[0][:, 4:6])
    assert World(1, 4).rows(8) == slice(2, 4)


def test_a_checkpoint_travels_as_bytes():
    ckpt = Checkpoint(
        {"trainer": {"epoch": 3}, "run": {"metrics": [{"loss": 0.5}], "name": "分开"}},
        {"engine.model.w": torch.randn(3, 2), "carry.0": torch.zeros(1, 4, 2, dtype=torch.float64)},
    )
    back = decode(encode(ckpt))
    assert back.state == ckpt.state
    assert all(torch.equal(back.tensors[k], t) for k, t in ckpt.tensors.items())


def test_the_launcher_names_the_worker_the_failure_began_with():
    def failure(code: int, at: int = 5) -> SimpleNamespace:
        return SimpleNamespace(exitcode=code, timestamp=at)

    usage = _failure({0: failure(2), 1: failure(-signal.SIGTERM)}, "runs/x", 2)  # the agent ended rank 1
    assert isinstance(usage, Reported) and usage.exit_code == 2
    killed = _failure({0: failure(1), 1: failure(-signal.SIGKILL)}, "runs/x", 2)  # rank 0 only lost its peer
    assert isinstance(killed, RunError) and str(killed).startswith("worker rank 1 was killed by SIGKILL")
    assert "zoo run --resume runs/x --nproc 2" in str(killed)
    assert (
        _failure({0: failure(1), 1: failure(2)}, "runs/x", 2).exit_code == 2
    )  # the error itself, not the peer that saw it
