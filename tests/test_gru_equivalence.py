"""The scratch and nn GRU compute the same function, and zoo weights load into plain torch.nn."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from zoo.model import LanguageModel, ModelOptions
from zoo_plugins.gru import GRU

TOL = {"float32": 1e-5, "float64": 1e-10}


def make(impl: str, dtype: str, encoder: str = "onehot", vocab: int = 11, **kw) -> LanguageModel:
    opts = ModelOptions(cell="gru", impl=impl, hidden_size=7, dtype=dtype, encoder=encoder,
                        embedding_size=5 if encoder == "embedding" else None, **kw)
    return LanguageModel(GRU(), opts, vocab)


def pair(dtype: str, **kw) -> tuple[LanguageModel, LanguageModel]:
    torch.manual_seed(0)
    nn_model = make("nn", dtype, **kw)
    scratch = make("scratch", dtype, **kw)
    scratch.load_state_dict(nn_model.state_dict())
    return nn_model, scratch


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("encoder", ["onehot", "embedding"])
def test_scratch_equals_nn_logits_state_and_gradients(dtype, encoder):
    a, b = pair(dtype, encoder=encoder)
    assert list(a.state_dict()) == list(b.state_dict())
    ids = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(1))
    h0 = (torch.randn(1, 3, 7, dtype=a.dtype),)
    (la, sa), (lb, sb) = a(ids, h0), b(ids, h0)
    tol = TOL[dtype]
    torch.testing.assert_close(la, lb, atol=tol, rtol=0)
    torch.testing.assert_close(sa[0], sb[0], atol=tol, rtol=0)
    y = torch.randint(0, 11, (3, 6), generator=torch.Generator().manual_seed(2))
    F.cross_entropy(la.reshape(-1, 11), y.reshape(-1)).backward()
    F.cross_entropy(lb.reshape(-1, 11), y.reshape(-1)).backward()
    ga, gb = dict(a.named_parameters()), dict(b.named_parameters())
    for name in ga:
        torch.testing.assert_close(ga[name].grad, gb[name].grad, atol=tol, rtol=0, msg=name)


def test_weight_names_and_shapes_follow_torch():
    opts = ModelOptions(cell="gru", impl="scratch", hidden_size=256)
    model = LanguageModel(GRU(), opts, 1027)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "rnn.weight_ih_l0": (768, 1027), "rnn.weight_hh_l0": (768, 256),
        "rnn.bias_ih_l0": (768,), "rnn.bias_hh_l0": (768,),
        "dense.weight": (1027, 256), "dense.bias": (1027,),
    }
    torch_gru = torch.nn.GRU(1027, 256)
    assert {f"rnn.{k}": tuple(v.shape) for k, v in torch_gru.state_dict().items()} == {k: v for k, v in shapes.items() if k.startswith("rnn.")}


def test_normal_init_draws_weights_and_zero_biases():
    torch.manual_seed(0)
    model = make("scratch", "float64", init="normal", init_std=0.01)
    for name, p in model.named_parameters():
        if "bias" in name:
            assert torch.count_nonzero(p) == 0, name
        else:
            assert 0.005 < float(p.detach().std()) < 0.02, name


def test_options_reject_out_of_range_values():
    opts = dataclasses.replace(ModelOptions(cell="gru"), hidden_size=0, dropout=1.5)
    problems = opts.validate()
    assert any(p.startswith("hidden_size: must be at least 1") for p in problems)
    assert any(p.startswith("dropout: must be in [0, 1)") for p in problems)
