"""Conformance checks for plugin authors, to call from your own test suite.

    from zoo.testing import check_cell, check_dataset, check_predictor

    def test_my_plugins_conform():
        check_cell("mgu")                      # looked up by its registered name
        check_predictor("beam", {"beam_width": 2})
        check_dataset("my_corpus", {"max_chars": 5000}, data_dir="data")

Each check raises ``AssertionError`` with a message saying what failed and for
which configuration. Components are looked up in the installed registry (pass
``registry=`` to use another, e.g. ``Registry.from_plugins(...)``). Models are
tiny, float64 and seeded, so the checks are fast and deterministic; no pytest
is needed to run them.
"""

from __future__ import annotations

import functools
import itertools
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd.gradcheck import GradcheckError

from zoo.errors import RecipeError, UsageError
from zoo.hub.pretrained import load
from zoo.hub.weights import save_weights
from zoo.interfaces import Corpus
from zoo.nn.build import build_model
from zoo.nn.cell import Cell
from zoo.nn.model import LanguageModel
from zoo.nn.npstack import stack_backward, stack_forward
from zoo.options import bind
from zoo.recipe import Recipe, resolve
from zoo.registry import Registry, get_registry
from zoo.version import versions
from zoo.vocab import Vocab

__all__ = ["check_cell", "check_dataset", "check_predictor"]

VOCAB = Vocab(list(" abcdefg"))  # the tiny models' vocabulary: 8 character tokens
HIDDEN, EMBEDDING = 3, 2
CONFIGS = [
    {"layers": k, "bidirectional": b, "encoder": e}
    for k, b, e in itertools.product((1, 2), (False, True), ("onehot", "embedding"))
]
SHAPES = ((2, 5), (3, 1))  # (batch, steps)
TOL = 1e-10  # float64: scratch vs nn, saved vs loaded
NP_TOL = 1e-9  # float64: hand-written NumPy gradients vs autograd


# -- shared helpers -----------------------------------------------------------


def _lookup(registry: Registry | None, kind: str, name: str) -> tuple[Registry, Any]:
    registry = registry or get_registry()
    if name not in registry.names(kind):
        raise AssertionError(
            f"no {kind} registered as {name!r}; registered: {', '.join(registry.names(kind)) or '(none)'}"
        )
    return registry, registry.get(kind, name)


def _recipe(
    registry: Registry,
    cell: str,
    options: dict | None = None,
    *,
    impl: str = "scratch",
    layers: int = 1,
    bidirectional: bool = False,
    encoder: str = "onehot",
    predict: dict | None = None,
) -> Recipe:
    """A resolved recipe for a tiny float64 model of ``cell`` (the dataset is never read)."""
    model = {
        "cell": cell,
        "impl": impl,
        "hidden_size": HIDDEN,
        "layers": layers,
        "bidirectional": bidirectional,
        "encoder": encoder,
        "dtype": "float64",
        **(options or {}),
    }
    if encoder == "embedding":
        model["embedding_size"] = EMBEDDING
    data = {
        "name": "conformance",
        "seed": 0,
        "dataset": {"name": "text", "path": "unused.txt"},
        "model": model,
        "backend": "torch",
        "predict": predict or {"name": "default"},
    }
    try:
        return resolve(data, registry)
    except RecipeError as exc:
        raise AssertionError(f"the conformance recipe does not resolve: {exc}") from None


def _build(recipe: Recipe) -> LanguageModel:
    """The recipe's model, its weights drawn after seeding torch with 0 (the public checks restore the caller's
    state)."""
    torch.manual_seed(0)
    return build_model(recipe, len(VOCAB))


def _ids(n: int, t: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(0, len(VOCAB), (n, t), generator=torch.Generator().manual_seed(seed))


def _random_state(model: LanguageModel, n: int, seed: int = 2) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(s.shape, generator=g, dtype=s.dtype) for s in model.begin_state(n))


