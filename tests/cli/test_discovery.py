"""The discovery commands: zoo models PATTERN and zoo.list_models, zoo predict from stdin, zoo plugins --verbose and its
recipe-key reference, and the --json schemas of models, predict, eval, verify and recipes (one printer for them all)."""

from __future__ import annotations

import dataclasses
import html
import io
import json
import subprocess
import sys
from pathlib import Path
from types import NoneType

import pytest
import yaml
from clitools import assert_one_line_error, in_process

import zoo
from zoo.cli.output import echo_json
from zoo.hub.catalog import read_catalog
from zoo.options import ModelOptions
from zoo.recipe import SECTIONS, TOP_LEVEL, PredictOptions, TopLevel, prepare, read_recipe
from zoo.reference import key_line, recipe_keys, recipe_sections, render_markdown
from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parents[2]
CATALOG = read_catalog(ROOT / "registry.yaml")
NUMBER = (int, float)
MAYBE_NUMBER = (int, float, NoneType)

# The documented --json schemas (docs: "JSON output"): every key, and the types its value may take.
MODELS_SCHEMA = {
    "name": str,
    "description": (str, NoneType),
    "dataset": (str, NoneType),
    "cell": (str, NoneType),
    "impl": str,
    "layers": int,
    "hidden_size": int,
    "bidirectional": bool,
    "params": (int, NoneType),
    "train_perplexity": MAYBE_NUMBER,
    "epoch": (int, NoneType),
    "valid_loss": MAYBE_NUMBER,
    "valid_perplexity": MAYBE_NUMBER,
    "test_loss": MAYBE_NUMBER,
    "test_perplexity": MAYBE_NUMBER,
    "weights": (str, NoneType),
    "source": (str, NoneType),
    "size": (int, NoneType),
    "dtype": (str, NoneType),
    "recipe": (str, NoneType),
}
PREDICT_SCHEMA = {"prefix": str, "text": str}
PREDICT_PPL_SCHEMA = {"prefix": str, "text": str, "perplexity": MAYBE_NUMBER}
LABEL_SCHEMA = {"prefix": str, "labels": str}
EVAL_SCHEMA = {"name": str, "tokens": int, "loss": MAYBE_NUMBER, "bits": MAYBE_NUMBER, "perplexity": MAYBE_NUMBER}
VERIFY_SCHEMA = {"name": str, "reproduced": bool, "epoch": int, "rtol": float, "checks": list, "valid": list}
CHECK_SCHEMA = {"epoch": int, "measured": MAYBE_NUMBER, "expected": NUMBER}
RECIPES_SCHEMA = {
    "name": str,
    "recipe": str,
    "cell": (str, NoneType),
    "impl": str,
    "layers": int,
    "hidden_size": int,
    "bidirectional": bool,
    "description": str,
}


def assert_schema(obj: dict, schema: dict) -> None:
    """``obj`` has exactly the schema's keys, each of one of its types (a bool is not a number here)."""
    assert isinstance(obj, dict) and sorted(obj) == sorted(schema), (sorted(obj), sorted(schema))
    for key, types in schema.items():
        allowed = types if isinstance(types, tuple) else (types,)
        assert type(obj[key]) in allowed, f"{key}: {obj[key]!r} is not one of {allowed}"


def cli(*argv: str) -> tuple[int, str, str]:
    proc = in_process(*argv)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def jay():
    return zoo.load("jay_gru")


