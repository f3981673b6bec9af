"""What a user types is read as meant, and what would hang or overflow is refused in one line (issue 13, items 4, 8,
12, 13, 14).

Inputs that hung before the fix (a FIFO or ``/dev/zero`` as the corpus, 100,000 layers) run in one child
process under a memory limit, each case behind an alarm, so that a regression fails instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from clitools import in_process

import zoo
from zoo import options
from zoo.errors import RecipeError, UsageError
from zoo.recipe import parse_overrides, prepare, read_recipe
from zoo.registry import Registry

TEXT = "".join(random.Random(3).choices("abcdefgh \n", k=2000))

BASE: dict[str, Any] = {
    "name": "inputs",
    "seed": 0,
    "dataset": {"name": "text"},  # path filled in by the fixture
    "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
    "model": {"cell": "gru", "impl": "nn", "hidden_size": 16, "layers": 1},
    "backend": "torch",
    "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 1, "max_steps": 4, "checkpoint_every": None},
    "predict": {"prefixes": ["ab"], "length": 3},
}


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    """A valid tiny recipe on a small local corpus."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps({**BASE, "dataset": {"name": "text", "path": str(corpus)}}), encoding="utf-8")
    return path


def invoke(argv: list[str]) -> tuple[int, list[str]]:
    """Run the CLI in this process; its exit code and its ``Error:`` lines."""
    proc = in_process(*argv)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, [line for line in proc.stderr.splitlines() if line.startswith("Error:")]


# -- item 4: nothing hangs ----------------------------------------------------------------------------------------

# Runs each case's CLI call in the child, under a 2 GiB address-space limit and a 30 s alarm per case.
DRIVER = """
import contextlib, io, json, resource, signal, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
from zoo.cli import main

def alarm(*_):
    raise TimeoutError("still running after 30 s")

signal.signal(signal.SIGALRM, alarm)
results = {}
for name, argv in json.loads(sys.argv[1]).items():
    err, start = io.StringIO(), time.perf_counter()
    signal.alarm(30)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    except BaseException as exc:
        code = repr(exc)
    finally:
        signal.alarm(0)
    results[name] = {"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - start}
print(json.dumps(results))
"""

HANGS = {  # case: (--set overrides, or a file to read as the corpus; what the one line must say)
    "fifo": ("fifo", ("dataset text", "is a FIFO", "not a regular file")),
    "dev-zero": ("/dev/zero", ("dataset text", "/dev/zero is a character device", "not a regular file")),
    "layers-100000": (["model.hidden_size=256", "model.layers=100000"], ("model.layers", "at most 1024")),
    "layers-100000-hidden-1": (["model.hidden_size=1", "model.layers=100000"], ("model.layers", "at most 1024")),
    "layers-beyond-memory": (
        ["model.hidden_size=4000", "model.layers=1000"],
        ("model: not enough memory", "about 9.6e+10 parameters", "GiB", "choose a smaller model.layers"),
    ),
}


@pytest.fixture(scope="module")
def hang_results(tmp_path_factory) -> dict[str, Any]:
    """Every case of :data:`HANGS`, run once in one child process."""
    root = tmp_path_factory.mktemp("hangs")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    os.mkfifo(root / "fifo")
    cases = {}
    for name, (what, _) in HANGS.items():
        path, sets = (
            (str(root / what) if what == "fifo" else what, []) if isinstance(what, str) else (str(corpus), what)
        )
        recipe = root / f"{name}.yaml"
        recipe.write_text(json.dumps({**BASE, "dataset": {"name": "text", "path": path}}), encoding="utf-8")
        cases[name] = ["run", str(recipe), "--out", str(root / "runs" / name), *[a for s in sets for a in ("--set", s)]]
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(cases)], capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("case", list(HANGS))
def test_what_would_hang_is_refused_at_once_in_one_line(hang_results, case):
    result, needles = hang_results[case], HANGS[case][1]
    errors = [line for line in result["stderr"].splitlines() if line.startswith("Error:")]
    assert result["code"] == 2 and len(errors) == 1, result
    assert "Traceback" not in result["stderr"], result["stderr"]
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert result["seconds"] < 20, result


def test_a_nul_byte_in_the_corpus_path_is_one_line():
    from zoo_plugins.datasets import TextFile, TextOptions

    with pytest.raises(UsageError, match="holds a NUL byte"):
        TextFile(TextOptions(path="corpus\x00.txt")).load(None)


@pytest.mark.parametrize(
    "sizes, key",
    [
        ({"hidden_size": 10**6}, "model.hidden_size"),
        ({"encoder": "embedding", "embedding_size": 10**10, "hidden_size": 16}, "model.embedding_size"),
    ],
)
def test_a_model_beyond_memory_is_refused_naming_the_key_that_dominates(recipe, sizes, key):
    code, errors = invoke(
        [
            "run",
            str(recipe),
            "--out",
            str(recipe.parent / "run"),
            *[a for k, v in sizes.items() for a in ("--set", f"model.{k}={v}")],
        ]
    )
    assert code == 2 and len(errors) == 1, errors
    assert "parameters" in errors[0] and "GiB" in errors[0] and errors[0].endswith(f"choose a smaller {key}"), errors[0]


# -- item 8: a loss that overflows stops the run with the promised line ------------------------------------------------


