"""zoo info: the model card of a catalog entry, a run directory or a weights file; its JSON schema and its Hugging Face
README."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path
from types import NoneType

import pytest
import yaml
from clitools import assert_one_line_error, in_process

import zoo
from zoo.errors import UsageError
from zoo.hub.catalog import entries, read_catalog
from zoo.hub.data import sha256_of
from zoo.hub.ship import ship
from zoo.hub.weights import read_weights
from zoo.recipe import prepare
from zoo.registry import get_registry

ROOT = Path(__file__).resolve().parents[2]
CATALOG = read_catalog(ROOT / "registry.yaml")
HELLO = "hello_ohlol_rnn"
MAYBE_NUMBER = (int, float, NoneType)

# The documented ``zoo info --json`` schema (docs: "JSON output").
INFO_SCHEMA = {
    "name": str,
    "source": str,
    "description": str,
    "task": (str, NoneType),
    "recipe": dict,
    "params": (int, NoneType),
    "metrics": dict,
    "weights": dict,
    "versions": dict,
    "samples": list,
    "samples_epoch": (int, NoneType),
    "reproduce": (str, NoneType),
}
METRICS_SCHEMA = {
    "epoch": (int, NoneType),
    "batch": (int, NoneType),
    "perplexity": MAYBE_NUMBER,
    "valid_loss": MAYBE_NUMBER,
    "valid_perplexity": MAYBE_NUMBER,
    "test_loss": MAYBE_NUMBER,
    "test_perplexity": MAYBE_NUMBER,
    "epochs_trained": (int, NoneType),
    "seconds": MAYBE_NUMBER,
    "perplexity_at": dict,
    "valid_loss_at": dict,
}
WEIGHTS_SCHEMA = {
    "location": str,
    "path": (str, NoneType),
    "url": (str, NoneType),
    "sha256": (str, NoneType),
    "size": (int, NoneType),
    "dtype": (str, NoneType),
    "available": bool,
}


def assert_schema(obj: dict, schema: dict) -> None:
    """``obj`` has exactly the schema's keys, each of one of its types (a bool is not a number here)."""
    assert isinstance(obj, dict) and sorted(obj) == sorted(schema), (sorted(obj), sorted(schema))
    for key, types in schema.items():
        allowed = types if isinstance(types, tuple) else (types,)
        assert type(obj[key]) in allowed, f"{key}: {obj[key]!r} is not one of {allowed}"


def card_json(ref: str) -> dict:
    proc = in_process("info", ref, "--json")
    assert proc.returncode == 0, proc.stderr
    card = json.loads(proc.stdout)
    assert_schema(card, INFO_SCHEMA)
    assert_schema(card["metrics"], METRICS_SCHEMA)
    assert_schema(card["weights"], WEIGHTS_SCHEMA)
    return card


