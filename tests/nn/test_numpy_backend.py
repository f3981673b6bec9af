"""The numpy backend: hand-written gradients equal autograd; one model runs on every backend."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from zoo_plugins.gru import GRU
from zoo_plugins.lstm import LSTM
from zoo_plugins.rnn import RNN, RNNOptions

import zoo
from zoo.errors import UsageError
from zoo.nn.model import LanguageModel
from zoo.nn.npmodel import NumpyLanguageModel
from zoo.options import ModelOptions

CELLS = {
    "rnn-tanh": lambda: RNN(RNNOptions("tanh")),
    "rnn-relu": lambda: RNN(RNNOptions("relu")),
    "gru": GRU,
    "lstm": LSTM,
}
CASES = list(itertools.product(CELLS, (1, 2), (False, True), ("onehot", "embedding")))
V = 9


@pytest.mark.parametrize("cell, layers, bidirectional, encoder", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_whole_model_gradients_equal_autograd_in_float64(cell, layers, bidirectional, encoder):
    torch.manual_seed(0)
    c = CELLS[cell]()
    opts = ModelOptions(
        cell="x",
        impl="scratch",
        hidden_size=5,
        layers=layers,
        bidirectional=bidirectional,
        encoder=encoder,
        embedding_size=4 if encoder == "embedding" else None,
        dtype="float64",
    )
    model = LanguageModel(c, opts, V)
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randint(0, V, (3, 6), generator=g), torch.randint(0, V, (3, 6), generator=g)
    logits, _ = model(X)
    ref_loss = F.cross_entropy(logits.reshape(-1, V), Y.reshape(-1))
    ref_loss.backward()
    net = NumpyLanguageModel(c, opts, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    loss, grads, _ = net.loss_and_grads(X.numpy(), Y.numpy())
    assert abs(loss - ref_loss.item()) < 1e-12
    assert set(grads) == {k for k, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), atol=1e-9, rtol=0, err_msg=name)


def recipe(tmp_path, backend, cell="gru", optimizer="sgd", **model):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 40, encoding="utf-8")
    return {
        "name": "np",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
        "model": {"cell": cell, "impl": "scratch", "hidden_size": 12, "dtype": "float64", **model},
        "backend": backend,
        "trainer": {
            "name": "bptt",
            "optimizer": optimizer,
            "lr": 0.5 if optimizer == "sgd" else 0.01,
            "epochs": 2,
            "clip_norm": 1.0,
        },
    }


@pytest.mark.parametrize(
    "cell, optimizer, model",
    [
        ("gru", "sgd", {}),
        ("lstm", "adam", {"layers": 2}),
        ("rnn", "adam", {"encoder": "embedding", "embedding_size": 6}),
    ],
)
def test_numpy_training_follows_the_torch_trajectory(tmp_path, cell, optimizer, model):
    a = zoo.run(recipe(tmp_path, "torch", cell, optimizer, **model), out=tmp_path / "torch")
    b = zoo.run(recipe(tmp_path, "numpy", cell, optimizer, **model), out=tmp_path / "numpy")
    for ma, mb in zip(a.metrics, b.metrics):
        assert abs(ma["loss"] - mb["loss"]) < 1e-9
    wa, wb = load_file(str(a.run_dir / "model.safetensors")), load_file(str(b.run_dir / "model.safetensors"))
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], atol=1e-9, rtol=0, msg=k)


@pytest.mark.parametrize("trained_on, loaded_on", [("numpy", "torch"), ("torch", "numpy")])
def test_a_model_moves_between_backends_with_the_same_logits_and_perplexity(tmp_path, trained_on, loaded_on):
    run = zoo.run(recipe(tmp_path, trained_on, "lstm", bidirectional=False, layers=2), out=tmp_path / "run")
    here, there = zoo.load(run.run_dir), zoo.load(run.run_dir, backend=loaded_on)
    assert type(there.runner).__name__ == ("NumpyInference" if loaded_on == "numpy" else "LanguageModel")
    ids = torch.tensor([here.vocab.encode("the lazy dog jumps")])
    with torch.no_grad():
        torch.testing.assert_close(there.runner(ids)[0], here.runner(ids)[0], atol=1e-10, rtol=0)
    text = "the quick brown fox"
    assert abs(here.perplexity(text) - there.perplexity(text)) < 1e-10
    assert here.generate("the", 20) == there.generate("the", 20)


def test_numpy_refuses_a_cell_without_numpy_equations():
    from zoo_plugins.numpy_backend import NumpyBackend

    from zoo.nn.cell import Cell

    class Plain(Cell):
        gates = 1

        def step(self, gx, state, weight_hh, bias_hh):
            return gx, (gx,)

    with pytest.raises(UsageError, match="backend: numpy needs NumPy equations .* cell 'Plain'.*use backend: torch"):
        NumpyBackend().check(None, Plain())


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when there is no GPU")
def test_cuda_without_a_gpu_is_one_clear_line(tmp_path):
    with pytest.raises(UsageError, match="backend: cuda needs an NVIDIA GPU"):
        zoo.run(recipe(tmp_path, "cuda"), out=tmp_path / "run")


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("impl", ["nn", "scratch"])
def test_cuda_training_matches_the_cpu(tmp_path, impl):
    a = zoo.run(recipe(tmp_path, "torch", "gru", impl=impl), out=tmp_path / "cpu")
    b = zoo.run(recipe(tmp_path, "cuda", "gru", impl=impl), out=tmp_path / "gpu")
    for ma, mb in zip(a.metrics, b.metrics):
        assert abs(ma["loss"] - mb["loss"]) < 1e-6
    model = zoo.load(b.run_dir)
    assert model.module.device.type == "cuda"
    cpu = zoo.load(b.run_dir, backend="torch")
    assert abs(model.perplexity("the lazy dog") - cpu.perplexity("the lazy dog")) < 1e-8
