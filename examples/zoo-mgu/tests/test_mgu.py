"""zoo-mgu's own tests: the zoo conformance kit, the MGU equations, and beam search against brute force.

Run them where the package is installed (``pip install -e .``): the kit looks
the components up in zoo's registry, which finds them through the entry points.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from zoo_mgu import MGU, BeamOptions, BeamPredictor
from zoo_plugins.predictor import DefaultPredictor

from zoo.nn.model import LanguageModel
from zoo.options import ModelOptions
from zoo.recipe import prepare
from zoo.registry import get_registry
from zoo.testing import check_cell, check_predictor
from zoo.vocab import Vocab

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "jay_mgu.yaml"
VOCAB = Vocab(list("abc"))


def tiny(layers: int = 1, seed: int = 0) -> LanguageModel:
    """A seeded float64 MGU language model over three tokens."""
    torch.manual_seed(seed)
    return LanguageModel(MGU(), ModelOptions(cell="mgu", impl="scratch", hidden_size=4, layers=layers, dtype="float64"), len(VOCAB))


def test_mgu_passes_the_cell_kit():
    check_cell("mgu")


@pytest.mark.parametrize("width", [1, 4])
def test_beam_passes_the_predictor_kit(width):
    check_predictor("beam", {"beam_width": width})


def test_the_plugins_are_registered_through_the_entry_points():
    reg = get_registry()
    assert reg.get("cell", "mgu") is MGU
    assert reg.get("predictor", "beam") is BeamPredictor


def test_the_recipe_resolves():
    r = prepare(RECIPE, get_registry(), {"predict.name": "beam", "predict.beam_width": 8})
    assert (r.model.core.cell, r.model.core.impl, r.predict.options.beam_width) == ("mgu", "scratch", 8)


def test_one_step_follows_the_mgu_equations():
    torch.manual_seed(0)
    n, h_size = 3, 5
    gx, h = torch.randn(n, 2 * h_size, dtype=torch.float64), torch.randn(n, h_size, dtype=torch.float64)
    w_hh, b_hh = torch.randn(2 * h_size, h_size, dtype=torch.float64), torch.randn(2 * h_size, dtype=torch.float64)
    out, (state,) = MGU().step(gx, (h,), w_hh, b_hh)
    w_hf, w_hn = w_hh[:h_size], w_hh[h_size:]
    b_hf, b_hn = b_hh[:h_size], b_hh[h_size:]
    f = torch.sigmoid(gx[:, :h_size] + h @ w_hf.T + b_hf)
    cand = torch.tanh(gx[:, h_size:] + f * (h @ w_hn.T + b_hn))
    torch.testing.assert_close(out, (1 - f) * h + f * cand, atol=1e-12, rtol=0)
    assert state is out


def test_mgu_has_two_gate_blocks_in_the_gru_layout():
    shapes = {k: tuple(v.shape) for k, v in tiny(layers=2).state_dict().items() if k.startswith("rnn.")}
    assert shapes["rnn.weight_ih_l0"] == (8, 3) and shapes["rnn.weight_hh_l0"] == (8, 4) and shapes["rnn.bias_hh_l1"] == (8,)


def continuation_logprob(model: LanguageModel, prefix: list[int], cont: list[int]) -> float:
    ids = prefix + cont
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]))
    logp = F.log_softmax(logits[0], dim=-1)
    return float(sum(logp[len(prefix) - 1 + i, t] for i, t in enumerate(cont)))


@pytest.mark.parametrize("seed", range(5))
def test_a_beam_as_wide_as_all_prefixes_finds_the_most_likely_continuation(seed):
    model, n = tiny(seed=seed), 4
    prefix = VOCAB.encode("ab")
    best = max(itertools.product(range(len(VOCAB)), repeat=n), key=lambda c: continuation_logprob(model, prefix, list(c)))
    found = BeamPredictor(BeamOptions(beam_width=len(VOCAB) ** (n - 1))).generate(model, VOCAB, "ab", n)
    assert found == "ab" + VOCAB.decode(best)


def test_a_beam_of_one_is_greedy_decoding():
    model = tiny(layers=2)
    for prefix in ("a", "cab", ""):
        assert BeamPredictor(BeamOptions(beam_width=1)).generate(model, VOCAB, prefix, 12) == DefaultPredictor().generate(model, VOCAB, prefix, 12)


def test_sampling_is_the_default_predictors():
    model = tiny()
    kwargs = dict(strategy="sample", temperature=0.7, top_k=2)
    ours = BeamPredictor().generate(model, VOCAB, "a", 10, generator=torch.Generator().manual_seed(1), **kwargs)
    theirs = DefaultPredictor().generate(model, VOCAB, "a", 10, generator=torch.Generator().manual_seed(1), **kwargs)
    assert ours == theirs