def front_matter(markdown: str) -> dict:
    assert markdown.startswith("---\n")
    return yaml.safe_load(markdown.split("---\n")[1])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A finished run of the tiny hello -> ohlol recipe, under runs/ of a folder of its own."""
    home = tmp_path_factory.mktemp("home")
    return zoo.run(ROOT / "recipes" / f"{HELLO}.yaml", out=home / "runs" / HELLO).run_dir


def test_the_card_of_a_shipped_catalog_model():
    card = card_json("jay_gru")
    e, file = CATALOG["jay_gru"], Path(entries()["jay_gru"]["weights"]["file"])
    model, wf = zoo.load("jay_gru"), read_weights(file)
    assert (card["name"], card["source"], card["description"], card["task"]) == (
        "jay_gru",
        "catalog",
        e["description"],
        "next_token",
    )
    assert card["recipe"] == prepare(ROOT / e["recipe"], get_registry()).to_dict()
    assert card["params"] == sum(p.numel() for p in model.module.parameters())
    assert card["weights"] == {
        "location": "shipped",
        "path": str(file),
        "url": None,
        "sha256": sha256_of(file),
        "size": file.stat().st_size,
        "dtype": e["weights"]["dtype"],
        "available": True,
    }
    assert card["versions"] == {"zoo": wf.metadata["zoo.zoo_version"], "torch": wf.metadata["zoo.torch_version"]}
    m = card["metrics"]
    assert (m["perplexity"], m["epoch"], m["seconds"]) == (
        e["metrics"]["perplexity"],
        e["metrics"]["epoch"],
        e["metrics"]["seconds"],
    )
    assert m["perplexity_at"] == {str(k): v for k, v in e["metrics"]["perplexity_at"].items()}
    assert m["valid_loss"] is None and m["epochs_trained"] == max(e["metrics"]["perplexity_at"])
    assert (card["samples"], card["reproduce"]) == (e["samples"], "zoo run jay_gru")


def test_the_card_of_a_catalog_model_with_held_out_figures_and_no_weights_here():
    held = card_json("jay_gru_heldout")["metrics"]
    m = CATALOG["jay_gru_heldout"]["metrics"]
    assert (held["valid_loss"], held["valid_perplexity"], held["epoch"]) == (
        m["valid_loss"],
        m["valid_perplexity"],
        m["epoch"],
    )
    assert held["valid_loss_at"] == {str(k): v for k, v in m["valid_loss_at"].items()}
    bare = card_json("jay_gru_scratch")
    assert bare["weights"] == {
        "location": "none",
        "path": None,
        "url": None,
        "sha256": None,
        "size": None,
        "dtype": None,
        "available": False,
    }
    assert (bare["params"], bare["versions"]) == (CATALOG["jay_gru_scratch"]["params"], {})
    text = in_process("info", "jay_gru_scratch").stdout
    assert "none here: train them" in text and "zoo run jay_gru_scratch" in text


def test_the_card_of_a_downloadable_model_before_and_after_pull(tmp_path, monkeypatch, server):
    shipped = Path(entries()[HELLO]["weights"]["file"])
    server.files["/hello.safetensors"] = shipped.read_bytes()
    url = f"{server.url}/hello.safetensors"
    weights = {"url": url, "sha256": sha256_of(shipped), "size": shipped.stat().st_size, "dtype": "float32"}
    catalog = tmp_path / "registry.yaml"
    catalog.write_text(
        yaml.safe_dump(
            {"models": {HELLO: {**CATALOG[HELLO], "recipe": str(ROOT / CATALOG[HELLO]["recipe"]), "weights": weights}}}
        )
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(catalog))
    before = card_json(HELLO)["weights"]
    assert before == {
        "location": "url",
        "path": None,
        "url": url,
        "sha256": weights["sha256"],
        "size": weights["size"],
        "dtype": "float32",
        "available": False,
    }
    assert server.hits == [], "zoo info downloads nothing"
    pulled = in_process("pull", HELLO)
    assert pulled.returncode == 0, pulled.stderr
    after = card_json(HELLO)["weights"]
    assert (
        after["location"] == "cache"
        and after["available"]
        and after["sha256"] == weights["sha256"]
        and Path(after["path"]).is_file()
    )


def test_the_card_of_a_run_directory_and_its_command_reproduces_the_weights(run_dir, monkeypatch):
    card = card_json(str(run_dir))
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    weights = run_dir / "model.safetensors"
    assert (card["name"], card["source"], card["task"]) == (HELLO, "run", "labelling")
    assert card["recipe"] == prepare(run_dir / "recipe.yaml", get_registry()).to_dict()
    assert card["weights"]["sha256"] == sha256_of(weights) and card["weights"]["path"] == str(weights)
    assert card["metrics"]["perplexity_at"] == {str(r["epoch"]): r["perplexity"] for r in records}
    assert (card["metrics"]["epoch"], card["metrics"]["epochs_trained"]) == (records[-1]["epoch"], records[-1]["epoch"])
    assert (
        card["samples"] == [f"hello -> {zoo.load(run_dir).label('hello')}"]
        and card["samples_epoch"] == records[-1]["epoch"]
    )
    monkeypatch.chdir(run_dir.parent.parent)  # runs/<name> is now the run itself: the command must not aim at it
    relative = Path("runs") / HELLO
    reproduce = card_json(str(relative))["reproduce"]
    assert reproduce == f"zoo run {relative / 'recipe.yaml'} --out {relative}_again"
    argv = shlex.split(reproduce)
    assert argv[:2] == ["zoo", "run"] and in_process(*argv[1:], "-q").returncode == 0
    assert Path(f"{relative}_again/model.safetensors").read_bytes() == weights.read_bytes()


def test_the_card_of_a_weights_file(run_dir):
    card = card_json(str(run_dir / "model.safetensors"))
    assert (card["source"], card["reproduce"], card["samples"]) == ("file", None, [])
    assert card["metrics"]["perplexity"] == read_weights(run_dir / "model.safetensors").metrics["perplexity"]


def test_the_markdown_card_has_hugging_face_front_matter_with_the_metrics():
    proc = in_process("info", "jay_gru_heldout", "--markdown")
    assert proc.returncode == 0, proc.stderr
    meta, m = front_matter(proc.stdout), CATALOG["jay_gru_heldout"]["metrics"]
    assert meta["library_name"] == "rnn-zoo" and meta["pipeline_tag"] == "text-generation" and "gru" in meta["tags"]
    assert meta["datasets"] == ["jaychou_lyrics"]
    (index,) = meta["model-index"]
    assert index["name"] == "jay_gru_heldout"
    figures = {(r["dataset"]["split"], f["type"]): f["value"] for r in index["results"] for f in r["metrics"]}
    assert figures == {
        ("train", "perplexity"): m["perplexity"],
        ("validation", "loss"): m["valid_loss"],
        ("validation", "perplexity"): m["valid_perplexity"],
    }
    assert {r["task"]["type"] for r in index["results"]} == {"text-generation"}
    body = proc.stdout.split("---\n", 2)[2]
    for heading in (
        "# jay_gru_heldout",
        "## Model details",
        "## How to use",
        "## Evaluation",
        "## Samples",
        "## Training",
    ):
        assert f"\n{heading}\n" in body
    recipe = yaml.safe_load(body.split("```yaml\n")[1].split("```")[0])
    assert recipe == prepare(ROOT / "recipes" / "jay_gru_heldout.yaml", get_registry()).to_dict()


def test_write_saves_the_markdown_card(tmp_path, run_dir):
    target = tmp_path / "share" / "README.md"
    proc = in_process("info", "hello_ohlol_rnn", "--write", str(target))
    assert proc.returncode == 0 and str(target) in proc.stdout, proc.stderr
    assert target.read_text(encoding="utf-8") == in_process("info", "hello_ohlol_rnn", "--markdown").stdout
    assert front_matter(target.read_text(encoding="utf-8"))["pipeline_tag"] == "token-classification"
    assert_one_line_error(
        in_process("info", HELLO, "--write", str(run_dir / "README.md")), 2, "inside a zoo run directory"
    )
    assert not (run_dir / "README.md").exists()
    assert_one_line_error(in_process("info", HELLO, "--json", "--write", str(target)), 2, "choose one")


def test_info_errors_are_one_line(tmp_path):
    assert_one_line_error(in_process("info", "jay_gruu"), 2, "unknown model 'jay_gruu'", "did you mean 'jay_gru'?")
    assert_one_line_error(in_process("info", str(tmp_path)), 2, f"{tmp_path} is not a zoo run directory")
    assert_one_line_error(in_process("info", str(tmp_path / "absent")), 2, "no such run directory or file")
    (tmp_path / "notes.txt").write_text("x")
    assert_one_line_error(in_process("info", str(tmp_path / "notes.txt")), 2, "is not a .safetensors file")


# -- one reader of a run directory, one resolver of a reference, one vocabulary of where weights are -------------


@pytest.fixture
def run_copy(run_dir, tmp_path) -> Path:
    """A copy of the finished hello run, for a test to alter."""
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


@pytest.fixture
def own_catalog(tmp_path, monkeypatch) -> Path:
    """A catalog of one's own holding the hello entry without weights (zoo ship then writes its weights beside it)."""
    path = tmp_path / "catalog" / "registry.yaml"
    path.parent.mkdir()
    entry = {**CATALOG[HELLO], "recipe": str(ROOT / CATALOG[HELLO]["recipe"]), "weights": None}
    path.write_text(yaml.safe_dump({"models": {HELLO: entry}}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


def test_info_and_ship_read_the_same_last_samples(run_copy, own_catalog):
    (run_copy / "samples.txt").write_text(
        "epoch 1\nab\n\nepoch 2\nin the epoch 9 of it\nepoch 3 is not a header here\n", encoding="utf-8"
    )
    card = card_json(str(run_copy))
    assert (card["samples_epoch"], card["samples"]) == (2, ["in the epoch 9 of it", "epoch 3 is not a header here"])
    assert ship(HELLO, run_copy)["samples"] == card["samples"]


@pytest.mark.parametrize(
    "file, text, needle",
    [
        (
            "metrics.jsonl",
            '{"epoch": 1, "loss": 1.0, "perplexity": 2.7}\n{"epoch": 2, "loss": 0.5\n',
            "line 2 is not JSON",
        ),
        ("metrics.jsonl", "[1, 2]\n", "line 1 is not a record of an epoch"),
        ("metrics.jsonl", '{"epoch": 1, "loss": 1.0}\n', "line 1 records epoch 1 without its perplexity"),
        ("samples.txt", "ab\nepoch 1\ncd\n", "does not open with an 'epoch N' line"),
        ("samples.txt", b"epoch 1\n\xff\n", "is not UTF-8 text"),
    ],
)
def test_a_damaged_run_file_is_one_line_for_info_and_ship_alike(run_copy, own_catalog, file, text, needle):
    (run_copy / file).write_bytes(text if isinstance(text, bytes) else text.encode())
    line = assert_one_line_error(
        in_process("info", str(run_copy)), 2, str(run_copy / file), needle, "altered or damaged"
    )
    catalog = own_catalog.read_bytes()
    with pytest.raises(UsageError) as exc:
        ship(HELLO, run_copy)
    assert f"Error: {exc.value}" == line
    assert own_catalog.read_bytes() == catalog and not (own_catalog.parent / "weights").exists(), "nothing shipped"


def test_a_bare_name_the_catalog_lacks_is_the_run_trained_here_for_info_and_load(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(run_dir, tmp_path / "runs" / "mine")
    card = card_json("mine")
    assert (card["source"], card["weights"]["location"], card["weights"]["path"]) == (
        "run",
        "run",
        str(Path("runs/mine/model.safetensors")),
    )
    assert zoo.load("mine").label("hello") == zoo.load(run_dir).label("hello")
    (tmp_path / "runs" / "half" / "checkpoint").mkdir(parents=True)
    (tmp_path / "runs" / "half" / "checkpoint" / "checkpoint.json").write_text("{}")
    assert_one_line_error(
        in_process("predict", "half", "--prefix", "a"), 2, "has not finished", "zoo run --resume runs/half"
    )
    assert_one_line_error(in_process("info", "https://example.org/m.safetensors"), 2, "downloads nothing", "zoo pull")


def test_models_and_info_say_where_the_weights_are_in_the_same_words(run_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = Path(entries()[HELLO]["weights"]["file"])
    size = {"sha256": sha256_of(shipped), "size": shipped.stat().st_size, "dtype": "float32"}
    base = {**CATALOG[HELLO], "recipe": str(ROOT / CATALOG[HELLO]["recipe"])}
    models = {
        "a_shipped": {**base, "weights": {"file": str(shipped), **size}},
        "a_missing": {**base, "weights": {"file": str(tmp_path / "gone.safetensors"), **size}},
        "a_url": {**base, "weights": {"url": "https://example.org/hello.safetensors", **size}},
        "a_run": {**base, "weights": None},
        "a_none": {**base, "weights": None},
    }
    (tmp_path / "registry.yaml").write_text(yaml.safe_dump({"models": models}), encoding="utf-8")
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "registry.yaml"))
    shutil.copytree(run_dir, tmp_path / "runs" / "a_run")
    listed = json.loads(in_process("models", "--json").stdout)
    assert {m["name"]: m["weights"] for m in listed} == {name: name.removeprefix("a_") for name in models}
    for name in models:
        w = card_json(name)["weights"]
        assert (w["location"], w["available"]) == (name.removeprefix("a_"), name in ("a_shipped", "a_run")), name
