"""Bit-exact reproduction: the same recipe and seed, run in two fresh processes, give byte-identical weights
and identical metrics, on the torch and numpy backends; and a diverging run keeps its last good checkpoint."""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
import torch
from clitools import assert_one_line_error, zoo

from zoo.train.checkpoint import CheckpointStore

TEXT = "".join(random.Random(3).choices("the quick brown fox\n", k=1200))

MODELS = {
    "torch": "model: {cell: lstm, impl: scratch, hidden_size: 16, layers: 2, dropout: 0.2}\nbackend: torch\n",
    "numpy": "model: {cell: gru, hidden_size: 16, layers: 2, bidirectional: false, dropout: 0.2}\nbackend: numpy\n",
}


def write_recipe(folder: Path, backend: str) -> Path:
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    path = folder / f"{backend}.yaml"
    path.write_text(
        f"name: repro\nseed: 42\ndataset: {{name: text, path: {corpus}}}\n"
        "sampler: {name: random, batch_size: 4, num_steps: 12}\n"
        f"{MODELS[backend]}trainer: {{name: bptt, optimizer: adam, lr: 0.01, epochs: 3, clip_norm: 1.0}}\n"
        "predict: {prefixes: ['the'], length: 10, strategy: sample}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("backend", list(MODELS))
def test_two_processes_give_byte_identical_weights_and_metrics(tmp_path, backend):
    path = write_recipe(tmp_path, backend)
    runs = []
    for out in ("a", "b"):
        proc = zoo("run", str(path), "--out", str(tmp_path / out), "-q")
        assert proc.returncode == 0, proc.stderr
        runs.append(tmp_path / out)
    a, b = runs
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()

    def strip(d):  # the metrics without the wall-clock ones
        return [
            {k: v for k, v in json.loads(line).items() if k not in ("tokens_per_s", "seconds")}
            for line in (d / "metrics.jsonl").read_text().splitlines()
        ]

    assert strip(a) == strip(b) and len(strip(a)) == 3
    assert (a / "samples.txt").read_text(encoding="utf-8") == (b / "samples.txt").read_text(encoding="utf-8")


def test_a_diverging_run_keeps_its_last_good_checkpoint(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    recipe = tmp_path / "nan.yaml"
    recipe.write_text(
        f"name: nan\ndataset: {{name: text, path: {corpus}}}\n"
        "sampler: {name: sequential, batch_size: 4, num_steps: 10}\n"
        "model: {cell: rnn, impl: scratch, hidden_size: 8, nonlinearity: relu, init: normal, init_std: 0.5}\n"
        "backend: torch\n"
        "trainer: {name: bptt, optimizer: sgd, lr: 1.0e+3, epochs: 3, checkpoint_every: 1, checkpoint_unit: batches}\n"
    )
    out = tmp_path / "out"
    line = assert_one_line_error(
        zoo("run", str(recipe), "--out", str(out), "-q"),
        1,
        "loss became",
        "at epoch 1",
        "trainer.lr",
        "trainer.clip_norm",
    )
    failed_at = tuple(int(n) for n in re.search(r"at epoch (\d+), batch (\d+)", line).groups())
    assert not (out / "model.safetensors").exists(), line
    ckpt = CheckpointStore(out).load()  # verified against its sha256
    saved_at = (ckpt.state["trainer"]["epoch"], ckpt.state["trainer"]["batch"])
    assert saved_at < failed_at, (saved_at, failed_at)  # the last checkpoint comes from before the failure
    assert all(bool(torch.isfinite(t).all()) for t in ckpt.tensors.values() if t.is_floating_point())
    assert math.isfinite(ckpt.state["trainer"]["loss_sum"])
