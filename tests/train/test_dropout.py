"""Input and output dropout (``model.input_dropout``, ``model.output_dropout``): training only, the same meaning on
every implementation, hand-written NumPy gradients equal to autograd under the same masks, and exact resume."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clitools import zoo as zoo_cli
from safetensors.torch import load_file
from test_resume import DRIVER, TEXT, assert_same_run
from zoo_plugins.numpy_backend import NumpyBackend
from zoo_plugins.numpy_engine import NumpyInference

import zoo
from zoo.errors import RecipeError
from zoo.interfaces import TrainSettings
from zoo.nn.model import LanguageModel
from zoo.nn.npmodel import NumpyLanguageModel
from zoo.options import ModelOptions
from zoo.recipe import prepare
from zoo.registry import get_registry

N, T = 3, 7
# (impl, encoder, vocabulary): a vocabulary of 211 sends impl nn's one-hot input through zoo.nn.gathered
PATHS = [
    ("nn", "onehot", 9),
    ("nn", "onehot", 211),
    ("nn", "embedding", 9),
    ("scratch", "onehot", 9),
    ("scratch", "embedding", 9),
]
PATH_IDS = ["-".join(map(str, p)) for p in PATHS]


def build(cell: str = "gru", vocab: int = 9, **options) -> LanguageModel:
    """A float64 model with seeded weights."""
    torch.manual_seed(0)
    opts = ModelOptions(
        cell=cell,
        hidden_size=6,
        dtype="float64",
        embedding_size=5 if options.get("encoder") == "embedding" else None,
        **options,
    )
    return LanguageModel(get_registry().get("cell", cell)(), opts, vocab)


def ids_for(vocab: int, seed: int = 1) -> torch.Tensor:
    """(N, T) token ids, one of them NO_INPUT (-1)."""
    ids = torch.randint(0, vocab, (N, T), generator=torch.Generator().manual_seed(seed))
    ids[0, 0] = -1
    return ids


def plain(model: LanguageModel) -> tuple[torch.nn.Module, torch.nn.Linear]:
    """``torch.nn.GRU`` and ``nn.Linear`` holding the model's weights: the model as it was before zoo had these
    options."""
    o = model.options
    rnn = torch.nn.GRU(model.rnn.input_size, o.hidden_size, num_layers=o.layers, batch_first=True).double()
    rnn.load_state_dict({k.removeprefix("rnn."): v for k, v in model.state_dict().items() if k.startswith("rnn.")})
    dense = torch.nn.Linear(o.hidden_size, model.vocab_size).double()
    dense.load_state_dict({"weight": model.dense.weight, "bias": model.dense.bias})
    return rnn, dense


def encode(model: LanguageModel, ids: torch.Tensor) -> torch.Tensor:
    """The encoder's output by hand: embedding rows, or one-hot vectors (zero for NO_INPUT)."""
    if model.embedding is not None:
        return model.embedding.weight[ids.clamp(min=0)] * (ids >= 0).unsqueeze(-1)
    return (ids.unsqueeze(-1) == torch.arange(model.vocab_size)).double()


# -- (1) the defaults change nothing --------------------------------------------------------------------------------


def assert_same_gradients(model, logits, rnn, dense, reference) -> None:
    """Every recurrent and decoder weight's gradient of a squared-sum loss equals the plain torch model's within
    1e-12."""
    logits.square().sum().backward()
    reference.square().sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("embedding."):
            ref = (rnn if name.startswith("rnn.") else dense).get_parameter(name.split(".", 1)[1]).grad
            torch.testing.assert_close(p.grad, ref, atol=1e-12, rtol=0, msg=name)


@pytest.mark.parametrize("impl, encoder, vocab", PATHS, ids=PATH_IDS)
def test_zero_dropout_trains_as_plain_torch_nn_and_draws_no_random_numbers(impl, encoder, vocab):
    model = build(vocab=vocab, impl=impl, encoder=encoder).train()
    ids = ids_for(vocab)
    rnn, dense = plain(model)
    reference = dense(rnn(encode(model, ids))[0])
    before = torch.get_rng_state()
    logits, _ = model(ids)
    assert torch.equal(torch.get_rng_state(), before)  # no mask drawn: every later draw is the one it was
    tol = 0 if impl == "nn" else 1e-12  # nn: the same kernels, so the same bits; scratch: its own equations
    torch.testing.assert_close(logits, reference, atol=tol, rtol=0)
    assert_same_gradients(model, logits, rnn, dense, reference)


