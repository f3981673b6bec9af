"""Tests of the built-in samplers (``zoo_plugins.samplers``): d2l's ``data_iter_consecutive`` and
``data_iter_random``."""

from __future__ import annotations

import numpy as np
import pytest
import zoo_plugins.samplers as samplers
from zoo_plugins.samplers import GridOptions, RandomSampler, SequentialOptions, SequentialSampler

from zoo.interfaces import Corpus, Sampler
from zoo.options import bind
from zoo.registry import Registry
from zoo.vocab import Vocab

BOTH = [(SequentialSampler, SequentialOptions), (RandomSampler, GridOptions)]
SIZES = [(1000, 4, 7), (10000, 32, 35), (100, 3, 5), (71, 5, 7), (72, 5, 7), (50, 1, 1), (36, 1, 35)]


def lm(ids) -> Corpus:
    """A language-model corpus of these ids (or of ids 0..n-1 for an int)."""
    return Corpus(train=list(range(ids)) if isinstance(ids, int) else ids, vocab=Vocab([]))


def epoch(sampler, ids, seed=0):
    """One epoch of batches from a fresh generator seeded with ``seed``."""
    return list(sampler.batches(lm(ids), np.random.default_rng(seed)))


def reference_consecutive(ids, batch_size, num_steps):
    """d2l (Chinese PyTorch edition) ``data_iter_consecutive``, in plain lists."""
    batch_len = len(ids) // batch_size
    rows = [ids[r * batch_len : (r + 1) * batch_len] for r in range(batch_size)]
    for i in range((batch_len - 1) // num_steps):
        i = i * num_steps
        yield [row[i : i + num_steps] for row in rows], [row[i + 1 : i + num_steps + 1] for row in rows]


def reference_random(ids, batch_size, num_steps, order):
    """d2l (Chinese PyTorch edition) ``data_iter_random``, with ``order`` in place of ``random.shuffle``."""
    num_examples = (len(ids) - 1) // num_steps
    assert sorted(order) == list(range(num_examples))
    for i in range(num_examples // batch_size):
        picked = order[i * batch_size : (i + 1) * batch_size]
        yield (
            [ids[j * num_steps : j * num_steps + num_steps] for j in picked],
            [ids[j * num_steps + 1 : j * num_steps + num_steps + 1] for j in picked],
        )


# -- registration and options ------------------------------------------------------


def test_registers_the_samplers():
    reg = Registry.from_plugins(samplers)
    assert reg.names("sampler") == ["names", "random", "sequential"]
    assert reg.get("sampler", "sequential") is SequentialSampler
    assert reg.get("sampler", "random") is RandomSampler
    assert SequentialSampler.carries_state is True and RandomSampler.carries_state is False


@pytest.mark.parametrize(("cls", "opts"), BOTH)
def test_follows_the_sampler_interface(cls, opts):
    assert isinstance(cls(), Sampler) and isinstance(cls(opts()), Sampler)
    assert (cls().options.batch_size, cls().options.num_steps) == (32, 35)


@pytest.mark.parametrize("opts", [GridOptions, SequentialOptions])
def test_sizes_must_be_at_least_one(opts):
    _, problems = bind(opts, {"batch_size": 0, "num_steps": -1}, "sampler")
    assert problems == [
        "sampler.batch_size: must be at least 1, got 0",
        "sampler.num_steps: must be at least 1, got -1",
    ]
    _, problems = bind(opts, {"batch_size": 2.5}, "sampler")
    assert problems == ["sampler.batch_size: expected int, got 2.5"]


# -- both samplers -------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "opts"), BOTH)
@pytest.mark.parametrize(("n", "batch_size", "num_steps"), SIZES)
def test_shapes_targets_and_count(cls, opts, n, batch_size, num_steps):
    sampler = cls(opts(batch_size=batch_size, num_steps=num_steps))
    ids = list(range(n))  # the token after id k is k + 1
    batches = epoch(sampler, ids)
    assert len(batches) == sampler.num_batches(lm(n))
    for X, Y in batches:
        assert X.shape == Y.shape == (batch_size, num_steps)
        assert X.dtype == Y.dtype == np.int64
        np.testing.assert_array_equal(Y, X + 1)


@pytest.mark.parametrize(("cls", "opts"), BOTH)
@pytest.mark.parametrize("n", [0, 1, 35, 100, 32 * 35])
def test_a_corpus_shorter_than_one_batch_yields_nothing(cls, opts, n):
    sampler = cls(opts(batch_size=32, num_steps=35))
    assert sampler.num_batches(lm(n)) == 0
    assert epoch(sampler, list(range(n))) == []


@pytest.mark.parametrize(("cls", "opts"), BOTH)
def test_accepts_any_int_sequence(cls, opts):
    sampler = cls(opts(batch_size=2, num_steps=3))
    as_list = epoch(sampler, list(range(40)))
    for other in (tuple(range(40)), np.arange(40, dtype=np.int32)):
        got = epoch(sampler, other)
        assert all(np.array_equal(a, b) for pair_a, pair_b in zip(as_list, got) for a, b in zip(pair_a, pair_b))
        assert all(x.dtype == np.int64 for x, _ in got)


# -- sequential ----------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size", "num_steps"), SIZES)
def test_sequential_is_d2l_data_iter_consecutive(n, batch_size, num_steps):
    ids = [(7 * k) % 11 for k in range(n)]
    got = epoch(SequentialSampler(SequentialOptions(batch_size=batch_size, num_steps=num_steps)), ids)
    want = list(reference_consecutive(ids, batch_size, num_steps))
    assert len(got) == len(want)
    for (X, Y), (x, y) in zip(got, want):
        assert X.tolist() == x and Y.tolist() == y


def test_jay_sizes_give_eight_sequential_batches():
    sampler = SequentialSampler()  # batch 32, steps 35: the d2l Jay Chou setting
    batches = epoch(sampler, list(range(10000)))
    assert len(batches) == sampler.num_batches(lm(10000)) == 8
    assert sum(X.size for X, _ in batches) == 8960


def test_sequential_rows_continue_across_batches():
    batches = epoch(SequentialSampler(SequentialOptions(batch_size=3, num_steps=5)), list(range(1000)))
    assert len(batches) > 2
    for (X0, Y0), (X1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(X1[:, 0], X0[:, -1] + 1)  # row r of batch i+1 continues row r of batch i
        np.testing.assert_array_equal(X1[:, 0], Y0[:, -1])


def test_sequential_ignores_the_rng_by_default():
    sampler = SequentialSampler(SequentialOptions(batch_size=4, num_steps=6))
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    a = list(sampler.batches(lm(list(range(500))), rng))
    assert rng.bit_generator.state == before
    b = epoch(sampler, list(range(500)), seed=99)
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b))


def test_sequential_random_offset_comes_from_the_rng():
    sampler = SequentialSampler(SequentialOptions(batch_size=2, num_steps=5, random_offset=True))
    ids = list(range(1000))
    firsts = set()
    for seed in range(30):
        batches = epoch(sampler, ids, seed)
        assert len(batches) == sampler.num_batches(lm(len(ids)))  # the same count whatever the offset
        assert int(batches[0][0][0, 0]) == np.random.default_rng(seed).integers(5)
        for (X0, _), (X1, _) in zip(batches, batches[1:]):
            np.testing.assert_array_equal(X1[:, 0], X0[:, -1] + 1)
        firsts.add(int(batches[0][0][0, 0]))
    assert firsts == {0, 1, 2, 3, 4}
    assert [x.tolist() for x, _ in epoch(sampler, ids, 7)] == [x.tolist() for x, _ in epoch(sampler, ids, 7)]


@pytest.mark.parametrize("n", range(60, 100))
def test_random_offset_count_holds_for_every_offset(n):
    sampler = SequentialSampler(SequentialOptions(batch_size=3, num_steps=4, random_offset=True))
    counts = {len(epoch(sampler, list(range(n)), seed)) for seed in range(12)}
    assert counts == {sampler.num_batches(lm(n))}


# -- random --------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size", "num_steps"), SIZES)
def test_random_is_d2l_data_iter_random(n, batch_size, num_steps):
    ids = [(7 * k) % 11 for k in range(n)]
    got = epoch(RandomSampler(GridOptions(batch_size=batch_size, num_steps=num_steps)), ids, seed=5)
    order = np.random.default_rng(5).permutation((n - 1) // num_steps).tolist()
    want = list(reference_random(ids, batch_size, num_steps, order))
    assert len(got) == len(want)
    for (X, Y), (x, y) in zip(got, want):
        assert X.tolist() == x and Y.tolist() == y


def test_random_is_seeded():
    sampler = RandomSampler(GridOptions(batch_size=4, num_steps=7))
    ids = list(range(1000))
    a, b, c = epoch(sampler, ids, 0), epoch(sampler, ids, 0), epoch(sampler, ids, 1)
    assert [x.tolist() for x, _ in a] == [x.tolist() for x, _ in b]
    assert [x.tolist() for x, _ in a] != [x.tolist() for x, _ in c]
    rng = np.random.default_rng(0)  # one generator, two epochs: a fresh shuffle each epoch
    first, second = list(sampler.batches(lm(ids), rng)), list(sampler.batches(lm(ids), rng))
    assert [x.tolist() for x, _ in first] == [x.tolist() for x, _ in a]
    assert [x.tolist() for x, _ in second] != [x.tolist() for x, _ in first]


def test_random_uses_each_example_at_most_once_per_epoch():
    sampler = RandomSampler(GridOptions(batch_size=4, num_steps=7))
    batches = epoch(sampler, list(range(1000)), seed=2)
    starts = [int(row[0]) for X, _ in batches for row in X]
    assert len(starts) == len(set(starts)) == sampler.num_batches(lm(1000)) * 4
    assert all(s % 7 == 0 and s + 7 < 1000 for s in starts)  # whole examples, Y still inside the corpus