def piped(monkeypatch, data: bytes) -> None:
    """Make this process's stdin a pipe holding ``data``."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))


# -- zoo models and zoo.list_models ------------------------------------------------------------------------------


def test_list_models_matches_a_wildcard_and_sorts_the_names():
    assert zoo.list_models() == sorted(CATALOG)
    assert zoo.list_models("jay_gru*") == sorted(n for n in CATALOG if n.startswith("jay_gru"))
    assert zoo.list_models("*lstm") == sorted(n for n in CATALOG if n.endswith("lstm"))
    assert zoo.list_models("no_such_*") == []


def test_models_pattern_lists_the_matching_rows_in_catalog_order():
    code, out, err = cli("models", "hello*")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[1:]] == [n for n in CATALOG if n.startswith("hello")]


def test_a_pattern_that_matches_nothing_prints_nothing_and_says_so_on_stderr():
    code, out, err = cli("models", "no_such_*")
    assert (code, out) == (
        0,
        "",
    ) and err.strip() == f"no catalogued model matches 'no_such_*'; zoo models lists all {len(CATALOG)}"
    code, out, err = cli("models", "jay_gruu")
    assert (code, out) == (0, "") and "did you mean 'jay_gru'?" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli("models", "no_such_*", "--json")
    assert (code, json.loads(out)) == (0, [])


def catalog_listing(command: str, schema: dict) -> list[dict]:
    """``zoo COMMAND --json``: one object per catalog entry, in catalog order, each holding exactly ``schema``'s
    keys."""
    code, out, err = cli(command, "--json")
    assert code == 0, err
    objects = json.loads(out)
    assert [o["name"] for o in objects] == list(CATALOG)
    for o in objects:
        assert_schema(o, schema)
    return objects


def test_models_json_holds_the_documented_keys_and_the_catalog_figures():
    objects = catalog_listing("models", MODELS_SCHEMA)
    for o in objects:
        e, m = CATALOG[o["name"]], CATALOG[o["name"]].get("metrics") or {}
        core = prepare(ROOT / e["recipe"], get_registry()).model.core
        assert (o["cell"], o["impl"], o["layers"], o["hidden_size"], o["bidirectional"]) == (
            core.cell,
            core.impl,
            core.layers,
            core.hidden_size,
            core.bidirectional,
        )
        assert (o["description"], o["dataset"], o["params"], o["recipe"]) == (
            e.get("description"),
            e.get("dataset"),
            e.get("params"),
            e["recipe"],
        )
        assert (o["train_perplexity"], o["epoch"]) == (m.get("perplexity"), m.get("epoch"))
        for key in ("valid_loss", "valid_perplexity", "test_loss", "test_perplexity"):
            assert o[key] == m.get(key)
        shipped = isinstance(e.get("weights"), dict) and "file" in e["weights"]
        assert (o["source"] == "shipped") == shipped and (o["weights"] == "shipped") == shipped
    assert any(o["valid_loss"] is not None for o in objects), "the catalog has a held-out figure to show"


def test_echo_json_indents_keeps_the_text_and_prints_non_finite_numbers_as_null(capsys):
    echo_json({"text": "分开", "figures": [1.5, float("nan"), (float("inf"), -float("inf"))], "count": 3})
    out = capsys.readouterr().out
    assert json.loads(out) == {"text": "分开", "figures": [1.5, None, [None, None]], "count": 3}
    assert out.startswith('{\n  "text": "分开",\n  "figures": [\n    1.5,\n    null,') and "\\u" not in out


def test_models_json_and_markdown_are_exclusive():
    assert_one_line_error(in_process("models", "--json", "--markdown"), 2, "choose one")
    assert_one_line_error(in_process("models", "jay*", "--markdown"), 2, "drop the PATTERN")


# -- zoo predict: stdin and --json -------------------------------------------------------------------------------


def test_predict_reads_one_prefix_per_line_of_stdin_skipping_empty_ones(monkeypatch, jay):
    piped(monkeypatch, "分开\n\n不分开\r\n".encode())
    code, out, err = cli("predict", "jay_gru", "-n", "8")
    assert code == 0, err
    assert out.splitlines() == jay.generate(["分开", "不分开"], 8)


def test_predict_from_a_real_pipe(jay):
    proc = subprocess.run(
        [sys.executable, "-m", "zoo", "predict", "jay_gru", "-n", "5"],
        input="分开\n",
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [jay.generate("分开", 5)]


def test_predict_json_lists_prefix_text_and_perplexity(jay):
    code, out, err = cli(
        "predict", "jay_gru", "--prefix", "分开", "--prefix", "不分开", "-n", "6", "--json", "--perplexity"
    )
    assert code == 0, err
    rows = json.loads(out)
    for row in rows:
        assert_schema(row, PREDICT_PPL_SCHEMA)
    assert [r["text"] for r in rows] == jay.generate(["分开", "不分开"], 6)
    assert [r["perplexity"] for r in rows] == pytest.approx(
        [jay.perplexity("分开"), jay.perplexity("不分开")], rel=1e-6
    )
    code, out, err = cli("predict", "jay_gru", "--prefix", "分开", "-n", "3", "--json")
    assert_schema(json.loads(out)[0], PREDICT_SCHEMA)


def test_predict_json_of_a_labelling_model_gives_labels(monkeypatch):
    piped(monkeypatch, b"hello\n")
    code, out, err = cli("predict", "hello_ohlol_rnn", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert_schema(row, LABEL_SCHEMA)
    assert row == {"prefix": "hello", "labels": zoo.load("hello_ohlol_rnn").label("hello")}


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "stdin, needles",
    [
        (None, ("needs text to continue", "--prefix", "pipe text")),
        (b"", ("stdin held no prefix",)),
        (b"\n\n", ("stdin held no prefix",)),
        (b"\xff\xfe\n", ("stdin is not UTF-8 text",)),
    ],
)
def test_predict_without_prefixes_is_one_line_saying_what_to_give(monkeypatch, stdin, needles):
    if stdin is None:
        monkeypatch.setattr(sys, "stdin", _Terminal())
    else:
        piped(monkeypatch, stdin)
    assert_one_line_error(in_process("predict", "jay_gru"), 2, *needles)


def test_predict_names_an_unknown_model_before_reading_stdin(monkeypatch):
    piped(monkeypatch, b"")  # what stdin is in CI or a cron job: no terminal, nothing in it
    assert_one_line_error(in_process("predict", "jay_gruu"), 2, "unknown model 'jay_gruu'", "did you mean 'jay_gru'?")


# -- zoo eval and zoo verify: --json -----------------------------------------------------------------------------


def test_eval_json_schema(tmp_path, jay):
    text = tmp_path / "sample.txt"
    text.write_text(CATALOG["jay_gru"]["samples"][0], encoding="utf-8")  # generated by the model: every token is known
    code, out, err = cli("eval", "jay_gru", "--text", str(text), "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert out.startswith("[\n  {\n    ")  # indented, as every --json
    assert_schema(row, EVAL_SCHEMA)
    score = jay.evaluate(path=text)
    assert (row["name"], row["tokens"]) == (str(text), score.tokens)
    assert [row["loss"], row["bits"], row["perplexity"]] == pytest.approx(
        [score.loss, score.bits, score.perplexity], rel=1e-6
    )


def test_verify_json_lists_every_check_with_measured_and_expected(tmp_path):
    code, out, err = cli("verify", "hello_ohlol_rnn", "-q", "--json")
    assert code == 0, err
    (v,) = json.loads(out)
    assert_schema(v, VERIFY_SCHEMA)
    for check in v["checks"]:
        assert_schema(check, CHECK_SCHEMA)
    recorded = CATALOG["hello_ohlol_rnn"]["metrics"]["perplexity_at"]
    assert [(c["epoch"], c["expected"]) for c in v["checks"]] == sorted(recorded.items())
    assert all(abs(c["measured"] - c["expected"]) <= 0.01 * c["expected"] for c in v["checks"])
    assert (v["name"], v["reproduced"], v["epoch"], v["valid"]) == (
        "hello_ohlol_rnn",
        True,
        CATALOG["hello_ohlol_rnn"]["metrics"]["epoch"],
        [],
    )


def test_verify_json_of_a_model_that_does_not_reproduce_still_prints_then_fails(tmp_path, monkeypatch):
    entry = {**CATALOG["hello_ohlol_rnn"], "recipe": str(ROOT / CATALOG["hello_ohlol_rnn"]["recipe"]), "weights": None}
    entry["metrics"] = {**entry["metrics"], "perplexity_at": {15: 1.5}}
    catalog = tmp_path / "registry.yaml"
    catalog.write_text(yaml.safe_dump({"models": {"hello_ohlol_rnn": entry}}), encoding="utf-8")
    monkeypatch.setenv("ZOO_REGISTRY", str(catalog))
    proc = in_process("verify", "hello_ohlol_rnn", "-q", "--json")
    assert_one_line_error(proc, 1, "does not reproduce")
    (v,) = json.loads(proc.stdout)
    assert v["reproduced"] is False and [(c["epoch"], c["expected"]) for c in v["checks"]] == [(15, 1.5)]


# -- zoo recipes --json -------------------------------------------------------------------------------------------


def test_recipes_json_lists_each_catalogued_recipe_with_its_resolved_shape():
    objects = catalog_listing("recipes", RECIPES_SCHEMA)
    for o in objects:
        e = CATALOG[o["name"]]
        assert Path(o["recipe"]) == (ROOT / e["recipe"]).resolve() and o["description"] == e["description"]
        core = prepare(o["recipe"], get_registry()).model.core
        assert (o["cell"], o["impl"], o["layers"], o["hidden_size"], o["bidirectional"]) == (
            core.cell,
            core.impl,
            core.layers,
            core.hidden_size,
            core.bidirectional,
        )
    assert any(o["bidirectional"] for o in objects) and any(o["impl"] == "scratch" for o in objects)


def test_recipes_json_does_not_go_with_copy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(in_process("recipes", "--copy", "jay_gru", "--json"), 2, "--json", "--copy", "choose one")
    assert list(tmp_path.iterdir()) == []


# -- zoo plugins --verbose and the recipe-key reference ----------------------------------------------------------


def _fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_plugins_verbose_shows_every_recipe_key_with_its_section():
    code, out, err = cli("plugins", "--verbose")
    assert code == 0, err
    expected = (
        [*_fields(TopLevel)]
        + [f"model.{k}" for k in _fields(ModelOptions)]
        + [f"predict.{k}" for k in _fields(PredictOptions)]
    )
    expected += [f"{s}.name" for s in SECTIONS if s not in ("model", "predict")]
    section = {
        "dataset": "dataset",
        "sampler": "sampler",
        "cell": "model",
        "backend": "backend",
        "trainer": "trainer",
        "schedule": "schedule",
        "predictor": "predict",
    }
    for c in get_registry().components():
        if not c.alias_of:
            where = f"loggers.{c.name}" if c.kind == "logger" else section[c.kind]  # each logger's keys under its name
            expected += [f"{where}.{k}" for k in _fields(c.obj.Options)]
    lines = [line.strip() for line in out.splitlines()]
    for key in expected:
        assert any(line.startswith(f"{key}: ") for line in lines), f"{key} is not listed"


def test_the_top_level_keys_are_the_ones_a_recipe_takes():
    assert [*_fields(TopLevel), *SECTIONS, "loggers"] == list(TOP_LEVEL)


def test_a_pattern_with_verbose_shows_the_keys_of_what_it_matches():
    code, out, err = cli("plugins", "gr*", "-v")
    assert code == 0, err
    keys = [line.strip().split(":")[0] for line in out.splitlines() if line.startswith("      ")]
    assert keys == [f"model.{k}" for k in _fields(ModelOptions)], "gru's section keys (it has none of its own)"
    assert "  gru " in out and "lstm" not in out
    code, out, err = cli("plugins", "gr*")
    assert code == 0 and "model.hidden_size" not in out and out.count("\n") == 2
    code, out, err = cli("plugins", "zz*")
    assert (code, out) == (0, "") and "no registered component matches 'zz*'" in err


def test_plugins_json_verbose_carries_the_sections_keys():
    rows = json.loads(cli("plugins", "--json", "--verbose", "bptt")[1])
    (trainer,) = [r for r in rows if r.get("section") == "trainer"]
    assert [k["path"] for k in trainer["keys"]] == ["trainer.name"] and trainer["keys"][0]["default"] == "bptt"
    (bptt,) = [r for r in rows if r.get("name") == "bptt"]
    assert [o["name"] for o in bptt["options"]] == _fields(get_registry().get("trainer", "bptt").Options)


def _flat(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in data.items():
        out |= _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else set()
        out.add(f"{prefix}{k}")
    return out


@pytest.mark.parametrize("recipe", ["jay_gru_heldout", "hello_ohlol_rnn", "dinos_rnn"])
def test_every_key_of_a_resolved_recipe_is_in_the_reference(recipe):
    resolved = prepare(read_recipe(ROOT / "recipes" / f"{recipe}.yaml"), get_registry()).to_dict()
    short = {s for s in ("backend", "schedule") if isinstance(resolved.get(s), str)}  # backend: auto is backend.name
    paths = {p for p in _flat(resolved) if p not in SECTIONS} | {f"{s}.name" for s in short}
    assert paths <= set(recipe_keys()), paths - set(recipe_keys())


def test_the_docs_page_and_plugins_verbose_show_the_same_keys():
    page, out = render_markdown(), cli("plugins", "--verbose")[1]
    for s in recipe_sections():
        for key in (*s.keys, *(k for p in s.parts for k in p.keys)):
            assert key_line(key) in out
            shown = html.unescape(
                page.replace("\\*", "*")
            )  # the text Markdown renders: <unk> is escaped as &lt;unk&gt;
            assert f"- `{key.path}`: `{key.type}` ({key.default_text}): {key.help}" in shown
    assert page.startswith("# Recipe keys\n") and "## `model`" in page and "### trainer: `bptt`" in page


@pytest.mark.parametrize("command", ["models", "info", "predict", "plugins", "verify", "eval", "recipes"])
def test_every_discovery_command_has_help_with_an_example(command):
    code, out, _ = cli(command, "--help")
    assert code == 0 and "Examples:" in out and f"zoo {command} " in out, out