def _close(actual: torch.Tensor, expected: torch.Tensor, what: str, tol: float = TOL) -> None:
    torch.testing.assert_close(actual, expected, atol=tol, rtol=0, msg=lambda m: f"{what}: {m}")


def _own_random_state(check: Callable) -> Callable:
    """Run ``check`` leaving torch's and NumPy's global generators as the caller had them."""

    @functools.wraps(check)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        saved = np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            try:
                check(*args, **kwargs)
            finally:
                np.random.set_state(saved)

    return wrapper


def _expect_usage_error(call: Callable[[], Any], what: str) -> None:
    try:
        call()
    except UsageError:
        return
    except Exception as exc:
        raise AssertionError(f"{what}: expected zoo.errors.UsageError, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: expected zoo.errors.UsageError, nothing was raised")


# -- cells --------------------------------------------------------------------


@_own_random_state
def check_cell(name: str, options: dict | None = None, *, registry: Registry | None = None) -> None:
    """Check the cell registered as ``name`` (with cell ``options``, e.g. ``{"nonlinearity": "relu"}``).

    For 1 and 2 layers, one and two directions, one-hot and embedding encoders:
    shapes of outputs and states, state carried across chunks, a save/load round
    trip, scratch = its ``nn_module`` when it has one, and when it writes ``forward_step`` and
    ``backward_step`` (``has_backward_step()``): NumPy = torch, and the fused layer = autograd
    through ``step``; autograd against finite differences on two of them.
    """
    registry, cls = _lookup(registry, "cell", name)
    _check_step(_recipe(registry, name, options), f"check_cell({name!r})")
    for config in CONFIGS:
        where = f"check_cell({name!r}) with " + ", ".join(f"{k}={v}" for k, v in config.items())
        recipe = _recipe(registry, name, options, **config)
        _check_shapes(recipe, where)
        if not config["bidirectional"]:  # a backward direction cannot be carried across chunks
            _check_chunked_state(recipe, where)
        if cls.nn_module is not None:
            _check_scratch_equals_nn(recipe, _recipe(registry, name, options, impl="nn", **config), where)
        if cls.has_backward_step():
            _check_fused_equals_literal(recipe, where)
            _check_numpy_stack(recipe, where)
        _check_round_trip(recipe, registry, where)
    for config in (CONFIGS[0], CONFIGS[-1]):
        where = f"check_cell({name!r}) gradcheck with " + ", ".join(f"{k}={v}" for k, v in config.items())
        _check_gradients(_recipe(registry, name, options, **config), where)


def _check_step(recipe: Recipe, where: str) -> None:
    """``step`` returns ``(h, state)``: h (N, H) and a tuple of ``num_states`` tensors (N, H);
    a cell writing ``backward_step`` writes the ``forward_step`` whose cache it reads."""
    cell = recipe.model.build()
    if type(cell).backward_step is not Cell.backward_step:
        assert type(cell).forward_step is not Cell.forward_step, f"{where}: writes backward_step but not forward_step"
    n, h = 2, HIDDEN
    g = torch.Generator().manual_seed(5)
    gx = torch.randn(n, cell.gates * h, generator=g, dtype=torch.float64)
    state = tuple(torch.randn(n, h, generator=g, dtype=torch.float64) for _ in range(cell.num_states))
    w_hh, b_hh = (
        torch.randn(cell.gates * h, h, generator=g, dtype=torch.float64),
        torch.randn(cell.gates * h, generator=g, dtype=torch.float64),
    )
    out, new = cell.step(gx, state, w_hh, b_hh)
    assert tuple(out.shape) == (n, h), (
        f"{where}: step returned an output of shape {tuple(out.shape)}, expected (batch, hidden) = {(n, h)}"
    )
    assert isinstance(new, tuple) and len(new) == cell.num_states, (
        f"{where}: step must return a state tuple of num_states={cell.num_states} tensors, got {type(new).__name__} of "
        f"length {len(new)}"
    )
    for s in new:
        assert tuple(s.shape) == (n, h), (
            f"{where}: step returned a state tensor of shape {tuple(s.shape)}, expected (batch, hidden) = {(n, h)}"
        )