@pytest.mark.parametrize("backend, lr", [("torch", "1.0e+6"), ("numpy", "1.0e+30")])
def test_an_overflowing_loss_stops_the_run_in_one_line(recipe, backend, lr):
    out = recipe.parent / "run"
    code, errors = invoke(
        [
            "run",
            str(recipe),
            "--out",
            str(out),
            "--set",
            f"backend={backend}",
            "--set",
            f"trainer.lr={lr}",
            "--set",
            "trainer.clip_norm=null",
            "--set",
            "trainer.optimizer=sgd",
            "--set",
            "trainer.max_steps=null",
        ]
    )
    assert code == 1 and len(errors) == 1, errors
    assert "loss became" in errors[0] and "at epoch 1, batch" in errors[0] and "lower trainer.lr" in errors[0], errors[
        0
    ]
    assert not (out / "model.safetensors").exists()


def test_perplexity_of_a_huge_loss_is_infinite():
    from zoo_plugins.bptt import perplexity

    assert perplexity(1e6) == float("inf") and perplexity(0.0) == 1.0


# -- item 13: numbers as people write them ----------------------------------------------------------------------------

FLOATS = ["1e-3", "1E5", ".5", "-2.5e-4", "+1.5", "1.5e+3", "2.", "1_000.5", "3.0E-2"]


@pytest.mark.parametrize("spelling", FLOATS)
def test_every_float_spelling_is_a_float_in_a_recipe_and_with_set(tmp_path, spelling):
    path = tmp_path / "r.yaml"
    path.write_text(f"name: x\ntrainer: {{lr: {spelling}}}\n", encoding="utf-8")
    expected = float(spelling.replace("_", ""))
    from_file = read_recipe(path)["trainer"]["lr"]
    from_set = parse_overrides([f"trainer.lr={spelling}"])["trainer.lr"]
    assert type(from_file) is float and from_file == expected
    assert type(from_set) is float and from_set == expected


def test_a_learning_rate_in_e_notation_resolves(registry):
    data = {"name": "x", "dataset": {"name": "dinos"}, "model": {"cell": "gru"}}
    assert prepare(data, registry, parse_overrides(["trainer.lr=1e-3"])).trainer.options.lr == 0.001


@pytest.mark.parametrize("key", ["trainer.lr", "trainer.epochs"])
def test_a_sexagesimal_value_is_refused_not_read_as_62(registry, key):
    assert parse_overrides([f"{key}=1:2"]) == {key: "1:2"}
    data = {"name": "x", "dataset": {"name": "dinos"}, "model": {"cell": "gru"}}
    with pytest.raises(RecipeError) as info:
        prepare(data, registry, parse_overrides([f"{key}=1:2"]))
    assert any(p.startswith(f"{key}: expected") and "'1:2'" in p for p in info.value.problems), info.value.problems


def test_words_that_python_reads_as_floats_stay_strings():
    assert parse_overrides(["a=inf", "b=nan", "c=.inf"]) == {"a": "inf", "b": "nan", "c": float("inf")}


# -- item 12: duplicate keys, predict.stop -----------------------------------------------------------------------------


def test_a_duplicate_key_is_refused_naming_it_and_both_lines(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\ntrainer:\n  lr: 0.1\n  epochs: 2\n  lr: 0.2\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"key 'lr' appears twice in one mapping, at lines 3 and 5"):
        read_recipe(path)
    with pytest.raises(UsageError, match=r"--set trainer: key 'lr' appears twice"):
        parse_overrides(["trainer={lr: 1, lr: 2}"])


def test_a_merge_key_may_still_override(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("name: x\nbase: &b {lr: 0.1}\ntrainer:\n  <<: *b\n  lr: 0.2\n", encoding="utf-8")
    assert read_recipe(path)["trainer"] == {"lr": 0.2}


def test_a_stop_that_is_not_one_token_names_predict_stop(recipe):
    code, errors = invoke(["run", str(recipe), "--out", str(recipe.parent / "run"), "--set", "predict.stop=ab"])
    assert code == 2 and len(errors) == 1, errors
    assert errors[0].startswith("Error: predict.stop: 'ab' is not a token"), errors[0]


# -- item 14: did-you-mean does not depend on what is installed --------------------------------------------------------


def test_a_transposition_beats_a_substitution():
    assert options.closest("gur", ["guz", "gru"]) == "gru"
    assert "did you mean 'gru'?" in options.unknown("cell", "gur", ["gru", "lstm", "mgu", "rnn"])


def test_a_tie_goes_to_a_builtin():
    assert options.closest("grx", ["gra", "gru"], preferred={"gru"}) == "gru"
    assert "did you mean 'gru'?" in options.unknown("cell", "grx", ["gra", "gru"], preferred={"gru"})


def test_an_installed_mgu_does_not_change_the_suggestion_for_gur():
    import zoo_plugins.gru

    mgu = SimpleNamespace(register_cells=zoo.hookimpl(lambda register: register("mgu", object)))
    registry = Registry.from_plugins(zoo_plugins.gru, mgu)
    with pytest.raises(RecipeError) as info:
        registry.get("cell", "gur", where="model.cell")
    assert "did you mean 'gru'?" in info.value.problems[0], info.value.problems
