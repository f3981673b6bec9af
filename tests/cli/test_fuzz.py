"""Property-based: hundreds of malformed recipes and argument lists, each ending in a good run or one clear line.

Every example runs the CLI in this process, as ``zoo`` would, and checks the outcome: exit 0 with a
run directory that loads, or a nonzero exit with exactly one ``Error:`` line (the last), no traceback,
no "internal error", and no weights file a later run could mistake for a finished run.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from clitools import in_process
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import zoo

TEXT = "".join(random.Random(5).choices("abcde fgh\n", k=400))

BASE: dict[str, Any] = {
    "name": "fuzz",
    "seed": 0,
    "dataset": {"name": "text"},  # path filled in by the fixture
    "sampler": {"name": "sequential", "batch_size": 2, "num_steps": 5},
    "model": {"cell": "gru", "impl": "nn", "hidden_size": 4, "layers": 1},
    "backend": "torch",
    "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 1, "max_steps": 3},
    "predict": {"prefixes": ["ab"], "length": 3},
}

PATHS = [
    "name",
    "seed",
    "dataset",
    "dataset.name",
    "dataset.path",
    "dataset.level",
    "dataset.max_tokens",
    "dataset.newlines",
    "sampler",
    "sampler.name",
    "sampler.batch_size",
    "sampler.num_steps",
    "sampler.random_offset",
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
    "model.init",
    "model.init_std",
    "model.decoder",
    "model.nonlinearity",
    "backend",
    "backend.name",
    "trainer",
    "trainer.name",
    "trainer.optimizer",
    "trainer.lr",
    "trainer.epochs",
    "trainer.clip_norm",
    "trainer.clip_value",
    "trainer.loss_reduction",
    "trainer.checkpoint_every",
    "trainer.checkpoint_unit",
    "predict",
    "predict.prefixes",
    "predict.length",
    "predict.every",
    "predict.strategy",
    "predict.temperature",
    "predict.top_k",
    "predict.stop",
]
WORDS = [
    "gru",
    "lstm",
    "rnn",
    "gur",
    "nn",
    "scratch",
    "numpy",
    "torch",
    "cuda",
    "auto",
    "embedding",
    "onehot",
    "sample",
    "greedy",
    "random",
    "sequential",
    "names",
    "pairs",
    "float64",
    "float32",
    "normal",
    "uniform",
    "none",
    "dense",
    "relu",
    "tanh",
    "sgd",
    "adam",
    "bptt",
    "text",
    "batches",
    "epochs",
    "char",
    "word",
    "ab",
    "zz",
    "分开",
    "\n",
    "",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from(WORDS),
    st.text(max_size=6),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.sampled_from(["name", "x", "cell", "lr"]), scalars, max_size=2),
)
edits = st.lists(
    st.one_of(
        st.tuples(st.just("set"), st.sampled_from(PATHS), values),
        st.tuples(st.just("delete"), st.sampled_from(PATHS), st.none()),
        st.tuples(st.just("set"), st.sampled_from(PATHS).map(lambda p: p.rsplit(".", 1)[0] + ".typo_key"), values),
    ),
    min_size=1,
    max_size=3,
)


def edited(recipe: dict[str, Any], changes: list[tuple[str, str, Any]]) -> Any:
    """Apply set/delete edits along dotted paths, turning a string section into a mapping where needed."""
    out = copy.deepcopy(recipe)
    for op, path, value in changes:
        *parents, key = path.split(".")
        node = out
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {"name": node[part]} if isinstance(node.get(part), str) else {}
            node = node[part]
        if op == "set":
            node[key] = value
        else:
            node.pop(key, None)
    return out


def invoke(argv: list[str]) -> tuple[int, str]:
    """Run the CLI in this process; return its exit code and stderr."""
    proc = in_process(*argv)
    return proc.returncode, proc.stderr


def check_outcome(code: int, stderr: str, run_dir: Path | None) -> None:
    event(f"exit code {code}")  # shown by --hypothesis-show-statistics
    assert "Traceback" not in stderr, stderr
    if code == 0:
        if run_dir is not None and (run_dir / "recipe.yaml").exists():
            assert zoo.load(run_dir).vocab is not None
        return
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]), stderr
    assert "internal error" not in errors[0], errors[0]
    assert code in (1, 2, 130), (code, stderr)
    if run_dir is not None:
        assert not (run_dir / "model.safetensors").exists(), f"a failed run left weights behind: {errors[0]}"
    assert not list(run_dir.rglob(".*.tmp")) if run_dir is not None and run_dir.exists() else True


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A corpus, a valid tiny recipe, one finished run, and a counter for fresh output folders."""
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    base = copy.deepcopy(BASE)
    base["dataset"]["path"] = str(corpus)
    recipe = root / "tiny.yaml"
    recipe.write_text(json.dumps(base), encoding="utf-8")
    finished = zoo.run(recipe, out=root / "finished").run_dir
    return {"root": root, "base": base, "recipe": recipe, "finished": finished, "n": itertools.count()}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(changes=edits)
def test_malformed_recipes_run_or_fail_in_one_line(workspace, changes):
    n = next(workspace["n"])
    path = workspace["root"] / f"recipe{n}.yaml"
    path.write_text(json.dumps(edited(workspace["base"], changes)), encoding="utf-8")
    out = workspace["root"] / f"out{n}"
    check_outcome(*invoke(["run", str(path), "--out", str(out), "-q"]), out)


TOKENS = [
    "run",
    "validate",
    "predict",
    "plugins",
    "--resume",
    "--out",
    "--set",
    "--seed",
    "--overwrite",
    "-q",
    "--data-dir",
    "--prefix",
    "-n",
    "--perplexity",
    "--help",
    "--version",
    "-h",
    "--bogus",
    "RECIPE",
    "FINISHED",
    "ABSENT",
    "DIR",
    "model.layers=2",
    "trainer.lr=x",
    "trainer.max_steps=1",
    "model.cell=lstm",
    "=",
    "",
    "-1",
    "0",
    "3",
    "ab",
    "分开",
    "qq",
]


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(argv=st.lists(st.sampled_from(TOKENS), max_size=7))
def test_random_argument_lists_run_or_fail_in_one_line(workspace, argv, monkeypatch_module):
    n = next(workspace["n"])
    scratch = workspace["root"] / f"cli{n}"
    scratch.mkdir()
    monkeypatch_module.chdir(scratch)  # default run directories (runs/<name>) land here
    places = {
        "RECIPE": str(workspace["recipe"]),
        "FINISHED": str(workspace["finished"]),
        "ABSENT": str(scratch / "absent"),
        "DIR": str(scratch),
    }
    code, stderr = invoke([places.get(a, a) for a in argv])
    check_outcome(code, stderr, None)
    for run_dir in scratch.rglob("recipe.yaml"):
        if not (run_dir.parent / "model.safetensors").exists():
            assert not (run_dir.parent / "checkpoint" / "checkpoint.json").exists() or code != 0, (
                "an unfinished run reported success"
            )


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()
