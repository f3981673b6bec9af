"""An edited checkpoint is input like any other: every damaged variant is one line naming the problem, never a
traceback.

One genuine checkpoint, written mid-epoch when a stop is requested (LSTM: two carried tensors; Adam: moments),
is copied for each test and edited: ``checkpoint.json`` by hand, or its tensors with the sha256 recomputed as a
careful editor would. ``zoo run --resume`` must then either refuse it in one ``Error:`` line that says it is
damaged and how to start again, or (for a harmless edit) finish the run.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from clitools import in_process
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import zoo
from zoo.errors import Interrupted
from zoo.train.checkpoint import Checkpoints

TEXT = "".join(random.Random(3).choices("abcdefg hij\n", k=160))


def recipe(corpus: Path) -> dict[str, Any]:
    return {
        "name": "damage",
        "seed": 1,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 3, "num_steps": 6},
        "model": {"cell": "lstm", "impl": "nn", "hidden_size": 6, "layers": 1},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 2, "checkpoint_every": 1},
        "predict": {"prefixes": ["ab"], "length": 3},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """``stopped``: a run stopped at batch 5 of epoch 1 with its checkpoint; ``reference``: the same run
    uninterrupted."""
    root = tmp_path_factory.mktemp("damage")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    path = root / "recipe.yaml"
    path.write_text(json.dumps(recipe(corpus)), encoding="utf-8")  # JSON is YAML
    calls = iter(range(1, 1000))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Checkpoints, "stop_requested", property(lambda self: "SIGINT" if next(calls) == 5 else None))
        with pytest.raises(Interrupted):
            zoo.run(path, out=root / "stopped")
    zoo.run(path, out=root / "reference")
    return {"stopped": root / "stopped", "reference": root / "reference"}


def invoke(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; its exit code and stderr."""
    proc = in_process(*argv)
    return proc.returncode, proc.stderr


def resume(run_dir: Path) -> tuple[int, str]:
    """``zoo run --resume run_dir -q``; checks the outcome is a finished run or one ``Error:`` line, and returns the
    exit code and that line."""
    code, stderr = invoke(["run", "--resume", str(run_dir), "-q"])
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    if code == 0:
        assert (run_dir / "model.safetensors").is_file()
        return code, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert code in (1, 2) and len(errors) == 1 and stderr.rstrip().endswith(errors[0]), (code, stderr)
    assert not (run_dir / "model.safetensors").exists()
    return code, errors[0]


