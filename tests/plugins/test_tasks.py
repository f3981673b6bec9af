"""Third-party cells stack deep and bidirectional; sequence labelling; bidirectional language models."""

from __future__ import annotations

import contextlib
import types
from pathlib import Path

import pytest
import torch
import zoo_plugins.backends
import zoo_plugins.bptt
import zoo_plugins.datasets
import zoo_plugins.jsonl_logger
import zoo_plugins.pairs
import zoo_plugins.predictor
import zoo_plugins.samplers
import zoo_plugins.schedules

import zoo
from zoo.errors import UsageError
from zoo.nn.cell import Cell
from zoo.registry import Registry
from zoo.train.runner import BidirectionalWarning

ROOT = Path(__file__).resolve().parents[2]
BUILTINS = (
    zoo_plugins.datasets,
    zoo_plugins.samplers,
    zoo_plugins.backends,
    zoo_plugins.bptt,
    zoo_plugins.schedules,
    zoo_plugins.predictor,
    zoo_plugins.pairs,
    zoo_plugins.jsonl_logger,
)


class MinimalGated(Cell):
    """A cell no built-in knows: h' = z ⊙ h + (1 − z) ⊙ tanh(W_c x + U_c h), with z = σ(W_z x + U_z h)."""

    gates = 2

    def step(self, gx, state, weight_hh, bias_hh):
        (h,) = state
        gz, gc = gx.chunk(2, dim=1)
        hz, hc = torch.addmm(bias_hh, h, weight_hh.t()).chunk(2, dim=1)
        z = torch.sigmoid(gz + hz)
        h = z * h + (1 - z) * torch.tanh(gc + hc)
        return h, (h,)


def registry_with_custom_cell() -> Registry:
    plugin = types.SimpleNamespace(
        __name__="test_cells", register_cells=zoo.hookimpl(lambda register: register("mgu", MinimalGated))
    )
    return Registry.from_plugins(*BUILTINS, plugin)


def recipe(tmp_path: Path, **model) -> dict:
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabcabd abd abcabc\n" * 40, encoding="utf-8")
    return {
        "name": "custom",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
        "model": {"cell": "mgu", "impl": "scratch", "hidden_size": 8, **model},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.05, "epochs": 3},
    }


@pytest.mark.parametrize("layers, bidirectional", [(1, False), (3, False), (2, True)])
def test_a_cell_defined_outside_zoo_trains_deep_and_bidirectional(tmp_path, layers, bidirectional):
    reg = registry_with_custom_cell()
    with pytest.warns(BidirectionalWarning) if bidirectional else contextlib.nullcontext():
        result = zoo.run(
            recipe(tmp_path, layers=layers, bidirectional=bidirectional), out=tmp_path / "run", registry=reg
        )
    assert result.metrics[-1]["perplexity"] < result.metrics[0]["perplexity"]
    model = zoo.load(result.run_dir, registry=reg)
    d = "_reverse" if bidirectional else ""
    assert model.module.state_dict()[f"rnn.weight_hh_l{layers - 1}{d}"].shape == (16, 8)
    if not bidirectional:
        assert model.generate("abc", 5).startswith("abc")


def test_a_cell_without_torch_nn_counterpart_asks_for_scratch(tmp_path):
    from zoo.errors import RecipeError
    from zoo.recipe import resolve

    with pytest.raises(RecipeError, match="model.impl: cell 'mgu' has no torch.nn implementation; use impl: scratch"):
        resolve(recipe(tmp_path, impl="nn"), registry_with_custom_cell())


def test_hello_ohlol_recipes_predict_ohlol(tmp_path):
    for name in ("hello_ohlol_rnncell", "hello_ohlol_rnn", "hello_ohlol_embedding"):
        result = zoo.run(ROOT / "recipes" / f"{name}.yaml", out=tmp_path / name)
        model = zoo.load(result.run_dir)
        assert model.task == "labelling"
        assert model.label("hello") == "ohlol", name
        assert "hello -> ohlol" in (result.run_dir / "samples.txt").read_text()


def test_bidirectional_labelling_and_pairs_from_a_file(tmp_path):
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("abc\tcba\nbca\tacb\ncab\tbac\n", encoding="utf-8")
    r = {
        "name": "rev",
        "seed": 0,
        "dataset": {"name": "pairs", "path": str(pairs)},
        "sampler": {"name": "pairs", "batch_size": 3},
        "model": {
            "cell": "gru",
            "impl": "scratch",
            "hidden_size": 16,
            "bidirectional": True,
            "encoder": "embedding",
            "embedding_size": 8,
        },
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.05, "epochs": 60},
    }
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", BidirectionalWarning)  # labelling with a bidirectional stack is fine
        result = zoo.run(r, out=tmp_path / "run")
    model = zoo.load(result.run_dir)
    assert [model.label(x) for x in ("abc", "bca", "cab")] == ["cba", "acb", "bac"]


@pytest.mark.parametrize(
    "pairs, message",
    [
        ([["hello", "ohlo"]], "same, non-zero number of tokens (5 vs 4)"),
        ([["hello"]], "expected [input, target]"),
    ],
)
def test_bad_pairs_are_one_line(tmp_path, pairs, message):
    r = {
        "name": "p",
        "dataset": {"name": "pairs", "pairs": pairs},
        "sampler": {"name": "pairs"},
        "model": {"cell": "rnn"},
    }
    with pytest.raises(UsageError) as err:
        zoo.run(r, out=tmp_path / "run")
    assert message in str(err.value)


def test_samplers_must_fit_the_task(tmp_path):
    r = {
        "name": "p",
        "dataset": {"name": "pairs", "pairs": [["hello", "ohlol"]]},
        "sampler": {"name": "sequential"},
        "model": {"cell": "rnn"},
    }
    with pytest.raises(UsageError, match="sampler.name: 'sequential' serves next_token corpora.*use sampler: pairs"):
        zoo.run(r, out=tmp_path / "run")


def test_decoder_none_needs_hidden_equal_to_the_vocabulary(tmp_path):
    r = {
        "name": "p",
        "dataset": {"name": "pairs", "pairs": [["hello", "ohlol"]]},
        "sampler": {"name": "pairs"},
        "model": {"cell": "rnn", "hidden_size": 5, "decoder": "none"},
    }
    with pytest.raises(UsageError, match=r"hidden_size × directions \(5\) must equal the vocabulary size \(4\)"):
        zoo.run(r, out=tmp_path / "run")


def test_bidirectional_language_model_warns_and_refuses_to_generate(tmp_path):
    reg = registry_with_custom_cell()
    with pytest.warns(BidirectionalWarning, match="cannot generate"):
        result = zoo.run(recipe(tmp_path, cell="mgu", bidirectional=True), out=tmp_path / "run", registry=reg)
    model = zoo.load(result.run_dir, registry=reg)
    with pytest.raises(UsageError, match="bidirectional.*cannot generate"):
        model.generate("abc", 5)
    assert model.perplexity("abcabc") > 0
