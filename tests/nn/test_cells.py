"""Every cell, stack and encoder: scratch equals torch.nn, zoo weights load into plain torch.nn; the cell contract."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import itertools
import json
import types
import typing

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from zoo_plugins.gru import GRU
from zoo_plugins.rnn import RNN

import zoo
from zoo.errors import UsageError
from zoo.nn.cell import Cell
from zoo.nn.model import LanguageModel
from zoo.nn.ops import ops_for
from zoo.options import ModelOptions
from zoo.registry import BUILTIN_DIST, Registry, get_registry


def cell_variants() -> dict[str, tuple[str, type[Cell], dict]]:
    """Every built-in cell of the plugin registry, once per combination of its ``Literal`` options:
    ``{"rnn-relu": ("rnn", RNN, {"nonlinearity": "relu"}), "gru": ("gru", GRU, {}), ...}``."""
    variants = {}
    for c in get_registry().components("cell"):
        if c.alias_of is None and c.dist == BUILTIN_DIST:
            hints = typing.get_type_hints(c.obj.Options)
            choices = {
                f.name: typing.get_args(hints[f.name])
                for f in dataclasses.fields(c.obj.Options)
                if typing.get_origin(hints[f.name]) is typing.Literal
            }
            for values in itertools.product(*choices.values()):
                variants["-".join([c.name, *values])] = (c.name, c.obj, dict(zip(choices, values)))
    return variants


CELLS = cell_variants()
TOL = {"float32": 1e-5, "float64": 1e-10}
V, H, N, T = 11, 6, 3, 5


def new_cell(variant: str) -> Cell:
    """The cell of a variant of :data:`CELLS` (``rnn-relu``), with its options."""
    _, cls, options = CELLS[variant]
    return cls(cls.Options(**options))


def make(
    cell: str, impl: str, dtype: str = "float64", layers: int = 1, bidirectional: bool = False, encoder: str = "onehot"
) -> LanguageModel:
    opts = ModelOptions(
        cell=CELLS[cell][0],
        impl=impl,
        hidden_size=H,
        layers=layers,
        bidirectional=bidirectional,
        encoder=encoder,
        embedding_size=4 if encoder == "embedding" else None,
        dtype=dtype,
    )
    return LanguageModel(new_cell(cell), opts, V)


def assert_same_model(ref: LanguageModel, ours: LanguageModel, tol: float) -> None:
    """Given ref's weights, ours gives its logits, final state and gradients, from a random state."""
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}
    ours.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, V, (N, T), generator=g)
    y = torch.randint(0, V, (N, T), generator=g)
    shape = (ref.options.layers * (2 if ref.options.bidirectional else 1), N, H)
    state = tuple(torch.randn(shape, generator=g, dtype=ref.dtype) for _ in range(ref.cell.num_states))
    (la, sa), (lb, sb) = ref(ids, state), ours(ids, state)
    torch.testing.assert_close(lb, la, atol=tol, rtol=0)
    for a, b in zip(sa, sb):
        torch.testing.assert_close(b, a, atol=tol, rtol=0)
    F.cross_entropy(la.reshape(-1, V), y.reshape(-1)).backward()
    F.cross_entropy(lb.reshape(-1, V), y.reshape(-1)).backward()
    grads = dict(ours.named_parameters())
    for name, p in ref.named_parameters():
        torch.testing.assert_close(grads[name].grad, p.grad, atol=tol, rtol=0, msg=name)


WITH_NN = [c for c in CELLS if CELLS[c][1].nn_module is not None]
CASES = list(itertools.product(WITH_NN, (1, 2, 3), (False, True), ("onehot", "embedding")))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cell, layers, bidirectional, encoder", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_scratch_equals_nn_outputs_states_and_gradients(cell, layers, bidirectional, encoder, dtype):
    torch.manual_seed(0)
    ref = make(cell, "nn", dtype, layers, bidirectional, encoder)
    assert_same_model(ref, make(cell, "scratch", dtype, layers, bidirectional, encoder), TOL[dtype])


def test_every_builtin_cell_is_parametrised():
    assert {"rnn-tanh", "rnn-relu", "gru", "lstm"} <= set(CELLS)


@pytest.mark.parametrize("cell", CELLS)
def test_the_derived_step_is_the_forward_step_without_its_cache_on_numpy_and_torch(cell):
    c = new_cell(cell)
    assert c.has_backward_step()
    rng = np.random.default_rng(0)
    args = (
        rng.standard_normal((N, c.gates * H)),
        tuple(rng.standard_normal((N, H)) for _ in range(c.num_states)),
        rng.standard_normal((c.gates * H, H)),
        rng.standard_normal(c.gates * H),
    )
    tensors = (torch.from_numpy(args[0]), tuple(map(torch.from_numpy, args[1])), *map(torch.from_numpy, args[2:]))
    results = []
    for inputs in (args, tensors):
        h, state = c.step(*inputs)
        eq_h, eq_state, _ = c.forward_step(*inputs)
        assert type(h) is type(inputs[0]) and len(state) == c.num_states
        for a, b in zip((h, *state), (eq_h, *eq_state)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        results.append([np.asarray(a) for a in (h, *state)])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, atol=1e-12, rtol=0)