def edit_json(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = run_dir / "checkpoint" / "checkpoint.json"
    pointer = json.loads(path.read_text(encoding="utf-8"))
    change(pointer)
    path.write_text(json.dumps(pointer), encoding="utf-8")


def edit_tensors(run_dir: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Change the checkpoint's tensors and record the new file's sha256, as a careful editor would."""
    path = run_dir / "checkpoint" / "checkpoint.json"
    pointer = json.loads(path.read_text(encoding="utf-8"))
    file = run_dir / "checkpoint" / pointer["tensors"]
    tensors = load_file(file)
    change(tensors)
    save_file(tensors, file)
    pointer["sha256"] = hashlib.sha256(file.read_bytes()).hexdigest()
    path.write_text(json.dumps(pointer), encoding="utf-8")


def trainer(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p["state"]["trainer"].update(values)


def run_part(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p["state"]["run"].update(values)


def model(**values: Any) -> Callable[[dict[str, Any]], None]:
    return lambda p: p["state"]["run"]["recipe"]["model"].update(values)


def drop(name: str) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda t: t.pop(name)


def retype(name: str, dtype: torch.dtype) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda t: t.update({name: t[name].to(dtype)})


def reshape(name: str) -> Callable[[dict[str, torch.Tensor]], None]:
    return lambda t: t.update({name: t[name].flatten()[:-1].clone()})


JSON_DAMAGE = {
    "state a list": (lambda p: p.update(state=[]), "state must be a mapping"),
    "seq a string": (lambda p: p.update(seq="2"), "seq must be a whole number"),
    "sha256 a number": (lambda p: p.update(sha256=5), "sha256 must be 64 hexadecimal digits"),
    "tensors absolute": (lambda p: p.update(tensors="/etc/passwd"), "tensors must be 'state-000001.safetensors'"),
    "tensors outside": (lambda p: p.update(tensors="../recipe.yaml"), "tensors must be"),
    "rng a string": (run_part(rng="x"), "rng must be a mapping"),
    "rng python short": (lambda p: p["state"]["run"]["rng"].update(python=[3, [1, 2], None]), "rng.python"),
    "recipe a path": (run_part(recipe="recipes/jay_gru.yaml"), "run.recipe must be a mapping"),
    "recipe invalid": (model(cell="gur"), "its recipe does not validate"),
    "recipe sizes": (model(hidden_size=7), "has shape"),
    "metrics a mapping": (run_part(metrics={}), "run.metrics"),
    "metrics of text": (run_part(metrics=[{"epoch": "one"}]), "run.metrics[0].epoch"),
    "samples of numbers": (run_part(samples=[1]), "run.samples"),
    "corpus short": (run_part(corpus="abc"), "run.corpus"),
    "loggers a list": (run_part(loggers=[]), "run.loggers must be a mapping with steps and loggers"),
    "loggers steps negative": (run_part(loggers={"steps": -1, "loggers": {}}), "run.loggers.steps must be ≥ 0"),
    "logger state a list": (run_part(loggers={"steps": 3, "loggers": {"x": []}}), "run.loggers.loggers.x must be"),
    "epoch a string": (trainer(epoch="1"), 'trainer.epoch must be a whole number, got "1"'),
    "epoch beyond": (trainer(epoch=9), "trainer.epoch must be ≤ 3, got 9"),
    "batch negative": (trainer(batch=-5), "trainer.batch must be ≥ 0, got -5"),
    "batch beyond": (trainer(batch=999, steps=999), "trainer.batch must be ≤"),
    "tokens zero": (trainer(tokens=0), "trainer.tokens must be > 0 after trainer.batch 5 batches of this epoch, got 0"),
    "tokens before batch": (
        trainer(batch=0),
        "trainer.tokens and trainer.loss_sum must be 0 before the epoch's first batch",
    ),
    "loss not finite": (trainer(loss_sum=float("nan")), "trainer.loss_sum must be finite"),
    "steps missing": (lambda p: p["state"]["trainer"].pop("steps"), "lacks steps"),
    "trainer a list": (lambda p: p["state"].update(trainer=[]), "state.trainer must be a mapping"),
    "carry numpy on torch": (trainer(carry="numpy"), "trainer.carry"),
    "sampler_rng foreign": (trainer(sampler_rng={"bit_generator": "MT19937"}), "trainer.sampler_rng"),
    "sampler state": (trainer(sampler={"order": [1]}), "trainer.sampler must be null"),
    "records of text": (trainer(records=["x"]), "trainer.records[0]"),
}

TENSOR_DAMAGE = {
    "rng tensor missing": (drop("rng.torch"), "the tensor rng.torch is missing"),
    "rng tensor short": (reshape("rng.torch"), "rng.torch"),
    "int64 weights": (
        retype("engine.model.rnn.weight_ih_l0", torch.int64),
        "engine.model.rnn.weight_ih_l0 is int64, expected float32",
    ),
    "weight missing": (drop("engine.model.dense.bias"), "the tensor engine.model.dense.bias is missing"),
    "weight reshaped": (reshape("engine.model.rnn.weight_hh_l0"), "engine.model.rnn.weight_hh_l0 has shape"),
    "moment reshaped": (
        reshape("engine.optimizer.dense.weight.exp_avg"),
        "engine.optimizer.dense.weight.exp_avg has shape",
    ),
    "moment missing": (drop("engine.optimizer.dense.weight.exp_avg_sq"), "moments do not cover every weight alike"),
    "moment stranger": (
        lambda t: t.update({"engine.optimizer.nowhere.m": torch.zeros(1)}),
        "not part of this model's training state",
    ),
    "carry missing": (drop("carry.1"), "the carried state must be the tensors carry.0, carry.1"),
    "carry reshaped": (reshape("carry.0"), "carry.0 has shape"),
    "carry float64": (retype("carry.1", torch.float64), "carry.1 is float64"),
}


@pytest.fixture
def copy_of(runs, tmp_path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        return Path(shutil.copytree(runs[name], tmp_path / name))

    return make


def test_a_genuine_checkpoint_resumes_to_the_uninterrupted_weights(runs, copy_of):
    run_dir = copy_of("stopped")
    assert resume(run_dir)[0] == 0
    assert (run_dir / "model.safetensors").read_bytes() == (runs["reference"] / "model.safetensors").read_bytes()


def test_an_end_of_run_checkpoint_without_its_weights_resumes_to_them(runs, copy_of):
    run_dir = copy_of("reference")
    (run_dir / "model.safetensors").unlink()
    assert resume(run_dir)[0] == 0
    assert (run_dir / "model.safetensors").read_bytes() == (runs["reference"] / "model.safetensors").read_bytes()


@pytest.mark.parametrize("damage", list(JSON_DAMAGE))
def test_an_edited_checkpoint_json_is_one_damaged_line(copy_of, damage):
    change, needle = JSON_DAMAGE[damage]
    run_dir = copy_of("stopped")
    edit_json(run_dir, change)
    code, line = resume(run_dir)
    assert code == 2
    assert (
        f"checkpoint in {run_dir} is damaged (" in line and "start again with --overwrite" in line and needle in line
    ), line


@pytest.mark.parametrize("damage", list(TENSOR_DAMAGE))
def test_edited_tensors_with_a_matching_sha256_are_one_damaged_line(copy_of, damage):
    change, needle = TENSOR_DAMAGE[damage]
    run_dir = copy_of("stopped")
    edit_tensors(run_dir, change)
    code, line = resume(run_dir)
    assert code == 2
    assert f"checkpoint in {run_dir} is damaged (" in line and "--overwrite" in line and needle in line, line


def test_a_tensor_path_outside_checkpoint_is_never_read(copy_of, monkeypatch):
    run_dir = copy_of("stopped")
    outside = run_dir / "elsewhere.safetensors"
    shutil.copy(next((run_dir / "checkpoint").glob("state-*.safetensors")), outside)
    edit_json(run_dir, lambda p: p.update(tensors=str(outside)))
    read = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: read.append(self) or original(self))
    assert resume(run_dir)[0] == 2
    assert outside not in read


@pytest.mark.parametrize(
    "order, needle",
    [
        ([0, 0, 1], "distinct whole numbers"),
        ("abc", "distinct whole numbers"),
        ([0, 1, 2], "covers 3 names, but the corpus has 8"),
    ],
)
def test_an_edited_names_order_is_one_line(tmp_path, order, needle):
    corpus = tmp_path / "names.txt"
    corpus.write_text("".join(f"{w}\n" for w in ("ab", "ba", "abc", "cab", "bca", "a", "bb", "cc")), encoding="utf-8")
    data = {
        "name": "names",
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "names", "shuffle": "once"},
        "model": {"cell": "rnn", "hidden_size": 4},
        "backend": "numpy",
        "trainer": {"name": "bptt", "epochs": 2, "lr": 0.01},
    }
    path = tmp_path / "names.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    zoo.run(path, out=tmp_path / "run")
    (tmp_path / "run" / "model.safetensors").unlink()  # its end-of-run checkpoint, moved back to where epoch 2 begins
    edit_json(
        tmp_path / "run", trainer(sampler={"order": order}, epoch=2, batch=0, tokens=0, loss_sum=0.0, seconds=0.0)
    )
    code, stderr = invoke(["run", "--resume", str(tmp_path / "run"), "-q"])
    assert (
        code == 2 and needle in stderr and len(stderr.strip().splitlines()) == 1 and "internal error" not in stderr
    ), stderr


# -- generated damage: any path of checkpoint.json replaced, deleted or pushed out of range --------------------------


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path into a JSON value; of a long list (a generator's state) only the first two items and the last."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i in sorted({0, 1, len(value) - 1} & set(range(len(value)))):
            out += paths(value[i], prefix + (i,))
    return out


def apply(pointer: dict[str, Any], op: str, path: tuple, value: Any) -> dict[str, Any]:
    """``pointer`` with the value at ``path`` replaced by ``value`` (``set``, ``range``) or deleted (``delete``)."""
    out = copy.deepcopy(pointer)
    node = out
    for part in path[:-1]:
        node = node[part]
    if op == "delete":
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return out


def at(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-10, 10),
        st.integers(),
        st.floats(),
        st.text(max_size=8),
        st.sampled_from(["torch", "numpy", "../x", "/etc/passwd", "state-000001.safetensors", "0" * 64]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=5,
)
out_of_range = st.one_of(
    st.integers(-(2**70), -1),
    st.integers(2**31, 2**70),
    st.sampled_from([float("inf"), float("-inf"), float("nan"), -0.5]),
)


@pytest.fixture(scope="module")
def pointer(runs) -> dict[str, Any]:
    return json.loads((runs["stopped"] / "checkpoint" / "checkpoint.json").read_text(encoding="utf-8"))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(data=st.data())
@example(data=("set", ("state", "trainer", "batch"), -5))
@example(data=("set", ("state", "trainer", "tokens"), 0))
@example(data=("set", ("state", "trainer", "epoch"), "1"))
@example(data=("set", ("tensors",), "../checkpoint/state-000001.safetensors"))
@example(data=("set", ("state", "run", "recipe", "model", "hidden_size"), 5))
@example(data=("delete", ("state", "run", "rng", "generators", "engine"), None))
@example(data=("set", ("state", "run", "metrics"), None))
@example(data=("range", ("state", "trainer", "seconds"), float("-inf")))
def test_generated_damage_to_checkpoint_json_never_escapes_as_an_internal_error(runs, pointer, data):
    if isinstance(data, tuple):  # an @example
        op, path, value = data
    else:
        op = data.draw(st.sampled_from(["set", "delete", "range"]), label="op")
        everywhere = paths(pointer)[1:]
        numeric = [p for p in everywhere if type(at(pointer, p)) in (int, float)]
        path = data.draw(st.sampled_from(numeric if op == "range" else everywhere), label="path")
        value = data.draw(json_values if op == "set" else out_of_range, label="value") if op != "delete" else None
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(shutil.copytree(runs["stopped"], Path(tmp) / "run"))
        (run_dir / "checkpoint" / "checkpoint.json").write_text(
            json.dumps(apply(pointer, op, path, value)), encoding="utf-8"
        )
        resume(
            run_dir
        )  # a finished run, or one Error: line (a damaged checkpoint, or a recipe edited into another valid one
        # that fails for its own reason: a missing corpus, a diverging learning rate)
