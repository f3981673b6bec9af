"""Generation: a list of prefixes continues as one batch, equal to one prefix at a time; seeded sampling repeats."""

from __future__ import annotations

import pytest

import zoo

PREFIXES = {"jay_gru": ["分开", "不分开", "", "我想", "分开"], "dinos_rnn": ["a", "", "tyr", "br", "x"]}


@pytest.mark.parametrize("name", list(PREFIXES))
@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_a_batch_of_prefixes_equals_each_prefix_alone(name, backend):
    model = zoo.load(name, backend=backend)
    prefixes = PREFIXES[name]
    assert model.generate(prefixes, 25) == [model.generate(p, 25) for p in prefixes]


def test_stop_ends_each_row_on_its_own():
    model = zoo.load("dinos_rnn")
    texts = model.generate(["a", "", "tyr", "br"], 40, strategy="sample", seed=3, stop="\n")
    for prefix, text in zip(["a", "", "tyr", "br"], texts):
        assert text.startswith(prefix)
        assert "\n" not in text[len(prefix) : -1] and (text.endswith("\n") or len(text) == len(prefix) + 40), repr(text)


def test_seeded_sampling_of_a_batch_repeats_and_seeds_differ():
    model = zoo.load("jay_gru")
    first = model.generate(PREFIXES["jay_gru"], 20, strategy="sample", temperature=0.9, top_k=20, seed=7)
    assert first == model.generate(PREFIXES["jay_gru"], 20, strategy="sample", temperature=0.9, top_k=20, seed=7)
    assert first != model.generate(PREFIXES["jay_gru"], 20, strategy="sample", temperature=0.9, top_k=20, seed=8)
    assert [t[: len(p)] for t, p in zip(first, PREFIXES["jay_gru"])] == PREFIXES["jay_gru"]


def test_an_empty_list_gives_an_empty_list():
    assert zoo.load("dinos_rnn").generate([], 10) == []


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("impl", ["nn", "scratch"])
@pytest.mark.parametrize("encoder, layers", [("onehot", 1), ("embedding", 2)])
def test_the_fused_step_equals_a_forward_step(registry, cell, impl, encoder, layers):
    """LanguageModel.step and its NumPy twin give forward's logits and state (within 1e-5) for every cell."""
    import torch
    from zoo_plugins.numpy_engine import NumpyInference

    from zoo.nn.model import LanguageModel
    from zoo.options import ModelOptions

    torch.manual_seed(0)
    model = LanguageModel(
        registry.get("cell", cell)(),
        ModelOptions(cell=cell, impl=impl, hidden_size=8, layers=layers, encoder=encoder),
        11,
    ).eval()
    _, state = model(torch.tensor([[1, 2, 3], [4, 5, 6]]))
    nxt = torch.tensor([7, 0])
    expected, expected_state = model(nxt.view(2, 1), state)
    for runner in (model, NumpyInference(model)):
        logits, new_state = runner.step(nxt, tuple(s.detach() for s in state))
        torch.testing.assert_close(logits, expected[:, -1].detach(), atol=1e-5, rtol=1e-5)
        for a, b in zip(new_state, expected_state):
            torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)
