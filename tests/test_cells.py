"""Every cell, stack and encoder: scratch equals torch.nn, and zoo weights load into plain torch.nn."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
import torch.nn.functional as F
from zoo_plugins.gru import GRU
from zoo_plugins.lstm import LSTM
from zoo_plugins.rnn import RNN, RNNOptions

import zoo
from zoo.nn.model import LanguageModel
from zoo.options import ModelOptions

CELLS = {
    "rnn-tanh": (RNN, {"nonlinearity": "tanh"}),
    "rnn-relu": (RNN, {"nonlinearity": "relu"}),
    "gru": (GRU, {}),
    "lstm": (LSTM, {}),
}
TOL = {"float32": 1e-5, "float64": 1e-10}
V, H, N, T = 11, 6, 3, 5


def make(cell: str, impl: str, dtype: str = "float64", layers: int = 1, bidirectional: bool = False, encoder: str = "onehot") -> LanguageModel:
    cls, extra = CELLS[cell]
    c = cls(RNNOptions(**extra)) if cls is RNN else cls()
    opts = ModelOptions(cell=cls.__name__.lower(), impl=impl, hidden_size=H, layers=layers, bidirectional=bidirectional,
                        encoder=encoder, embedding_size=4 if encoder == "embedding" else None, dtype=dtype)
    return LanguageModel(c, opts, V)


CASES = list(itertools.product(CELLS, (1, 2, 3), (False, True), ("onehot", "embedding")))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell, layers, bidirectional, encoder", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_scratch_equals_nn_outputs_states_and_gradients(cell, layers, bidirectional, encoder, dtype):
    torch.manual_seed(0)
    ref = make(cell, "nn", dtype, layers, bidirectional, encoder)
    ours = make(cell, "scratch", dtype, layers, bidirectional, encoder)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (N, T), generator=g)
    y = torch.randint(0, V, (N, T), generator=g)
    state = tuple(torch.randn(layers * (2 if bidirectional else 1), N, H, generator=g, dtype=ref.dtype) for _ in range(CELLS[cell][0].num_states))
    (la, sa), (lb, sb) = ref(ids, state), ours(ids, state)
    tol = TOL[dtype]
    torch.testing.assert_close(lb, la, atol=tol, rtol=0)
    for a, b in zip(sa, sb):
        torch.testing.assert_close(b, a, atol=tol, rtol=0)
    F.cross_entropy(la.reshape(-1, V), y.reshape(-1)).backward()
    F.cross_entropy(lb.reshape(-1, V), y.reshape(-1)).backward()
    grads = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        torch.testing.assert_close(grads[name].grad, p.grad, atol=tol, rtol=0, msg=name)


def test_weight_names_and_shapes_follow_torch_for_the_jay_gru():
    model = LanguageModel(GRU(), ModelOptions(cell="gru", impl="scratch", hidden_size=256), 1027)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "rnn.weight_ih_l0": (768, 1027), "rnn.weight_hh_l0": (768, 256),
        "rnn.bias_ih_l0": (768,), "rnn.bias_hh_l0": (768,),
        "dense.weight": (1027, 256), "dense.bias": (1027,),
    }


def test_normal_init_draws_weights_and_zero_biases():
    torch.manual_seed(0)
    opts = ModelOptions(cell="gru", impl="scratch", hidden_size=32, init="normal", init_std=0.01, dtype="float64")
    model = LanguageModel(GRU(), opts, 50)
    for name, p in model.named_parameters():
        if "bias" in name:
            assert torch.count_nonzero(p) == 0, name
        else:
            assert 0.007 < float(p.detach().std()) < 0.013, name


def plain_torch(path):
    """Rebuild a saved zoo model with torch.nn only, from the safetensors file alone."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    tokens, m = json.loads(meta["zoo.vocab"]), json.loads(meta["zoo.recipe"])["model"]
    nn_class = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[m["cell"]]
    extra = {"nonlinearity": m["nonlinearity"]} if m["cell"] == "rnn" else {}
    emb = None
    if m["encoder"] == "embedding":
        emb = torch.nn.Embedding.from_pretrained(tensors["embedding.weight"])
    in_size = emb.embedding_dim if emb is not None else len(tokens)
    rnn = nn_class(in_size, m["hidden_size"], num_layers=m["layers"], bidirectional=m["bidirectional"], batch_first=True, **extra).double()
    rnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")})
    dense = torch.nn.Linear(rnn.hidden_size * (2 if m["bidirectional"] else 1), len(tokens)).double()
    dense.load_state_dict({"weight": tensors["dense.weight"], "bias": tensors["dense.bias"]})

    def logits(ids):
        x = emb(ids) if emb is not None else F.one_hot(ids, len(tokens)).double()
        return dense(rnn(x)[0])

    return {t: i for i, t in enumerate(tokens)}, logits


SAVED = [("rnn-relu", 2, False, "onehot"), ("gru", 1, True, "embedding"), ("lstm", 3, True, "onehot"), ("lstm", 1, False, "embedding")]


@pytest.mark.parametrize("cell, layers, bidirectional, encoder", SAVED, ids=["-".join(map(str, c)) for c in SAVED])
def test_saved_models_load_into_plain_torch_with_the_same_logits_and_perplexity(tmp_path, cell, layers, bidirectional, encoder):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 30, encoding="utf-8")
    recipe = {
        "name": "tiny", "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"cell": cell.split("-")[0], "impl": "scratch", "hidden_size": 5, "layers": layers, "bidirectional": bidirectional,
                  "encoder": encoder, "embedding_size": 3 if encoder == "embedding" else None, "dtype": "float64",
                  **({"nonlinearity": cell.split("-")[1]} if cell.startswith("rnn") else {})},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 2},
    }
    with pytest.warns(zoo.train.runner.BidirectionalWarning) if bidirectional else _no_warning():
        run = zoo.run(recipe, out=tmp_path / "run")
    index, logits = plain_torch(run.run_dir / "model.safetensors")
    model = zoo.load(run.run_dir)
    text = "the lazy fox"
    ids = torch.tensor([[index[c] for c in text]])
    with torch.no_grad():
        torch.testing.assert_close(model.module(ids)[0], logits(ids), atol=1e-10, rtol=0)
        expected = float(torch.exp(F.cross_entropy(logits(ids[:, :-1])[0], ids[0, 1:])))
    assert abs(model.perplexity(text) - expected) < 1e-9 * expected


class _no_warning:
    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("error", zoo.train.runner.BidirectionalWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)
