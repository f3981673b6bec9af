"""The samplers follow d2l's data_iter_consecutive and data_iter_random."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.options import bind
from zoo_plugins.samplers import GridOptions, RandomSampler, SequentialOptions, SequentialSampler

IDS = list(range(1000))


def epoch(sampler, seed=0, ids=IDS):
    return list(sampler.batches(ids, np.random.default_rng(seed)))


@pytest.mark.parametrize("cls, opts", [(SequentialSampler, SequentialOptions), (RandomSampler, GridOptions)])
def test_shapes_targets_and_batch_count(cls, opts):
    s = cls(opts(batch_size=4, num_steps=7))
    batches = epoch(s)
    assert len(batches) == s.num_batches(len(IDS)) > 0
    for X, Y in batches:
        assert X.shape == Y.shape == (4, 7) and X.dtype == np.int64
        np.testing.assert_array_equal(Y, X + 1)  # ids are 0..999, so the next token is id + 1


def test_jay_sizes_give_eight_sequential_batches():
    s = SequentialSampler(SequentialOptions(batch_size=32, num_steps=35))
    batches = epoch(s, ids=list(range(10000)))
    assert len(batches) == 8 and sum(x.size for x, _ in batches) == 8960


def test_sequential_rows_continue_across_batches():
    batches = epoch(SequentialSampler(SequentialOptions(batch_size=3, num_steps=5)))
    for (x0, _), (x1, _) in zip(batches, batches[1:]):
        np.testing.assert_array_equal(x1[:, 0], x0[:, -1] + 1)
    assert SequentialSampler.carries_state and not RandomSampler.carries_state


def test_sequential_random_offset_comes_from_the_rng():
    s = SequentialSampler(SequentialOptions(batch_size=2, num_steps=5, random_offset=True))
    firsts = {int(epoch(s, seed)[0][0][0, 0]) for seed in range(20)}
    assert len(firsts) > 1 and all(0 <= f < 5 for f in firsts)


def test_random_sampler_is_seeded_and_uses_each_example_once():
    s = RandomSampler(GridOptions(batch_size=4, num_steps=7))
    a, b, c = epoch(s, 0), epoch(s, 0), epoch(s, 1)
    assert all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, b))
    assert not all(np.array_equal(x, y) for (x, _), (y, _) in zip(a, c))
    starts = [int(row[0]) for x, _ in a for row in x]
    assert len(starts) == len(set(starts)) and all(s0 % 7 == 0 for s0 in starts)


@pytest.mark.parametrize("cls, opts", [(SequentialSampler, SequentialOptions), (RandomSampler, GridOptions)])
def test_a_corpus_shorter_than_one_batch_yields_nothing(cls, opts):
    s = cls(opts(batch_size=32, num_steps=35))
    assert s.num_batches(100) == 0 and epoch(s, ids=list(range(100))) == []


def test_sizes_must_be_positive():
    _, problems = bind(GridOptions, {"batch_size": 0, "num_steps": -1}, "sampler")
    assert problems == ["sampler.batch_size: must be at least 1, got 0", "sampler.num_steps: must be at least 1, got -1"]