def _check_shapes(recipe: Recipe, where: str) -> None:
    """Logits (N, T, V); ``num_states`` state tensors (layers*directions, N, H), also when a state is passed in."""
    model = _build(recipe)
    m = recipe.model.core
    stacked = m.layers * (2 if m.bidirectional else 1)
    with torch.no_grad():
        for n, t in SHAPES:
            state = None
            for _ in range(2):  # from zeros, then from the returned state
                logits, state = model(_ids(n, t), state)
                assert tuple(logits.shape) == (n, t, len(VOCAB)), (
                    f"{where}: logits have shape {tuple(logits.shape)}, expected {(n, t, len(VOCAB))}"
                )
                assert isinstance(state, tuple) and len(state) == model.cell.num_states, (
                    f"{where}: the state must be a tuple of num_states={model.cell.num_states} tensors, got "
                    f"{state!r:.80}"
                )
                for s in state:
                    assert tuple(s.shape) == (stacked, n, m.hidden_size), (
                        f"{where}: a state tensor has shape {tuple(s.shape)}, expected (layers*directions, batch, "
                        f"hidden) = {(stacked, n, m.hidden_size)}"
                    )


def _check_chunked_state(recipe: Recipe, where: str) -> None:
    """T steps at once equal T1 then T - T1 steps with the state carried."""
    model = _build(recipe)
    ids, state = _ids(2, 6), _random_state(model, 2)
    with torch.no_grad():
        whole, final = model(ids, state)
        first, mid = model(ids[:, :4], state)
        second, end = model(ids[:, 4:], mid)
    _close(
        torch.cat([first, second], dim=1), whole, f"{where}: logits of two chunks with the state carried vs one pass"
    )
    for a, b in zip(end, final):
        _close(a, b, f"{where}: final state of two chunks vs one pass")


def _check_round_trip(recipe: Recipe, registry: Registry, where: str) -> None:
    """``save_weights`` then ``zoo.load`` give the same logits (and on the numpy backend when the cell has one)."""
    model = _build(recipe)
    ids = _ids(2, 5)
    with torch.no_grad(), tempfile.TemporaryDirectory() as tmp:
        path = save_weights(
            Path(tmp) / "model.safetensors",
            model.state_dict(),
            vocab=VOCAB,
            recipe=recipe.to_dict(),
            metrics={},
            versions=versions(),
        )
        loaded = load(path, registry=registry)
        assert loaded.vocab == VOCAB, f"{where}: the loaded vocabulary differs from the saved one"
        _close(loaded.module(ids)[0], model(ids)[0], f"{where}: logits after save_weights + zoo.load")
        if model.cell.has_backward_step():
            on_numpy = load(path, backend="numpy", registry=registry)
            _close(on_numpy.runner(ids)[0], model(ids)[0], f"{where}: logits on the numpy backend after zoo.load")


def _check_scratch_equals_nn(scratch: Recipe, nn: Recipe, where: str) -> None:
    """Same weights: equal logits, final states and parameter gradients for ``impl: scratch`` and ``impl: nn``."""
    _check_equal_models(_build(scratch), _build(nn), where, "scratch vs nn")


def _check_fused_equals_literal(recipe: Recipe, where: str) -> None:
    """The fused layer (hand-written backward through the cell's equations) equals autograd through ``cell.step``."""
    literal = _build(recipe)
    literal.rnn.fused = False
    _check_equal_models(_build(recipe), literal, where, "fused vs cell.step")


