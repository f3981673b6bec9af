"""Held-out figures in the catalog: zoo ship scores the shipped weights as zoo eval does, zoo verify compares the
validation losses, zoo models and the README blocks show them (or say a model has training figures only)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml
from clitools import in_process

import zoo
from zoo.hub.cards import markdown_table, results_markdown, rows, text_table
from zoo.hub.catalog import read_catalog
from zoo.hub.verify import Verdict
from zoo.hub.weights import read_weights

ROOT = Path(__file__).resolve().parents[2]
CATALOG = read_catalog(ROOT / "registry.yaml")
HELLO = "hello_ohlol_rnn"
NAME = "tiny_heldout"
TOL = 1e-6  # the catalog keeps held-out figures to 6 decimals


def tiny_recipe(tmp_path: Path, **trainer) -> Path:
    """A small GRU on 3,000 characters of the lyrics, 10% held out for validation and 10% for test."""
    recipe = {
        "name": NAME,
        "seed": 0,
        "dataset": {
            "name": "jaychou_lyrics",
            "max_chars": 3000,
            "valid_fraction": 0.1,
            "test_fraction": 0.1,
            "unk": True,
        },
        "sampler": {"name": "sequential", "batch_size": 8, "num_steps": 20},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 16, "encoder": "onehot"},
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 2, **trainer},
        "predict": {"prefixes": ["分开"], "length": 5, "every": 0},
    }
    path = tmp_path / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    return path


def catalog_with(tmp_path: Path, monkeypatch, models: dict) -> Path:
    """A catalog in tmp_path chosen with ZOO_REGISTRY (shipped weights then go to tmp_path/weights)."""
    path = tmp_path / "registry.yaml"
    fixed = {
        n: {**e, "recipe": str((ROOT / e["recipe"]) if not Path(e["recipe"]).is_absolute() else e["recipe"])}
        for n, e in models.items()
    }
    path.write_text(yaml.safe_dump({"models": fixed}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


def tiny_entry(recipe: Path) -> dict:
    return {"description": "tiny", "recipe": str(recipe), "reference": "-", "metrics": {}, "weights": None}


def cli(*argv: str):
    proc = in_process(*argv)
    return proc.returncode, proc.stdout, proc.stderr


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    return lines[0]


@pytest.fixture
def shipped(tmp_path, monkeypatch, data_dir):
    """The tiny run, shipped as float16 into a temporary catalog: (catalog path, run result)."""
    recipe = tiny_recipe(tmp_path)
    catalog = catalog_with(tmp_path, monkeypatch, {NAME: tiny_entry(recipe), HELLO: CATALOG[HELLO]})
    run = zoo.run(recipe, out=tmp_path / "run", data_dir=data_dir)
    code, out, err = cli("ship", NAME, str(run.run_dir), "--dtype", "float16")
    assert code == 0 and "valid loss" in out and "test loss" in out, err
    return catalog, run


def test_ship_records_the_held_out_scores_of_the_shipped_float16_weights(shipped):
    catalog, run = shipped
    m = read_catalog(catalog)[NAME]["metrics"]
    model = zoo.load(NAME)  # the shipped float16 file, as users download it
    for split in ("valid", "test"):
        s = model.evaluate(split=split)
        assert abs(m[f"{split}_loss"] - s.loss) <= TOL and abs(m[f"{split}_perplexity"] - s.perplexity) <= TOL, (
            split,
            m,
            s,
        )
    f32 = zoo.load(run.run_dir).evaluate(split="valid").loss
    assert abs(f32 - m["valid_loss"]) > TOL, (
        "float16 did not move the score: this test cannot tell which weights were scored"
    )
    assert m["valid_loss_at"] == {r["epoch"]: round(r["valid_loss"], 6) for r in run.metrics}  # epochs 1 and 2
    assert m["perplexity_at"][2] == round(run.metrics[1]["perplexity"], 4) and m["epoch"] == 2 and "kept_batch" not in m


def test_ship_takes_a_run_whose_kept_best_was_mid_epoch(tmp_path, monkeypatch, data_dir):
    recipe = tiny_recipe(tmp_path, epochs=3, lr=0.05, eval_every=3, keep="best")
    catalog = catalog_with(tmp_path, monkeypatch, {NAME: tiny_entry(recipe)})
    run = zoo.run(recipe, out=tmp_path / "run", data_dir=data_dir)
    kept = read_weights(run.run_dir / "model.safetensors").metrics
    assert kept.get("batch") and "perplexity" not in kept, (
        f"the premise failed: the best evaluation was not mid-epoch ({kept})"
    )
    records = [json.loads(line) for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" not in r for r in records)  # mid-epoch evaluation records, which ship must pass over
    code, out, err = cli("ship", NAME, str(run.run_dir))
    assert code == 0, err
    m = read_catalog(catalog)[NAME]["metrics"]
    assert (m["epoch"], m["kept_batch"]) == (kept["epoch"], kept["batch"])
    assert abs(m["valid_loss"] - zoo.load(NAME).evaluate(split="valid").loss) <= TOL
    assert abs(m["valid_loss"] - kept["valid_loss"]) <= 1e-5  # the trainer's own score of these weights, same protocol
    epoch_ends = {r["epoch"]: r for r in records if "loss" in r}
    assert m["perplexity"] == round(
        epoch_ends[kept["epoch"]]["perplexity"], 4
    )  # the training figure of the kept weights' epoch
    assert set(m["perplexity_at"]) == {1, 2, 3} and set(m["valid_loss_at"]) == {1, 2, 3}  # the last epoch trained too
    assert rows()[0]["held_out"].endswith(f"@ epoch {kept['epoch']}, batch {kept['batch']}")
    code, out, err = cli("verify", NAME, "--epochs", "1", "-q")  # a run with mid-epoch records, verified at epoch 1
    assert code == 0 and "valid loss" in out and "reproduced" in out and "(epochs 1)" in out, err


def test_verify_compares_the_validation_loss_and_fails_on_a_doctored_one(shipped):
    catalog, run = shipped
    code, out, err = cli("verify", NAME, "-q")
    assert (
        code == 0
        and f"valid loss {run.metrics[1]['valid_loss']:.6f} at epoch 2" in out
        and "reproduced within 1.0%" in out
    ), err
    data = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    good = data["models"][NAME]["metrics"]["valid_loss_at"]
    data["models"][NAME]["metrics"]["valid_loss_at"] = {**good, 1: good[1] * 1.05}  # 5% off at epoch 1 only
    catalog.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, out, err = cli("verify", NAME, "-q")
    line = one_error_line(err)
    assert code == 1 and "valid loss" in line and "at epoch 1" in line and f"catalog {good[1] * 1.05:.6f}" in line
    assert "does not reproduce within 1.0%" in line


def test_models_shows_the_held_out_figure_or_says_train_only(shipped):
    catalog, _ = shipped
    m = read_catalog(catalog)[NAME]["metrics"]
    figure = f"valid {m['valid_loss']:.3f} nats (ppl {m['valid_perplexity']:#.4g}), test {m['test_loss']:.3f} nats"
    by_name = {r["name"]: r for r in rows()}
    assert by_name[NAME]["held_out"].startswith(figure) and by_name[HELLO]["held_out"] == "train only"
    code, out, err = cli("models")
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert code == 0 and figure in lines[NAME] and "train only" in lines[HELLO] and "HELD-OUT" in out, err
    table, results = markdown_table(rows()), results_markdown()
    for block in (table, results):
        assert [line for line in block.splitlines() if f"`{NAME}`" in line and figure in line]
        assert [line for line in block.splitlines() if f"`{HELLO}`" in line and "| train only |" in line]
    assert text_table(rows()) == out.rstrip("\n")


def test_reshipping_without_a_held_out_split_drops_the_old_held_out_figures(tmp_path, monkeypatch):
    stale = {
        **CATALOG[HELLO],
        "weights": None,
        "metrics": {
            **CATALOG[HELLO]["metrics"],
            "valid_loss": 1.0,
            "valid_perplexity": 2.718282,
            "valid_loss_at": {1: 1.0},
        },
    }
    catalog = catalog_with(tmp_path, monkeypatch, {HELLO: stale})
    run = zoo.run(ROOT / "recipes" / f"{HELLO}.yaml", {"trainer.epochs": 2}, out=tmp_path / "run")
    code, out, err = cli("ship", HELLO, str(run.run_dir), "--metrics-only")
    assert code == 0 and "valid" not in out, err
    m = read_catalog(catalog)[HELLO]["metrics"]
    assert not {"valid_loss", "valid_perplexity", "valid_loss_at"} & set(m) and m["epoch"] == 2


def test_an_epoch_the_catalog_records_but_the_run_never_reached_does_not_reproduce():
    v = Verdict("x", 3, [(1, 400.0, 400.0), (3, math.nan, 2.0)], 0.01, valid=[(1, 5.0, 5.0)])
    assert not v.reproduced and v.shown(v.checks) == v.checks[1]
    assert Verdict("x", 1, [(1, 400.0, 400.0)], 0.01, valid=[(1, 5.04, 5.0)]).reproduced
    assert not Verdict("x", 1, [(1, 400.0, 400.0)], 0.01, valid=[(1, 5.06, 5.0)]).reproduced