class StepOnlyElman(Cell):
    """h' = tanh(gx + h W_hh^T + b_hh), written only as a torch ``step``: autograd differentiates it."""

    gates = 1

    def step(self, gx, state, weight_hh, bias_hh):
        h = torch.tanh(gx + torch.addmm(bias_hh, state[0], weight_hh.t()))
        return h, (h,)


class ForwardOnlyElman(Cell):
    """The same equation as a ``forward_step`` without ``backward_step``: ``step`` comes from it, autograd
    differentiates it."""

    gates = 1

    def forward_step(self, gx, state, weight_hh, bias_hh):
        h = ops_for(gx).tanh(gx + state[0] @ weight_hh.T + bias_hh)
        return h, (h,), None


@pytest.mark.parametrize("cls", [StepOnlyElman, ForwardOnlyElman])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (2, True)])
def test_a_cell_without_backward_step_trains_on_scratch_through_autograd(cls, layers, bidirectional):
    assert not cls.has_backward_step()
    torch.manual_seed(0)
    shape = {"hidden_size": H, "layers": layers, "bidirectional": bidirectional, "dtype": "float64"}
    ref = LanguageModel(RNN(), ModelOptions(cell="rnn", impl="nn", **shape), V)
    ours = LanguageModel(cls(), ModelOptions(cell="elman", impl="scratch", **shape), V)
    assert not ours.rnn.fused
    assert_same_model(ref, ours, TOL["float64"])


def test_the_numpy_backend_refuses_a_cell_without_backward_step(tmp_path):
    builtins = [
        ep.load() for ep in importlib.metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == BUILTIN_DIST
    ]
    cells = zoo.hookimpl(lambda register: register("elman", StepOnlyElman))
    registry = Registry.from_plugins(*builtins, types.SimpleNamespace(__name__="elman", register_cells=cells))
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabd " * 40, encoding="utf-8")
    recipe = {
        "name": "elman",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "model": {"cell": "elman", "impl": "scratch", "hidden_size": 4},
        "backend": "numpy",
        "trainer": {"name": "bptt", "epochs": 1},
    }
    message = (
        r"^backend: numpy needs NumPy equations \(forward_step, backward_step\) that cell 'StepOnlyElman' "
        r"does not define; use backend: torch$"
    )
    with pytest.raises(UsageError, match=message):
        zoo.run(recipe, out=tmp_path / "run", registry=registry)


def test_weight_names_and_shapes_follow_torch_for_the_jay_gru():
    model = LanguageModel(GRU(), ModelOptions(cell="gru", impl="scratch", hidden_size=256), 1027)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes == {
        "rnn.weight_ih_l0": (768, 1027),
        "rnn.weight_hh_l0": (768, 256),
        "rnn.bias_ih_l0": (768,),
        "rnn.bias_hh_l0": (768,),
        "dense.weight": (1027, 256),
        "dense.bias": (1027,),
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
    rnn = nn_class(
        in_size, m["hidden_size"], num_layers=m["layers"], bidirectional=m["bidirectional"], batch_first=True, **extra
    ).double()
    rnn.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("rnn.")})
    dense = torch.nn.Linear(rnn.hidden_size * (2 if m["bidirectional"] else 1), len(tokens)).double()
    dense.load_state_dict({"weight": tensors["dense.weight"], "bias": tensors["dense.bias"]})

    def logits(ids):
        x = emb(ids) if emb is not None else F.one_hot(ids, len(tokens)).double()
        return dense(rnn(x)[0])

    return {t: i for i, t in enumerate(tokens)}, logits


SAVED = [
    ("rnn-relu", 2, False, "onehot"),
    ("gru", 1, True, "embedding"),
    ("lstm", 3, True, "onehot"),
    ("lstm", 1, False, "embedding"),
]


@pytest.mark.parametrize("cell, layers, bidirectional, encoder", SAVED, ids=["-".join(map(str, c)) for c in SAVED])
def test_saved_models_load_into_plain_torch_with_the_same_logits_and_perplexity(
    tmp_path, cell, layers, bidirectional, encoder
):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 30, encoding="utf-8")
    recipe = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {
            "cell": cell.split("-")[0],
            "impl": "scratch",
            "hidden_size": 5,
            "layers": layers,
            "bidirectional": bidirectional,
            "encoder": encoder,
            "embedding_size": 3 if encoder == "embedding" else None,
            "dtype": "float64",
            **({"nonlinearity": cell.split("-")[1]} if cell.startswith("rnn") else {}),
        },
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
