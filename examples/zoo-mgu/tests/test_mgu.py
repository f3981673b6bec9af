"""zoo-mgu's own tests: the zoo conformance kit, the MGU equations, beam search against brute force, and ``zoo mgu``.

Run them where the package is installed (``pip install -e .``): the kit looks
the components up in zoo's registry, which finds them through the entry points.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from zoo_mgu import MGU, BeamOptions, BeamPredictor

from zoo.cli import main
from zoo.options import ModelOptions
from zoo.plugin import LanguageModel, Vocab, generate_batch
from zoo.recipe import prepare
from zoo.registry import get_registry
from zoo.testing import check_cell, check_predictor

RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "jay_mgu.yaml"
VOCAB = Vocab(list("abc"))


def tiny(layers: int = 1, seed: int = 0) -> LanguageModel:
    """A seeded float64 MGU language model over three tokens."""
    torch.manual_seed(seed)
    options = ModelOptions(cell="mgu", impl="scratch", hidden_size=4, layers=layers, dtype="float64")
    return LanguageModel(MGU(), options, len(VOCAB))


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


def test_the_equations_run_on_numpy_and_torch_alike_and_train_fused():
    assert MGU.has_backward_step() and tiny().rnn.fused  # one autograd node per layer, its backward MGU.backward_step
    rng = np.random.default_rng(0)
    args = (
        rng.standard_normal((3, 10)),
        (rng.standard_normal((3, 5)),),
        rng.standard_normal((10, 5)),
        rng.standard_normal(10),
    )
    on_numpy, _ = MGU().step(*args)
    on_torch, _ = MGU().step(
        torch.from_numpy(args[0]), (torch.from_numpy(args[1][0]),), *map(torch.from_numpy, args[2:])
    )
    np.testing.assert_allclose(on_torch.numpy(), on_numpy, atol=1e-12, rtol=0)


def test_mgu_has_two_gate_blocks_in_the_gru_layout():
    shapes = {k: tuple(v.shape) for k, v in tiny(layers=2).state_dict().items() if k.startswith("rnn.")}
    assert (shapes["rnn.weight_ih_l0"], shapes["rnn.weight_hh_l0"], shapes["rnn.bias_hh_l1"]) == ((8, 3), (8, 4), (8,))


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
    continuations = itertools.product(range(len(VOCAB)), repeat=n)
    best = max(continuations, key=lambda c: continuation_logprob(model, prefix, list(c)))
    found = BeamPredictor(BeamOptions(beam_width=len(VOCAB) ** (n - 1))).generate(model, VOCAB, "ab", n)
    assert found == "ab" + VOCAB.decode(best)


def test_a_beam_of_one_is_greedy_decoding():
    model = tiny(layers=2)
    for prefix in ("a", "cab", ""):
        greedy = generate_batch(model, VOCAB, [prefix], 12)[0]
        assert BeamPredictor(BeamOptions(beam_width=1)).generate(model, VOCAB, prefix, 12) == greedy


def test_sampling_is_the_default_predictors():
    model = tiny()
    kwargs = {"strategy": "sample", "temperature": 0.7, "top_k": 2}
    ours = BeamPredictor().generate(model, VOCAB, "a", 10, generator=torch.Generator().manual_seed(1), **kwargs)
    theirs = generate_batch(model, VOCAB, ["a"], 10, generator=torch.Generator().manual_seed(1), **kwargs)[0]
    assert ours == theirs
    prefixes = ["a", "", "cab"]
    ours, theirs = (
        predict(model, VOCAB, prefixes, 10, generator=torch.Generator().manual_seed(2), **kwargs)
        for predict in (BeamPredictor().generate_batch, generate_batch)
    )
    assert ours == theirs


def test_a_list_of_prefixes_gets_the_best_beam_of_each():
    model, beam = tiny(seed=3), BeamPredictor(BeamOptions(beam_width=3))
    prefixes = ["ab", "", "c"]
    assert beam.generate_batch(model, VOCAB, prefixes, 5) == [beam.generate(model, VOCAB, p, 5) for p in prefixes]


def test_zoo_mgu_shows_the_equations_and_one_layers_weights(capsys):
    main(["--help"])
    assert "  mgu  " in capsys.readouterr().out, "zoo --help lists the command the package registers"
    main(["mgu", "--hidden-size", "4", "--input-size", "3"])
    out = capsys.readouterr().out
    assert out.startswith(sys.modules[MGU.__module__].__doc__.strip()), "the module's docstring, equations and all"
    assert "weight_ih_l0 (8, 3), weight_hh_l0 (8, 4)" in out, out
    assert "72 parameters; a GRU of the same sizes has 108" in out, out
