"""The checkpoint store, the generator states and the sampler state that exact resume rests on."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from zoo_plugins.samplers import NamesOptions, NamesSampler

from zoo.errors import RunError, UsageError
from zoo.interfaces import Corpus
from zoo.train.checkpoint import Checkpoint, Checkpoints, CheckpointStore
from zoo.train.rngstate import capture_rng, restore_rng
from zoo.vocab import Vocab


def test_save_then_load_round_trips_and_keeps_one_tensor_file(tmp_path):
    store = CheckpointStore(tmp_path)
    assert not store.exists()
    for step in range(3):
        store.save(
            Checkpoint(
                {"step": step, "loss": 0.1 + step}, {"w": torch.full((2, 3), float(step)), "n": torch.tensor(step)}
            )
        )
    loaded = store.load()
    assert loaded.state == {"step": 2, "loss": 2.1}
    assert torch.equal(loaded.tensors["w"], torch.full((2, 3), 2.0)) and int(loaded.tensors["n"]) == 2
    assert [p.name for p in store.dir.glob("state-*")] == ["state-000003.safetensors"]
    assert json.loads((store.dir / "checkpoint.json").read_text())["seq"] == 3


def test_new_tensors_without_their_pointer_leave_the_old_checkpoint_in_force(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path)
    store.save(Checkpoint({"step": 1}, {"w": torch.ones(2)}))
    monkeypatch.setattr("zoo.train.checkpoint.write_text", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        store.save(Checkpoint({"step": 2}, {"w": torch.zeros(2)}))
    monkeypatch.undo()
    assert store.load().state == {"step": 1}


@pytest.mark.parametrize(
    "damage, needle",
    [
        (lambda d: (d / "checkpoint.json").write_text("[]"), "not a zoo checkpoint"),
        (lambda d: next(d.glob("state-*")).unlink(), "cannot read"),
        (lambda d: next(d.glob("state-*")).write_bytes(b"short"), "truncated or altered"),
    ],
)
def test_a_damaged_checkpoint_is_one_clear_error(tmp_path, damage, needle):
    store = CheckpointStore(tmp_path)
    store.save(Checkpoint({"step": 1}, {"w": torch.ones(2)}))
    damage(store.dir)
    with pytest.raises(UsageError, match=needle) as exc:
        store.load()
    assert "--overwrite" in str(exc.value) and "\n" not in str(exc.value)


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    store = CheckpointStore(tmp_path)
    handle = Checkpoints(store, lambda: Checkpoint({}, {}))
    handle.save({"step": 1}, {"engine.model.w": torch.ones(2)}, "epoch 1, batch 1")
    with pytest.raises(RunError, match="engine.model.w became non-finite at epoch 1, batch 2"):
        handle.save({"step": 2}, {"engine.model.w": torch.tensor([1.0, float("nan")])}, "epoch 1, batch 2")
    assert store.load().state["trainer"] == {"step": 1}


def test_generator_states_round_trip_exactly():
    run_rng = np.random.default_rng(1)
    meta, tensors = capture_rng({"engine": run_rng})
    json.dumps(meta)  # all of it is JSON
    first = (random.random(), np.random.rand(), torch.rand(3), run_rng.random(4))
    restore_rng(json.loads(json.dumps(meta)), tensors, {"engine": run_rng})
    again = (random.random(), np.random.rand(), torch.rand(3), run_rng.random(4))
    assert first[0] == again[0] and first[1] == again[1]
    assert torch.equal(first[2], again[2]) and np.array_equal(first[3], again[3])


def test_names_sampler_replays_its_shuffle_drawn_once():
    vocab = Vocab.build("\nabc")
    corpus = Corpus(vocab.encode("ab\nc\nba\ncab\nbb\n"), vocab)
    sampler = NamesSampler(NamesOptions(shuffle="once"))
    rng = np.random.default_rng(0)
    list(sampler.batches(corpus, rng))
    saved, rng_state = sampler.state_dict(), rng.bit_generator.state
    second = [x.tolist() for x, _ in sampler.batches(corpus, rng)]
    fresh, rng2 = NamesSampler(NamesOptions(shuffle="once")), np.random.default_rng(99)
    fresh.load_state_dict(json.loads(json.dumps(saved)))
    rng2.bit_generator.state = rng_state
    assert [x.tolist() for x, _ in fresh.batches(corpus, rng2)] == second