def _check_equal_models(ours: LanguageModel, ref: LanguageModel, where: str, what: str) -> None:
    shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    assert shapes == ref_shapes, f"{where}: {what} weights differ in names or shapes: {shapes} vs {ref_shapes}"
    ours.load_state_dict(ref.state_dict())
    ids, y, state = _ids(3, 4), _ids(3, 4, seed=3), _random_state(ref, 3)
    results = []
    for model in (ours, ref):
        logits, final = model(ids, state)
        F.cross_entropy(logits.reshape(-1, len(VOCAB)), y.reshape(-1)).backward()
        results.append((logits.detach(), final))
    (la, sa), (lb, sb) = results
    _close(la, lb, f"{where}: {what} logits")
    for a, b in zip(sa, sb):
        _close(a.detach(), b.detach(), f"{where}: {what} final state")
    grads = dict(ours.named_parameters())
    for pname, p in ref.named_parameters():
        _close(grads[pname].grad, p.grad, f"{where}: {what} gradient of {pname}")


def _check_numpy_stack(recipe: Recipe, where: str) -> None:
    """``forward_step``/``backward_step`` on NumPy: the NumPy stack's outputs, states and gradients equal autograd's."""
    stack = _build(recipe).rnn  # the CellStack of the scratch model
    m = recipe.model.core
    dirs = 2 if m.bidirectional else 1
    g = torch.Generator().manual_seed(4)
    ids_input = m.encoder == "onehot"
    x = (
        _ids(3, 4)
        if ids_input
        else torch.randn(3, 4, stack.input_size, generator=g, dtype=torch.float64, requires_grad=True)
    )
    state = tuple(
        torch.randn(m.layers * dirs, 3, m.hidden_size, generator=g, dtype=torch.float64)
        for _ in range(stack.cell.num_states)
    )
    w_out = torch.randn(3, 4, dirs * m.hidden_size, generator=g, dtype=torch.float64)
    w_state = tuple(torch.randn(s.shape, generator=g, dtype=torch.float64) for s in state)
    out, final = stack(x, state)
    ((out * w_out).sum() + sum((f * w).sum() for f, w in zip(final, w_state))).backward()

    params = {k: v.detach().numpy() for k, v in stack.named_parameters()}
    x_np = x.numpy() if ids_input else x.detach().numpy()
    np_out, np_final, cache = stack_forward(stack.cell, params, x_np, tuple(s.numpy() for s in state), m.layers, dirs)
    np.testing.assert_allclose(
        np_out, out.detach().numpy(), atol=TOL, rtol=0, err_msg=f"{where}: NumPy vs torch stack output"
    )
    for a, b in zip(np_final, final):
        np.testing.assert_allclose(
            a, b.detach().numpy(), atol=TOL, rtol=0, err_msg=f"{where}: NumPy vs torch final state"
        )
    grads, dx = stack_backward(
        stack.cell, params, cache, w_out.numpy(), tuple(w.numpy() for w in w_state), m.layers, dirs
    )
    assert set(grads) == set(params), f"{where}: NumPy gradients for {sorted(grads)}, expected {sorted(params)}"
    for pname, p in stack.named_parameters():
        np.testing.assert_allclose(
            grads[pname],
            p.grad.numpy(),
            atol=NP_TOL,
            rtol=0,
            err_msg=f"{where}: NumPy backward_step gradient of {pname}",
        )
    if not ids_input:
        np.testing.assert_allclose(
            dx, x.grad.numpy(), atol=NP_TOL, rtol=0, err_msg=f"{where}: NumPy backward_step gradient of the input"
        )


