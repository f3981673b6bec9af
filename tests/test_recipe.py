"""Recipes: loading, --set overrides, validation that names the YAML path, and the resolved form."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from zoo.errors import RecipeError, UsageError
from zoo.recipe import apply_overrides, parse_overrides, prepare, read_recipe, resolve

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def base() -> dict:
    return read_recipe(ROOT / "recipes" / "jay_gru.yaml")


def problems_of(data: dict, registry) -> list[str]:
    with pytest.raises(RecipeError) as err:
        resolve(data, registry)
    return err.value.problems


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_shipped_recipe_validates_and_opens_with_a_comment(path, registry):
    r = prepare(path, registry)
    assert r.name == path.stem
    assert path.read_text(encoding="utf-8").startswith("#"), "a recipe opens with a comment block"


def test_resolved_recipe_fills_defaults_and_round_trips(registry):
    r = prepare(ROOT / "recipes" / "jay_gru.yaml", registry)
    d = r.to_dict()
    assert d["model"]["dtype"] == "float32" and d["model"]["dropout"] == 0.0
    assert d["predict"]["strategy"] == "greedy"
    assert d["backend"] == "auto"
    again = resolve(yaml.safe_load(yaml.safe_dump(d, allow_unicode=True)), registry)
    assert again.to_dict() == d


def test_misspelt_cell_names_the_path_and_the_intended_word(registry):
    data = apply_overrides(base(), {"model.cell": "gur"})
    (problem,) = problems_of(data, registry)
    # whatever else is installed (CI also runs with examples/zoo-mgu), the hint is gru and the built-ins are listed
    assert problem.startswith("model.cell: unknown cell 'gur'; did you mean 'gru'? known: ")
    assert {"gru", "lstm", "rnn"} <= set(problem.rsplit("known: ", 1)[1].split(", "))


def test_every_problem_is_reported_at_once(registry):
    data = apply_overrides(
        base(), {"trainer.lr": "fast", "model.hiden_size": 3, "sampler.batch_size": 0, "colour": "red"}
    )
    problems = problems_of(data, registry)
    assert "trainer.lr: expected float, got 'fast'" in problems
    assert any(
        p.startswith("model.hiden_size: unknown key 'hiden_size'; did you mean 'hidden_size'?") for p in problems
    )
    assert any(p.startswith("sampler.batch_size: must be at least 1") for p in problems)
    assert any(p.startswith("colour: unknown top-level key") for p in problems)


def test_wrong_types_are_named(registry):
    data = apply_overrides(base(), {"model.bidirectional": "yes", "trainer.epochs": 2.5, "seed": -1})
    problems = problems_of(data, registry)
    assert "model.bidirectional: expected bool, got 'yes'" in problems
    assert "trainer.epochs: expected int, got 2.5" in problems
    assert "seed: expected an integer from 0 to 2**32 - 1, got -1" in problems


def test_missing_sections_and_names(registry):
    problems = problems_of({"name": "x"}, registry)
    assert "dataset: required section is missing" in problems
    assert "model: required section is missing" in problems


def test_overrides_parse_yaml_scalars_and_reject_malformed_pairs():
    assert parse_overrides(
        ["trainer.lr=0.001", "model.bidirectional=true", "predict.prefixes=[a, b]", "backend=torch"]
    ) == {"trainer.lr": 0.001, "model.bidirectional": True, "predict.prefixes": ["a", "b"], "backend": "torch"}
    for bad in ["trainer.lr", "=3", "trainer..lr=1"]:
        with pytest.raises(UsageError, match="--set expects KEY=VALUE"):
            parse_overrides([bad])


def test_override_into_a_string_section_becomes_a_mapping():
    data = apply_overrides({"backend": "auto"}, {"backend.name": "torch"})
    assert data["backend"] == {"name": "torch"}


@pytest.mark.parametrize(
    "loggers",
    [
        "tensorboard",
        ["tensorboard", "mlflow"],
        {"tensorboard": None, "mlflow": {"experiment": "mine"}},
        {"mlflow": {}, "tensorboard": {"batches": True}},
    ],
)
def test_loggers_are_a_name_a_list_or_a_mapping_of_options_resolved_with_their_defaults(registry, loggers):
    r = resolve({**base(), "loggers": loggers}, registry)
    named = ["tensorboard"] if loggers == "tensorboard" else list(loggers)
    assert [s.name for s in r.loggers] == named
    resolved = r.to_dict()["loggers"]
    assert list(resolved) == named and resolved["tensorboard"]["log_dir"] is None
    if "mlflow" in resolved:
        assert resolved["mlflow"]["experiment"] == (
            "mine" if isinstance(loggers, dict) and loggers["mlflow"] else "zoo"
        )
    assert resolve({**base(), "loggers": resolved}, registry).to_dict() == r.to_dict()  # round trip


def test_a_recipe_without_loggers_resolves_without_the_key(registry):
    assert "loggers" not in prepare(ROOT / "recipes" / "jay_gru.yaml", registry).to_dict()


def test_bad_loggers_are_named_with_their_path(registry):
    problems = problems_of({**base(), "loggers": ["tensorbaord", 3]}, registry)
    assert "loggers[1]: expected a logger name, got 3" in problems
    problems = problems_of({**base(), "loggers": {"tensorbaord": {}, "mlflow": {"experimnet": "x"}}}, registry)
    assert any(
        p.startswith("loggers.tensorbaord: unknown logger 'tensorbaord'; did you mean 'tensorboard'?") for p in problems
    )
    assert any(
        p.startswith("loggers.mlflow.experimnet: unknown key 'experimnet'; did you mean 'experiment'?")
        for p in problems
    )
    assert problems_of({**base(), "loggers": {"mlflow": "x"}}, registry) == [
        "loggers.mlflow: expected a mapping of its options (or nothing), got 'x'"
    ]
    assert problems_of({**base(), "loggers": 5}, registry) == [
        "loggers: expected a list of logger names or a mapping of each to options, got 5"
    ]


def test_set_reaches_a_logger_named_in_a_list():
    data = apply_overrides({"loggers": ["tensorboard", "mlflow"]}, {"loggers.mlflow.tracking_uri": "http://x"})
    assert data["loggers"] == {"tensorboard": {}, "mlflow": {"tracking_uri": "http://x"}}
    assert apply_overrides({}, {"loggers.tensorboard.batches": True}) == {"loggers": {"tensorboard": {"batches": True}}}
    with pytest.raises(UsageError, match="--set loggers.mlflow.x: loggers is not a mapping"):
        apply_overrides({"loggers": [{"mlflow": {}}]}, {"loggers.mlflow.x": 1})


def test_unreadable_recipes_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="recipe file .* not found"):
        read_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UsageError, match="bad.yaml at line"):
        read_recipe(bad)
    bad.write_text("- just\n- a list\n")
    with pytest.raises(UsageError, match="must be a YAML mapping"):
        read_recipe(bad)


def test_every_recipe_has_a_catalog_entry():
    from zoo.hub.catalog import read_catalog

    catalog = read_catalog(ROOT / "registry.yaml")
    for path in RECIPES:
        assert path.stem in catalog, f"registry.yaml has no entry for {path.name}"
        assert catalog[path.stem]["recipe"] == f"recipes/{path.name}"
