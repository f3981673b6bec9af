"""The conformance kit (zoo.testing): the built-ins pass it, and it catches the mistakes it is meant to catch."""

from __future__ import annotations

import importlib.metadata
import types

import numpy as np
import pytest
import torch
from test_cells import CELLS
from zoo_plugins.datasets import TextFile
from zoo_plugins.gru import GRU
from zoo_plugins.predictor import DefaultPredictor

import zoo
import zoo.registry
from zoo.interfaces import Corpus
from zoo.nn.cell import Cell
from zoo.registry import BUILTIN_DIST, Registry
from zoo.testing import check_cell, check_dataset, check_predictor
from zoo.vocab import Vocab

# -- the built-ins pass -------------------------------------------------------


@pytest.mark.parametrize("variant", CELLS)
def test_builtin_cells_pass(variant):
    name, _, options = CELLS[variant]
    check_cell(name, options or None)


def _builtin(kind: str) -> list[str]:
    """The names of zoo's own components of ``kind`` in the plugin registry."""
    return sorted(c.name for c in zoo.registry.get_registry().components(kind) if c.dist == BUILTIN_DIST)


TEXT = (
    "The Time Traveller (for so it will be convenient to speak of him)\nwas expounding a recondite matter to us.\n" * 5
)

#: Recipe options for each built-in dataset's check (``None``: read from ``ZOO_DATA``), and variants for ``text``.
DATASET_CASES = {
    "dinos": [{"max_names": 200, "valid_fraction": 0.1}],
    "jaychou_lyrics": [{"max_chars": 10000, "valid_fraction": 0.1, "unk": True}],
    "timemachine": [{"level": "word", "max_tokens": 2000, "unk": True, "min_count": 2}],
    "tinyshakespeare": [{}],
    "text": [
        {},
        {"level": "word", "vocab_order": "frequency", "valid_fraction": 0.2},
        {"newlines": "space", "lowercase": True},
    ],
    "pairs": [{"pairs": [["hello", "ohlol"], ["abc", "cba"]]}],
}


def test_every_builtin_dataset_has_a_conformance_case():
    assert sorted(DATASET_CASES) == _builtin("dataset"), "add the new dataset's options to DATASET_CASES"


@pytest.mark.parametrize(
    "name, options",
    [(name, options) for name in _builtin("dataset") for options in DATASET_CASES.get(name, [])],
    ids=lambda v: v if isinstance(v, str) else ",".join(f"{k}={x}" for k, x in v.items()) or "defaults",
)
def test_builtin_datasets_pass(name, options, tmp_path, request):
    if name == "text":
        path = tmp_path / "corpus.txt"
        path.write_text(TEXT, encoding="utf-8")
        options = {"path": str(path), **options}
        check_dataset(name, options)
    elif name == "pairs":
        check_dataset(name, options)
    else:
        check_dataset(name, options, request.getfixturevalue("data_dir"))


@pytest.mark.parametrize("name", _builtin("predictor"))
def test_builtin_predictors_pass(name):
    check_predictor(name)


# -- the kit catches mistakes -------------------------------------------------


def registry_with(**hooks) -> Registry:
    """The built-in plugins plus one inline plugin implementing ``hooks`` (e.g. ``register_cells=...``)."""
    builtins = [
        ep.load() for ep in importlib.metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == BUILTIN_DIST
    ]
    extra = types.SimpleNamespace(__name__="under_test", **{k: zoo.hookimpl(fn) for k, fn in hooks.items()})
    return Registry.from_plugins(*builtins, extra)


def with_cell(cls: type) -> Registry:
    return registry_with(register_cells=lambda register: register("under_test", cls))


class D2lGRU(GRU):
    """d2l's candidate tanh(x + (r ⊙ h) W_hn + b_hn), which is not what torch.nn.GRU computes."""

    def step(self, gx, state, weight_hh, bias_hh):
        (h,) = state
        x_r, x_z, x_n = gx.chunk(3, dim=1)
        w_r, w_z, w_n = weight_hh.chunk(3, dim=0)
        b_r, b_z, b_n = bias_hh.chunk(3)
        r = torch.sigmoid(x_r + h @ w_r.t() + b_r)
        z = torch.sigmoid(x_z + h @ w_z.t() + b_z)
        n = torch.tanh(x_n + (r * h) @ w_n.t() + b_n)
        h = (1 - z) * n + z * h
        return h, (h,)


class HalfGradientGRU(GRU):
    """A hand-written backward pass that forgets a factor."""

    def backward_step(self, dh, dstate, cache, weight_hh):
        dgx, dprev, dgh = super().backward_step(dh, dstate, cache, weight_hh)
        return dgx, dprev, 0.5 * dgh


