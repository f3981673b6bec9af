"""Weights files are untrusted input: tampered metadata, sizes, dtypes and NaN weights each end in one clear line.

A tiny valid file is made without training (a freshly built model, saved), then altered. ``zoo.load``
must check the metadata recipe against the tensors its safetensors header lists before it builds a
model or reads a tensor, and every refusal is one :class:`~zoo.errors.UsageError` line, from Python
and from ``zoo predict``.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from clitools import in_process
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import load_file, save

import zoo
import zoo.hub.pretrained
import zoo.hub.weights
from zoo.errors import UsageError
from zoo.hub.weights import save_weights
from zoo.nn.build import build_model
from zoo.recipe import resolve
from zoo.registry import get_registry
from zoo.version import versions
from zoo.vocab import Vocab

TINY = {
    "name": "tiny",
    "seed": 0,
    "dataset": {"name": "text", "path": "unused.txt"},  # the dataset is never read
    "model": {"cell": "gru", "hidden_size": 4},
    "backend": "torch",
}
TOKENS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> Path:
    """A freshly built (untrained) tiny GRU saved as zoo saves a run's weights."""
    r = resolve(TINY, get_registry())
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "valid.safetensors"
    state = build_model(r, len(TOKENS)).state_dict()
    return save_weights(path, state, vocab=Vocab(TOKENS), recipe=r.to_dict(), metrics={}, versions=versions())


