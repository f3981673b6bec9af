"""impl: nn with one-hot input run as a row gather (zoo.nn.gathered): the same outputs and gradients as the one-hot
product."""

import pytest
import torch

from zoo.nn.model import LanguageModel
from zoo.options import ModelOptions
from zoo.registry import get_registry


def build(cell: str, vocab: int, dtype: str = "float64", **shape) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(
        get_registry().get("cell", cell)(), ModelOptions(cell=cell, impl="nn", dtype=dtype, **shape), vocab
    )


def run(model: LanguageModel, ids: torch.Tensor, gathered: bool) -> tuple:
    saved = model._gathered
    if not gathered:
        model._gathered = None
    try:
        model.zero_grad()
        torch.manual_seed(1)  # the same dropout masks
        logits, state = model(ids, model.begin_state(ids.shape[0]))
        (logits.square().sum() + sum(s.sum() for s in state)).backward()
        return logits.detach(), [s.detach() for s in state], {k: p.grad.clone() for k, p in model.named_parameters()}
    finally:
        model._gathered = saved


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
def test_gathered_input_equals_the_one_hot_product(cell, layers, bidirectional, dtype):
    model = build(
        cell, 211, dtype, hidden_size=8, layers=layers, bidirectional=bidirectional, dropout=0.25 if layers > 1 else 0.0
    )
    assert model._gathered is not None
    ids = torch.randint(-1, 211, (3, 6))  # -1: no input, an all-zero one-hot vector
    ids[0, 0] = -1
    fast, slow = run(model, ids, True), run(model, ids, False)
    if dtype == "float64" or cell != "lstm":  # identical bits: the identity product is exact
        assert torch.equal(fast[0], slow[0])
        assert all(torch.equal(a, b) for a, b in zip(fast[1], slow[1]))
    else:  # torch's float32 CPU LSTM (oneDNN) adds the input and recurrent products in its own order
        torch.testing.assert_close(fast[0], slow[0], rtol=1e-6, atol=1e-6)
    tol = 1e-12 if dtype == "float64" else 1e-5
    for name, grad in slow[2].items():  # weight_ih_l0's gradient is the same sum in another order
        torch.testing.assert_close(fast[2][name], grad, rtol=tol, atol=tol, msg=name)


def test_gathering_is_used_only_where_it_was_measured_to_pay():
    assert build("rnn", 1027, hidden_size=256)._gathered is not None  # identity 256 wide beside a vocabulary of 1,027
    assert build("gru", 1027, hidden_size=256)._gathered is None  # 768 wide: no gain measured
    assert build("lstm", 1027, hidden_size=256)._gathered is None
    assert build("rnn", 1027, hidden_size=256, encoder="embedding")._gathered is None


def test_the_shadow_module_adds_no_weights_and_holds_no_memory():
    model = build("rnn", 211, hidden_size=8, layers=2)
    plain = build("rnn", 211, hidden_size=8, layers=2)
    plain._gathered = None
    assert list(model.state_dict()) == list(plain.state_dict())
    assert all(p.is_meta for p in model._gathered.shadow.parameters())