@pytest.mark.parametrize(
    "options", [{}, {"input_dropout": 0.3}, {"output_dropout": 0.3}], ids=["none", "input", "output"]
)
def test_the_numpy_engine_draws_masks_from_its_generator_only_for_dropout(options):
    model = build(encoder="embedding", layers=2, **options)
    rng = np.random.default_rng(4)
    twin = np.random.default_rng(4)  # the same draws, for the reference
    engine = NumpyBackend().engine(model, TrainSettings("sgd", 0.5), rng)
    X, Y = ids_for(9, 2).clamp(min=0).numpy(), ids_for(9, 3).clamp(min=0).numpy()
    loss, _ = engine.train_step(X, Y, None)
    net = NumpyLanguageModel(model.cell, model.options, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    undropped, _, _ = net.loss_and_grads(X, Y)
    assert loss == net.loss_and_grads(X, Y, None, twin)[0]
    assert (rng.bit_generator.state == np.random.default_rng(4).bit_generator.state) == (not options)
    assert (loss == undropped) == (not options)


def corpus_recipe(tmp_path: Path, backend: str, model: dict, sampler: dict | None = None, **trainer) -> dict:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    return {
        "name": f"dropout_{backend}",
        "seed": 3,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": sampler or {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"hidden_size": 12, "dtype": "float64", **model},
        "backend": backend,
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "clip_norm": 1.0, **trainer},
    }


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_a_run_with_zero_dropout_equals_the_run_with_the_options_absent(tmp_path, backend):
    model = {"cell": "lstm", "impl": "scratch", "layers": 2}
    absent = zoo.run(corpus_recipe(tmp_path, backend, model, epochs=1, max_steps=4), out=tmp_path / "absent")
    zeros = zoo.run(
        corpus_recipe(tmp_path, backend, {**model, "input_dropout": 0.0, "output_dropout": 0.0}, epochs=1, max_steps=4),
        out=tmp_path / "zeros",
    )
    assert [m["loss"] for m in zeros.metrics] == [m["loss"] for m in absent.metrics]
    a, b = load_file(str(absent.run_dir / "model.safetensors")), load_file(str(zeros.run_dir / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a) and set(a) == set(b)


# -- (2) dropout acts while training only ---------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["input_dropout", "output_dropout"])
@pytest.mark.parametrize("impl, encoder, vocab", PATHS, ids=PATH_IDS)
def test_dropout_acts_in_training_and_never_in_inference(impl, encoder, vocab, which):
    model, undropped = (
        build(vocab=vocab, impl=impl, encoder=encoder, **{which: 0.5}),
        build(vocab=vocab, impl=impl, encoder=encoder),
    )
    ids = ids_for(vocab)
    trained, _ = model.train()(ids)
    model.eval()
    first, _ = model(ids)
    again, _ = model(ids)
    plain_logits, _ = undropped.eval()(ids)
    assert not torch.allclose(trained, first, atol=1e-3)
    assert torch.equal(first, again) and torch.equal(first, plain_logits)
    model.train()  # step() and the NumPy inference never drop, whatever the mode
    stepped, _ = model.step(ids[:, 1], model.begin_state(N))
    torch.testing.assert_close(stepped, model.eval()(ids[:, 1:2])[0][:, 0], atol=1e-12, rtol=0)
    torch.testing.assert_close(NumpyInference(model)(ids)[0], plain_logits, atol=1e-12, rtol=0)


@pytest.mark.parametrize("impl, encoder, vocab", PATHS, ids=PATH_IDS)
def test_masks_come_from_torch_and_a_dropped_one_hot_token_is_a_zero_input(impl, encoder, vocab):
    """The model's training pass equals plain torch.nn given the masks drawn from the same seed: for one-hot input a
    factor per token (0, or 1/(1-p) on its whole one-hot vector), for an embedding a factor per entry; then the
    output's."""
    p_in, p_out = 0.4, 0.3
    model = build(vocab=vocab, impl=impl, encoder=encoder, input_dropout=p_in, output_dropout=p_out).train()
    ids = ids_for(vocab)
    torch.manual_seed(5)
    logits, _ = model(ids)
    rnn, dense = plain(model)
    torch.manual_seed(5)
    x = encode(model, ids)
    x = F.dropout(x, p_in) if encoder == "embedding" else x * F.dropout(torch.ones(N, T, 1, dtype=torch.float64), p_in)
    reference = dense(F.dropout(rnn(x)[0].contiguous(), p_out))  # the mask laid out (N, T, H), as the model draws it
    if encoder == "onehot":  # some tokens were dropped and some kept, so both cases were checked
        assert 0 < int((x.abs().sum(-1) == 0).sum()) - 1 < N * T - 1
    torch.testing.assert_close(logits, reference, atol=1e-12, rtol=0)
    assert_same_gradients(model, logits, rnn, dense, reference)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU")
@pytest.mark.cuda
@pytest.mark.parametrize("impl", ["nn", "scratch"])
def test_on_cuda_the_masks_come_from_the_cuda_generator_and_inference_never_drops(impl):
    model, undropped = build(impl=impl, input_dropout=0.4, output_dropout=0.3).cuda(), build(impl=impl).cuda().eval()
    ids = ids_for(9).cuda()
    cpu, gpu = torch.get_rng_state(), torch.cuda.get_rng_state()
    trained, _ = model.train()(ids)
    assert torch.equal(torch.get_rng_state(), cpu) and not torch.equal(
        torch.cuda.get_rng_state(), gpu
    )  # the one a checkpoint keeps
    torch.cuda.set_rng_state(gpu)
    assert torch.equal(model(ids)[0], trained)  # the same state, the same masks
    first, again, plain_logits = model.eval()(ids)[0], model(ids)[0], undropped(ids)[0]
    assert not torch.allclose(trained, first, atol=1e-3)
    assert torch.equal(first, again)
    torch.testing.assert_close(first, plain_logits, atol=1e-12, rtol=0)


# -- (3) the NumPy backend's hand-written gradients ----------------------------------------------------------------

CASES = [
    ("rnn", "onehot", 1, False),
    ("gru", "onehot", 2, True),
    ("lstm", "onehot", 1, True),
    ("rnn", "embedding", 2, False),
    ("gru", "embedding", 1, True),
    ("lstm", "embedding", 2, False),
]


@pytest.mark.parametrize("cell, encoder, layers, bidirectional", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_numpy_gradients_with_input_and_output_dropout_equal_autograd_under_the_same_masks(
    cell, encoder, layers, bidirectional
):
    model = build(
        cell,
        impl="scratch",
        encoder=encoder,
        layers=layers,
        bidirectional=bidirectional,
        input_dropout=0.4,
        output_dropout=0.3,
    )
    ids, targets = ids_for(9), ids_for(9, 2).clamp(min=0)
    net = NumpyLanguageModel(model.cell, model.options, {k: v.detach().numpy() for k, v in model.state_dict().items()})
    _, _, (_, _, _, in_mask, out_mask) = net.forward(ids.numpy(), None, np.random.default_rng(6))
    loss, grads, _ = net.loss_and_grads(
        ids.numpy(), targets.numpy(), None, np.random.default_rng(6)
    )  # the same masks again
    assert in_mask.shape == (N, T, 5 if encoder == "embedding" else 1) and 0 < (in_mask == 0).sum() < in_mask.size
    assert 0 < (out_mask == 0).sum() < out_mask.size

    # autograd through the torch model's own parts, with the NumPy masks put where the dropout acts
    in_mask, out_mask = torch.from_numpy(in_mask), torch.from_numpy(out_mask)
    model.eval()  # no torch-drawn masks
    if encoder == "embedding":
        out, _ = model.rnn(encode(model, ids) * in_mask)
    else:
        out, _ = model.rnn(ids, None, in_mask)
    logits = model.dense(out * out_mask)
    ref = F.cross_entropy(logits.reshape(-1, 9), targets.reshape(-1))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    assert set(grads) == {k for k, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), atol=1e-9, rtol=0, err_msg=name)


# -- (4) exact resume -----------------------------------------------------------------------------------------------

RESUMED = {
    "torch": (
        {"cell": "gru", "impl": "nn", "input_dropout": 0.2, "output_dropout": 0.3},
        None,
        {"epochs": 2, "checkpoint_every": 5, "checkpoint_unit": "batches"},
        13,
    ),
    "numpy": (
        {"cell": "lstm", "encoder": "embedding", "embedding_size": 8, "input_dropout": 0.2, "output_dropout": 0.3},
        {"name": "random", "batch_size": 3, "num_steps": 10},
        {"epochs": 2, "optimizer": "sgd", "lr": 0.5, "checkpoint_every": 1},
        40,
    ),
}


@pytest.mark.parametrize("backend", RESUMED)
def test_a_killed_run_with_dropout_resumes_bit_for_bit(tmp_path, backend):
    model, sampler, trainer, kill_at = RESUMED[backend]
    data = corpus_recipe(tmp_path, backend, model, sampler, **trainer)
    reference = zoo.run(data, out=tmp_path / "reference")
    path = tmp_path / "recipe.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    run_dir = tmp_path / "run"
    first = zoo_cli(
        "run",
        str(path),
        "--out",
        str(run_dir),
        "-q",
        driver=DRIVER,
        env={"KILL_WHERE": "step", "KILL_AT": str(kill_at), "KILL_SIG": "SIGKILL"},
    )
    assert first.returncode == -signal.SIGKILL, first.stderr
    assert (run_dir / "checkpoint" / "checkpoint.json").is_file() and not (run_dir / "model.safetensors").exists()
    zoo.resume(run_dir)
    assert_same_run(run_dir, reference)


# -- (5) out-of-range values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["input_dropout", "output_dropout"])
@pytest.mark.parametrize(
    "value, problem",
    [
        (-0.1, "must be in [0, 1), got -0.1"),
        (1.0, "must be in [0, 1), got 1.0"),
        (1.5, "must be in [0, 1), got 1.5"),
        (float("nan"), "must be a finite number, got nan"),
    ],
)
def test_an_out_of_range_dropout_is_one_line_naming_its_key(tmp_path, key, value, problem):
    data = corpus_recipe(tmp_path, "torch", {"cell": "gru", key: value}, epochs=1)
    with pytest.raises(RecipeError) as info:
        prepare(data, get_registry())
    assert info.value.problems == [f"model.{key}: {problem}"]
    assert "\n" not in str(info.value)