class _LeakyTanh(torch.autograd.Function):
    """tanh whose backward pass is wrong (it omits 1 - tanh²)."""

    @staticmethod
    def forward(ctx, x):
        return torch.tanh(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class WrongAutogradCell(Cell):
    """A scratch-only cell with a custom autograd function whose gradient is wrong: only gradcheck can tell."""

    gates = 1

    def step(self, gx, state, weight_hh, bias_hh):
        h = _LeakyTanh.apply(gx + torch.addmm(bias_hh, state[0], weight_hh.t()))
        return h, (h,)


class StatelessCountCell(Cell):
    """Declares (h, c) but returns only h: the state has the wrong arity."""

    gates = 1
    num_states = 2

    def step(self, gx, state, weight_hh, bias_hh):
        h = torch.tanh(gx + torch.addmm(bias_hh, state[0], weight_hh.t()))
        return h, (h,)


@pytest.mark.parametrize(
    "cls, needle",
    [
        (D2lGRU, "fused vs cell.step logits"),  # its step disagrees with the equations the fused layer runs
        (HalfGradientGRU, "scratch vs nn gradient of rnn.weight_hh_l0"),  # the fused layer's backward is backward_step
        (WrongAutogradCell, "autograd gradients differ from finite differences"),
        (StatelessCountCell, "num_states=2"),
    ],
    ids=["equations-differ-from-nn", "numpy-backward", "autograd", "state-arity"],
)
def test_check_cell_catches(cls, needle):
    with pytest.raises(AssertionError, match=needle):
        check_cell("under_test", registry=with_cell(cls))


def test_check_cell_names_an_unregistered_cell():
    with pytest.raises(AssertionError, match="no cell registered as 'mgu'; registered: .*gru"):
        check_cell("mgu", registry=registry_with())


class DriftingDataset(TextFile):
    """Each load adds one more token: not a pure function of its options."""

    loads = 0

    def load(self, data_dir):
        DriftingDataset.loads += 1
        text = "abcab" * 4 + "c" * DriftingDataset.loads
        return Corpus(train=Vocab.build(text).encode(text), vocab=Vocab.build(text))


class OutOfRangeDataset(TextFile):
    def load(self, data_dir):
        return Corpus(train=[0, 1, 2, 7], vocab=Vocab(["a", "b", "c"]))


class SpaceInWordDataset(TextFile):
    """A word-level vocabulary holding a token with a space, which decode/encode cannot round-trip."""

    def load(self, data_dir):
        vocab = Vocab(["new york", "is", "big"], level="word")
        return Corpus(train=[0, 1, 2, 0], vocab=vocab)


@pytest.mark.parametrize(
    "cls, needle",
    [
        (DriftingDataset, "two loads gave different"),
        (OutOfRangeDataset, r"ids outside \[0, 3\): \[7\]"),
        (SpaceInWordDataset, "do not encode again"),
    ],
    ids=["not-deterministic", "ids-out-of-range", "no-round-trip"],
)
def test_check_dataset_catches(cls, needle):
    reg = registry_with(register_datasets=lambda register: register("under_test", cls))
    with pytest.raises(AssertionError, match=needle):
        check_dataset("under_test", {"path": "unused"}, registry=reg)


class OneTooManyPredictor(DefaultPredictor):
    def generate(self, model, vocab, prefix, num_tokens, **kwargs):
        return super().generate(model, vocab, prefix, num_tokens + 1, **kwargs)


class UnseededPredictor(DefaultPredictor):
    def generate(self, model, vocab, prefix, num_tokens, **kwargs):
        kwargs["generator"] = None  # draws from the global generator instead of the one given
        return super().generate(model, vocab, prefix, num_tokens, **kwargs)


class ForwardLookingPredictor(DefaultPredictor):
    """Does not refuse a bidirectional model."""

    def generate(self, model, vocab, prefix, num_tokens, **kwargs):
        bidirectional = model.options.bidirectional
        model.options.bidirectional = False
        try:
            return super().generate(model, vocab, prefix, num_tokens, **kwargs)
        finally:
            model.options.bidirectional = bidirectional


class ReachesIntoTheModule(DefaultPredictor):
    """Uses the torch module's internals, which the numpy backend's model does not have."""

    def generate(self, model, vocab, prefix, num_tokens, **kwargs):
        assert model.rnn is not None
        return super().generate(model, vocab, prefix, num_tokens, **kwargs)


@pytest.mark.parametrize(
    "cls, needle",
    [
        (OneTooManyPredictor, "returned 1 new tokens"),
        (UnseededPredictor, "same generator seed"),
        (ForwardLookingPredictor, "bidirectional model: expected zoo.errors.UsageError"),
        (ReachesIntoTheModule, "fails on the numpy backend's model"),
    ],
    ids=["too-long", "unseeded-sampling", "bidirectional", "module-internals"],
)
def test_check_predictor_catches(cls, needle):
    reg = registry_with(register_predictors=lambda register: register("under_test", cls))
    torch.manual_seed(0)
    with pytest.raises(AssertionError, match=needle):
        check_predictor("under_test", registry=reg)


def test_the_kit_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    np.random.seed(123)
    expected = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    check_predictor("default")
    check_cell("rnn")
    torch.testing.assert_close(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