def _check_gradients(recipe: Recipe, where: str) -> None:
    """``torch.autograd.gradcheck`` of logits and final state in every weight and the initial state."""
    model = _build(recipe)
    names = [k for k, _ in model.named_parameters()]
    ids = _ids(2, 3)

    def forward(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, final = torch.func.functional_call(model, dict(zip(names, tensors)), (ids, tensors[len(names) :]))
        return (logits, *final)

    inputs = tuple(p.detach().clone().requires_grad_(True) for p in model.parameters())
    inputs += tuple(s.requires_grad_(True) for s in _random_state(model, 2))
    try:
        torch.autograd.gradcheck(forward, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)
    except GradcheckError as exc:
        raise AssertionError(f"{where}: autograd gradients differ from finite differences: {exc}") from None


# -- datasets -----------------------------------------------------------------


@_own_random_state
def check_dataset(
    name: str, options: dict, data_dir: str | Path | None = None, *, registry: Registry | None = None
) -> None:
    """Check the dataset registered as ``name`` with recipe ``options``, reading files from ``data_dir``.

    Two loads give identical ids (train, valid, test) and vocabulary; every id
    lies in the vocabulary; decoding a slice of the corpus (less any unknown
    token) and encoding it again gives the same ids.
    """
    _, cls = _lookup(registry, "dataset", name)
    opts, problems = bind(cls.Options, options, "dataset")
    assert not problems, f"check_dataset({name!r}): the options do not validate: {'; '.join(problems)}"
    folder = Path(data_dir) if data_dir is not None else None
    first, second = cls(opts).load(folder), cls(opts).load(folder)
    where = f"check_dataset({name!r}, {options!r})"
    _check_same_corpus(first, second, where)
    _check_ids_in_range(first, where)
    _check_vocab_round_trip(first, where)


def _check_same_corpus(a: Corpus, b: Corpus, where: str) -> None:
    assert a.vocab == b.vocab, f"{where}: two loads gave different vocabularies"  # tokens, level and unknown token
    for split in ("train", "valid", "test", "pairs"):
        assert getattr(a, split) == getattr(b, split), f"{where}: two loads gave different {split} ids"


def _check_ids_in_range(corpus: Corpus, where: str) -> None:
    assert len(corpus.vocab) > 0 and corpus.train, f"{where}: the corpus or its vocabulary is empty"
    sequences = [("train", corpus.train), ("valid", corpus.valid or []), ("test", corpus.test or [])]
    sequences += [(f"pairs[{i}]", inp + out) for i, (inp, out) in enumerate(corpus.pairs or [])]
    for split, ids in sequences:
        bad = [i for i in ids if not (isinstance(i, int) and 0 <= i < len(corpus.vocab))]
        assert not bad, f"{where}: {split} holds ids outside [0, {len(corpus.vocab)}): {bad[:5]}"
    for i, (inp, out) in enumerate(corpus.pairs or []):
        assert len(inp) == len(out), f"{where}: pairs[{i}] has an input of {len(inp)} tokens and a target of {len(out)}"


def _check_vocab_round_trip(corpus: Corpus, where: str, size: int = 500) -> None:
    # the unknown token stands for many tokens, and at char level its text ('<unk>') is several characters
    ids = [i for i in corpus.train[:size] if corpus.vocab.unk is None or i != corpus.vocab.index[corpus.vocab.unk]]
    text = corpus.vocab.decode(ids)
    try:
        again = corpus.vocab.encode(text)
    except UsageError as exc:
        raise AssertionError(
            f"{where}: the decoded first {len(ids)} training tokens do not encode again: {exc}"
        ) from None
    assert again == ids, (
        f"{where}: encode(decode(ids)) differs from ids on the first {len(ids)} training tokens (decoded: "
        f"{text[:60]!r})"
    )


# -- predictors ---------------------------------------------------------------


@_own_random_state
def check_predictor(name: str, options: dict | None = None, *, registry: Registry | None = None) -> None:
    """Check the predictor registered as ``name`` (with its ``options``) on a tiny random LSTM.

    ``generate`` returns the prefix and at most n tokens of the vocabulary, is
    deterministic when greedy and reproducible when sampling from a seeded
    ``torch.Generator``, stops at ``stop``, refuses unknown characters and
    bidirectional models with ``UsageError``, and works on the numpy backend's
    model; ``perplexity`` is finite and at least 1.
    """
    registry, _ = _lookup(registry, "predictor", name)
    predict = {"name": name, **(options or {})}
    recipe = _recipe(registry, "lstm", layers=2, predict=predict)
    predictor, model = recipe.predict.build(), _build(recipe)
    where = f"check_predictor({name!r}{', ' + repr(options) if options else ''})"
    _check_generate_output(predictor, model, where)
    _check_generate_repeatable(predictor, model, where)
    _check_stop(predictor, model, where)
    _check_perplexity(predictor, model, where)
    _expect_usage_error(
        lambda: predictor.generate(model, VOCAB, "xyz", 3), f"{where}: generate from a prefix with unknown characters"
    )
    bidirectional = _build(_recipe(registry, "lstm", bidirectional=True, predict=predict))
    _expect_usage_error(
        lambda: predictor.generate(bidirectional, VOCAB, "ab", 3), f"{where}: generate with a bidirectional model"
    )
    _check_numpy_runner(predictor, model, registry, where)


def _check_generate_output(predictor: Any, model: LanguageModel, where: str) -> None:
    for prefix, n in itertools.product(("ab", ""), (0, 1, 6)):
        out = predictor.generate(model, VOCAB, prefix, n)
        assert isinstance(out, str) and out.startswith(prefix), (
            f"{where}: generate({prefix!r}, {n}) returned {out!r}, which does not start with the prefix"
        )
        extra = VOCAB.split(out[len(prefix) :])
        assert len(extra) <= n, f"{where}: generate({prefix!r}, {n}) returned {len(extra)} new tokens: {out!r}"
        unknown = [t for t in extra if t not in VOCAB.index]
        assert not unknown, f"{where}: generate({prefix!r}, {n}) returned tokens outside the vocabulary: {unknown}"


def _check_generate_repeatable(predictor: Any, model: LanguageModel, where: str) -> None:
    greedy = [predictor.generate(model, VOCAB, "ab", 8) for _ in range(2)]
    assert greedy[0] == greedy[1], f"{where}: greedy generate is not deterministic: {greedy}"
    for top_k in (None, 3):
        sampled = [
            predictor.generate(
                model,
                VOCAB,
                "ab",
                8,
                strategy="sample",
                temperature=1.5,
                top_k=top_k,
                generator=torch.Generator().manual_seed(7),
            )
            for _ in range(2)
        ]
        assert sampled[0] == sampled[1], (
            f"{where}: sampling with top_k={top_k} and the same generator seed gave {sampled}"
        )


def _check_stop(predictor: Any, model: LanguageModel, where: str) -> None:
    """With ``stop``, the continuation holds that token at most once, as its last."""
    stop = predictor.generate(model, VOCAB, "ab", 1)[-1]  # a token this model does produce
    extra = VOCAB.split(predictor.generate(model, VOCAB, "ab", 8, stop=stop)[2:])
    assert stop not in extra[:-1], f"{where}: generation went on after the stop token {stop!r}: {extra}"


def _check_numpy_runner(predictor: Any, model: LanguageModel, registry: Registry, where: str) -> None:
    """The predictor sees only the model's interface, so it also runs on the numpy backend's look-alike."""
    runner = registry.get("backend", "numpy")().inference(model)
    hint = "a predictor may use only model(ids, state), .options, .device, .dtype, .training, .eval() and .train()"
    try:
        on_numpy = predictor.generate(runner, VOCAB, "ab", 6)
    except Exception as exc:
        raise AssertionError(
            f"{where}: generate fails on the numpy backend's model ({type(exc).__name__}: {exc}); {hint}"
        ) from exc
    assert on_numpy == predictor.generate(model, VOCAB, "ab", 6), (
        f"{where}: greedy generate differs on the numpy backend's model; {hint}"
    )


def _check_perplexity(predictor: Any, model: LanguageModel, where: str) -> None:
    value = predictor.perplexity(model, VOCAB, "abcab gf")
    assert isinstance(value, float) and math.isfinite(value) and value >= 1.0, (
        f"{where}: perplexity is {value!r}, expected a finite float >= 1"
    )