def parts(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and the metadata of a weights file."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    return load_file(str(path)), metadata


def tampered(valid: Path, out: Path, *, metadata: dict[str, str | None] | None = None, tensors: Any = None) -> Path:
    """A copy of ``valid`` with metadata keys replaced (``None`` removes one) and tensors mapped by ``tensors``."""
    t, meta = parts(valid)
    for key, value in (metadata or {}).items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    out.write_bytes(save(tensors(t) if tensors else t, metadata=meta))
    return out


def with_recipe(valid: Path, out: Path, change: dict[str, Any]) -> Path:
    """``valid`` with its metadata recipe's model section changed."""
    recipe = json.loads(parts(valid)[1]["zoo.recipe"])
    recipe["model"].update(change)
    return tampered(valid, out, metadata={"zoo.recipe": json.dumps(recipe)})


def invoke(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; return its exit code and stderr."""
    proc = in_process(*argv)
    return proc.returncode, proc.stderr


def assert_one_line(code: int, stderr: str, *needles: str) -> None:
    """Exit code 2 and exactly one ``Error:`` line holding every needle: no traceback, no internal error."""
    assert code == 2, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and stderr.strip() == errors[0], stderr
    for needle in needles:
        assert needle in errors[0], errors[0]


def predict(path: Path, *options: str) -> tuple[int, str]:
    """``zoo predict PATH --prefix a -n 2 OPTIONS`` in this process."""
    return invoke(["predict", str(path), "--prefix", "a", "-n", "2", *options])


def test_the_untampered_file_loads_and_predicts(valid):
    model = zoo.load(valid)
    assert model.generate("a", 2).startswith("a") and math.isfinite(model.perplexity("abc"))
    assert predict(valid, "--strategy", "sample", "--seed", "1")[0] == 0


# -- item 3: sizes are checked against the header before anything is built ----------------------


@pytest.mark.parametrize(
    "change, words",
    [
        ({"hidden_size": 200000}, "the recipe needs (3, 200000)"),
        ({"hidden_size": 12000}, "the recipe needs (3, 12000)"),
        ({"layers": 1000000}, "holds 6 tensors, the recipe in its metadata needs 4000002"),
        ({"layers": 2, "bidirectional": True}, "holds 6 tensors, the recipe in its metadata needs 18"),
        ({"encoder": "embedding", "embedding_size": 100000}, "holds 6 tensors, the recipe in its metadata needs 7"),
    ],
    ids=["hidden-200000", "hidden-12000", "layers-1000000", "deeper", "embedding"],
)
def test_sizes_are_refused_from_the_header_before_building_or_reading_tensors(
    valid, tmp_path, monkeypatch, change, words
):
    path = with_recipe(valid, tmp_path / "big.safetensors", change)

    def forbidden(*args, **kwargs):
        raise AssertionError("zoo.load built a model or read tensors before comparing the recipe with the header")

    monkeypatch.setattr(zoo.hub.pretrained, "build_model", forbidden)
    monkeypatch.setattr(zoo.hub.weights, "load_file", forbidden)
    with pytest.raises(UsageError, match=r"big\.safetensors: .*" + words.replace("(", r"\(").replace(")", r"\)")):
        zoo.load(path)
    assert_one_line(*predict(path), "big.safetensors", words)


# -- item 10: metadata, dtypes and NaN weights -------------------------------------------------

BAD_METADATA = {
    "recipe-list": ({"zoo.recipe": "[]"}, "metadata 'zoo.recipe' should be a JSON object"),
    "recipe-null": ({"zoo.recipe": "null"}, "metadata 'zoo.recipe' should be a JSON object"),
    "recipe-string": ({"zoo.recipe": '"gru"'}, "metadata 'zoo.recipe' should be a JSON object"),
    "vocab-empty": ({"zoo.vocab": "[]"}, "metadata 'zoo.vocab' holds no tokens"),
    "vocab-string": ({"zoo.vocab": '"abc"'}, "metadata 'zoo.vocab' should be a JSON array"),
    "vocab-object": ({"zoo.vocab": '{"a": 0, "b": 1, "c": 2}'}, "metadata 'zoo.vocab' should be a JSON array"),
    "vocab-null-token": ({"zoo.vocab": '["a", null, "c"]'}, "tokens must be strings, got None at id 1"),
    "vocab-number-token": ({"zoo.vocab": '["a", "b", 3]'}, "tokens must be strings, got 3 at id 2"),
    "vocab-duplicate": ({"zoo.vocab": '["a", "b", "a"]'}, "tokens must be unique, 'a' appears more than once"),
    "vocab-level": ({"zoo.vocab_level": "byte"}, "level must be 'char' or 'word'"),
    "metrics-list": ({"zoo.metrics": "[1]"}, "metadata 'zoo.metrics' should be a JSON object"),
    "recipe-missing": ({"zoo.recipe": None}, "metadata has no 'zoo.recipe'"),
}


@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_bad_metadata_is_one_line_from_python_and_the_cli(valid, tmp_path, case):
    change, words = BAD_METADATA[case]
    path = tampered(valid, tmp_path / f"{case}.safetensors", metadata=change)
    with pytest.raises(UsageError, match=f"{case}.safetensors: .*{words.replace('[', '.').replace('(', '.')}"):
        zoo.load(path)
    assert_one_line(*predict(path), f"{case}.safetensors", words)


@pytest.mark.parametrize(
    "dtype", [torch.bool, torch.complex64, torch.float8_e4m3fn, torch.float8_e5m2, torch.int64, torch.uint8]
)
def test_weights_that_are_not_floating_point_are_refused(valid, tmp_path, dtype):
    path = tampered(
        valid,
        tmp_path / "typed.safetensors",
        tensors=lambda t: {**t, "rnn.weight_hh_l0": t["rnn.weight_hh_l0"].to(dtype)},
    )
    with pytest.raises(UsageError, match=r"tensor rnn\.weight_hh_l0 holds \w+ values; zoo weights are floating point"):
        zoo.load(path)
    assert_one_line(*predict(path), "typed.safetensors", "rnn.weight_hh_l0", "floating point")


def test_half_precision_weights_still_load(valid, tmp_path):
    path = tampered(
        valid, tmp_path / "half.safetensors", tensors=lambda t: {k: v.to(torch.bfloat16) for k, v in t.items()}
    )
    assert zoo.load(path).module.dtype == torch.float32


@pytest.fixture()
def nan_model(valid, tmp_path) -> Path:
    """``valid`` with every weight NaN (what a diverged run would have saved, were it allowed to)."""
    return tampered(
        valid, tmp_path / "nan.safetensors", tensors=lambda t: {k: torch.full_like(v, math.nan) for k, v in t.items()}
    )


@pytest.mark.parametrize("strategy", ["sample", "greedy"])
def test_generating_from_nan_weights_says_so_in_one_line(nan_model, strategy):
    with pytest.raises(UsageError, match="the model's outputs are not finite .NaN or infinite weights"):
        zoo.load(nan_model).generate("a", 2, strategy=strategy, top_k=2 if strategy == "sample" else None)
    assert_one_line(*predict(nan_model, "--strategy", strategy), "not finite", "re-train the model")


def test_perplexity_of_nan_weights_is_nan_and_an_overflowing_loss_is_inf(nan_model, valid, tmp_path):
    assert math.isnan(zoo.load(nan_model).perplexity("abc"))
    huge = tampered(
        valid, tmp_path / "huge.safetensors", tensors=lambda t: {**t, "dense.bias": torch.tensor([0.0, 0.0, 1e30])}
    )
    assert zoo.load(huge).perplexity("abab") == math.inf  # a loss of 1e30 nats: math.exp overflows


def test_a_temperature_too_small_for_the_logits_is_one_line(valid):
    with pytest.raises(UsageError, match="temperature 1e-300 is too small"):
        zoo.load(valid).generate("a", 2, strategy="sample", temperature=1e-300)
    assert_one_line(
        *predict(valid, "--strategy", "sample", "--temperature", "1e-300"), "temperature 1e-300 is too small"
    )


# -- the hypothesis half of "Done when": corrupted metadata, one line each ------------------------

PATHS = [
    "name",
    "seed",
    "description",
    "dataset",
    "dataset.name",
    "dataset.path",
    "sampler",
    "sampler.name",
    "sampler.batch_size",
    "model",
    "model.cell",
    "model.impl",
    "model.hidden_size",
    "model.layers",
    "model.bidirectional",
    "model.encoder",
    "model.embedding_size",
    "model.dropout",
    "model.dtype",
    "model.decoder",
    "model.init",
    "model.nonlinearity",
    "backend",
    "backend.name",
    "trainer",
    "trainer.lr",
    "trainer.epochs",
    "predict",
    "predict.name",
    "predict.length",
]
WORDS = [
    "gru",
    "lstm",
    "rnn",
    "nn",
    "scratch",
    "embedding",
    "onehot",
    "none",
    "dense",
    "float64",
    "numpy",
    "cuda",
    "auto",
    "default",
    "text",
]

plain_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | plain_text | st.sampled_from(WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
    max_leaves=6,
)
option_values = json_values | st.integers(-3, 10**7) | st.sampled_from(WORDS)


def edit_recipe(recipe: dict[str, Any], path: str, value: Any = None, delete: bool = False) -> str:
    """The recipe with the key at dotted ``path`` set to ``value`` (or removed), as metadata JSON."""
    out = copy.deepcopy(recipe)
    *parents, key = path.split(".")
    node = out
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = {"name": node[part]} if isinstance(node.get(part), str) else {}
        node = node[part]
    if delete:
        node.pop(key, None)
    else:
        node[key] = value
    return json.dumps(out)


raw = st.tuples(st.just("raw"), json_values.map(json.dumps) | plain_text)
# key -> how to damage it: None removes the key, ("raw", text) replaces its value, ("set", path, value) and
# ("delete", path) change one key of the real recipe
DAMAGE = {
    "zoo.recipe": st.none()
    | raw
    | st.tuples(st.just("set"), st.sampled_from(PATHS), option_values)
    | st.tuples(st.just("delete"), st.sampled_from(PATHS)),
    "zoo.vocab": st.none()
    | raw
    | st.tuples(st.just("raw"), st.lists(plain_text | st.sampled_from(TOKENS), max_size=4).map(json.dumps)),
    "zoo.vocab_level": st.none() | raw | st.tuples(st.just("raw"), st.sampled_from(["char", "word"])),
    "zoo.metrics": st.none() | raw,
}
changes = st.lists(st.sampled_from(list(DAMAGE)), min_size=1, max_size=3, unique=True).flatmap(
    lambda keys: st.fixed_dictionaries({key: DAMAGE[key] for key in keys})
)


@pytest.fixture(scope="module")
def valid_parts(valid) -> tuple[dict[str, torch.Tensor], dict[str, str], dict[str, Any]]:
    """The valid file's tensors, metadata and recipe, to damage once per example."""
    tensors, metadata = parts(valid)
    return tensors, metadata, json.loads(metadata["zoo.recipe"])


@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=changes)
@example(change={"zoo.recipe": ("raw", "[]")})
@example(change={"zoo.recipe": ("raw", "null")})
@example(change={"zoo.recipe": ("raw", '"gru"')})
@example(change={"zoo.recipe": ("raw", "{}")})
@example(change={"zoo.recipe": None, "zoo.vocab": None})
@example(change={"zoo.recipe": ("set", "model.hidden_size", 200000)})
@example(change={"zoo.recipe": ("set", "model.layers", 1000000)})
@example(change={"zoo.recipe": ("set", "model.dtype", 64)})
@example(change={"zoo.recipe": ("delete", "model")})
@example(change={"zoo.vocab": ("raw", "[]")})
@example(change={"zoo.vocab": ("raw", '"abc"')})
@example(change={"zoo.vocab": ("raw", '{"a": 0}')})
@example(change={"zoo.vocab": ("raw", '["a", null, "c"]')})
@example(change={"zoo.vocab": ("raw", '["a", "a", "c"]')})
@example(change={"zoo.vocab_level": ("raw", "bytes"), "zoo.metrics": ("raw", "[]")})
def test_corrupted_metadata_is_one_error_line_or_a_working_model(valid_parts, tmp_path, change):
    """Exit 2 with exactly one ``Error:`` line, or (damage that leaves a valid model, such as a new description)
    exit 0."""
    tensors, metadata, recipe = valid_parts
    meta = dict(metadata)
    for key, how in change.items():
        if how is None:
            del meta[key]
        else:
            meta[key] = how[1] if how[0] == "raw" else edit_recipe(recipe, *how[1:], delete=how[0] == "delete")
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(save(tensors, metadata=meta))
    code, stderr = predict(path)
    event(f"exit code {code}")
    if code != 0:
        assert_one_line(code, stderr, "Error: ")
