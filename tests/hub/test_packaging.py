"""The wheel carries the zoo: what it holds, the catalog found through the import system (wheel and editable installs),
ZOO_REGISTRY, recipes by catalog name, ``zoo recipes``, ``zoo ship``'s refusal of an installed catalog, the version."""

from __future__ import annotations

import email
import importlib.machinery
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from clitools import assert_one_line_error, in_process
from clitools import zoo as zoo_cli

import zoo
import zoo.hub.catalog
from zoo.errors import UsageError
from zoo.hub.catalog import catalog_folder, catalog_path, installed_from_wheel, read_catalog, recipe_file
from zoo.recipe import prepare

ROOT = Path(__file__).resolve().parents[2]
CATALOG_FILES = {
    "registry.yaml",
    *(
        p.relative_to(ROOT).as_posix()
        for d in ("recipes", "weights")
        for p in (ROOT / d).iterdir()
        if p.suffix in (".yaml", ".safetensors")
    ),
}
BUILT_FROM = [
    "pyproject.toml",
    "setup.py",
    "README.md",
    "LICENSE",
    "registry.yaml",
    "hubconf.py",
    "zoo",
    "plugins",
    "recipes",
    "weights",
]
CORPUS = "the quick brown fox jumps over the lazy dog. " * 20


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from the repository's files (hubconf.py among them), in a copy: the checkout gets no build/."""
    work = tmp_path_factory.mktemp("wheel")
    for name in BUILT_FROM:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, work / "src" / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (work / "src").mkdir(exist_ok=True)
            shutil.copy2(source, work / "src" / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            str(work / "src"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (found,) = (work / "dist").glob("rnn_zoo-*.whl")
    return found


@pytest.fixture(scope="session")
def installed(wheel, tmp_path_factory) -> Path:
    """A folder the wheel is installed into (``pip install --target``), to be put on ``PYTHONPATH``."""
    target = tmp_path_factory.mktemp("site")
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, pip.stderr
    return target


def with_wheel(installed: Path) -> dict[str, str]:
    """The environment of a process that imports zoo from the wheel install, with no ZOO_REGISTRY (empty is unset)."""
    return {**os.environ, "PYTHONPATH": str(installed), "ZOO_REGISTRY": ""}


# -- what the wheel holds ---------------------------------------------------------------------------------------


def test_the_wheel_carries_every_module_every_catalog_file_byte_for_byte_and_no_top_level_module(wheel):
    catalog = read_catalog(ROOT / "registry.yaml")
    named = {e["recipe"] for e in catalog.values()} | {
        e["weights"]["file"] for e in catalog.values() if "file" in (e.get("weights") or {})
    }
    assert named <= CATALOG_FILES
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert {n.removeprefix("zoo_catalog/") for n in names if n.startswith("zoo_catalog/")} == CATALOG_FILES
        for f in CATALOG_FILES:
            assert z.read(f"zoo_catalog/{f}") == (ROOT / f).read_bytes(), f
        assert not [n for n in names if n.rsplit("/", 1)[-1] in ("hubconf.py", "setup.py")]
        sources = {f"zoo/{p.relative_to(ROOT / 'zoo').as_posix()}" for p in (ROOT / "zoo").rglob("*.py")}
        sources |= {
            f"zoo_plugins/{p.relative_to(ROOT / 'plugins').as_posix()}" for p in (ROOT / "plugins").rglob("*.py")
        }
        assert sources - set(names) == set()  # every module of the package, its subpackages included
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(z.read(metadata_name))
        license_file = z.read(metadata_name.replace("METADATA", "licenses/LICENSE"))
    assert metadata["Version"] == zoo.__version__
    assert metadata["License-Expression"] == "MIT" and license_file == (ROOT / "LICENSE").read_bytes()
    assert metadata["Requires-Python"] == ">=3.10"
    assert {url.split(",")[0] for url in metadata.get_all("Project-URL")} == {
        "Homepage",
        "Documentation",
        "Source",
        "Issues",
    }
    assert set(metadata.get_all("Provides-Extra")) == {"test", "docs", "tensorboard", "mlflow", "sweep"}


# -- the catalog found through the import system -------------------------------------------------------------------


def test_a_wheel_install_finds_its_own_catalog_from_any_folder_and_zoo_registry_still_wins(installed, tmp_path):
    probe = """if True:
        import json, os
        import zoo
        from zoo.hub.catalog import catalog_path, installed_from_wheel, recipe_file
        found = {"zoo": zoo.__file__, "catalog": str(catalog_path()), "installed": installed_from_wheel(catalog_path()),
                 "recipe": str(recipe_file("jay_gru"))}
        os.environ["ZOO_REGISTRY"] = os.path.abspath("mine.yaml")
        found["override"] = str(catalog_path())
        print(json.dumps(found))
    """
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=with_wheel(installed),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert Path(found["zoo"]) == installed / "zoo" / "__init__.py"
    assert Path(found["catalog"]) == installed / "zoo_catalog" / "registry.yaml"
    assert Path(found["recipe"]) == installed / "zoo_catalog" / "recipes" / "jay_gru.yaml"
    assert found["installed"] is True
    assert Path(found["override"]) == tmp_path / "mine.yaml"


def test_zoo_ship_refuses_to_write_into_the_catalog_a_wheel_installed(installed, tmp_path):
    registry = installed / "zoo_catalog" / "registry.yaml"
    before = registry.read_bytes()
    proc = zoo_cli("ship", "jay_gru", str(tmp_path), cwd=tmp_path, env=with_wheel(installed))
    assert_one_line_error(proc, 2, f"{registry} is the one installed with the rnn-zoo wheel", "ZOO_REGISTRY")
    assert registry.read_bytes() == before and sorted(
        p.name for p in (installed / "zoo_catalog" / "weights").iterdir()
    ) == sorted(p.name for p in (ROOT / "weights").glob("*.safetensors"))


def test_an_editable_install_finds_the_checkouts_catalog_and_may_write_it():
    records = [d.read_text("direct_url.json") for d in importlib.metadata.distributions(name="rnn-zoo")]  # PEP 610
    if not any(json.loads(r).get("dir_info", {}).get("editable") for r in records if r):
        pytest.skip("rnn-zoo is not installed editable here")
    assert catalog_folder() == ROOT
    assert not installed_from_wheel(ROOT / "registry.yaml")


def test_the_catalog_folder_is_the_first_real_directory_past_setuptools_placeholder(monkeypatch, tmp_path):
    spec = importlib.machinery.ModuleSpec("zoo_catalog", None, is_package=True)
    spec.submodule_search_locations = ["__editable__.rnn_zoo-0.1.0.finder.__path_hook__", str(tmp_path)]
    monkeypatch.setattr(
        zoo.hub.catalog.importlib.util, "find_spec", lambda name: spec if name == "zoo_catalog" else None
    )
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    assert catalog_folder() == tmp_path and catalog_path() == tmp_path / "registry.yaml"


def test_zoo_without_its_catalog_package_says_so_in_one_line(monkeypatch):
    monkeypatch.setattr(zoo.hub.catalog.importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    assert catalog_folder() is None
    assert_one_line_error(in_process("models"), 2, "the zoo_catalog package) is not installed", "ZOO_REGISTRY")


# -- recipes by catalog name ------------------------------------------------------------------------------------


@pytest.fixture
def tiny_catalog(tmp_path, monkeypatch) -> Path:
    """A catalog (chosen with ZOO_REGISTRY) of two tiny recipes, one described by the catalog, one by its first comment;
    the current folder is an empty one."""
    (tmp_path / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    (tmp_path / "catalog" / "recipes").mkdir(parents=True)
    for name, hidden in (("tiny_gru", 8), ("tiny_lstm", 6)):
        recipe = {
            "name": name,
            "dataset": {"name": "text", "path": str(tmp_path / "corpus.txt")},
            "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
            "model": {"cell": name.split("_")[1], "hidden_size": hidden, "layers": 1 if hidden == 8 else 2},
            "backend": "torch",
            "trainer": {"epochs": 1},
        }
        (tmp_path / "catalog" / "recipes" / f"{name}.yaml").write_text(
            f"# {name}: a {hidden}-unit model of a fox\n" + yaml.safe_dump(recipe)
        )
    models = {
        "tiny_gru": {
            "description": "the catalog's word on tiny_gru",
            "recipe": "recipes/tiny_gru.yaml",
            "weights": None,
        },
        "tiny_lstm": {"recipe": "recipes/tiny_lstm.yaml", "weights": None},
    }
    path = tmp_path / "catalog" / "registry.yaml"
    path.write_text(yaml.safe_dump({"models": models}))
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    return tmp_path / "catalog"


def test_the_zoo_run_command_and_python_zoo_run_take_a_catalog_name(tiny_catalog):
    proc = in_process("run", "tiny_gru", "-q", "--out", "cli")
    assert proc.returncode == 0, proc.stderr
    assert yaml.safe_load(Path("cli/recipe.yaml").read_text())["model"]["hidden_size"] == 8
    result = zoo.run("tiny_lstm", out="api")
    assert result.recipe.name == "tiny_lstm" and Path("api/model.safetensors").is_file()
    assert recipe_file("tiny_gru") == tiny_catalog / "recipes" / "tiny_gru.yaml"


def test_a_file_that_exists_wins_over_a_catalog_name_and_a_path_stays_a_path(tiny_catalog, registry):
    own = yaml.safe_load((tiny_catalog / "recipes" / "tiny_gru.yaml").read_text()) | {"name": "from_file"}
    Path("tiny_gru").write_text(yaml.safe_dump(own))
    assert prepare("tiny_gru", registry).name == "from_file"
    assert recipe_file("elsewhere/tiny_lstm.yaml") == Path("elsewhere/tiny_lstm.yaml")
    with pytest.raises(UsageError, match="recipe file elsewhere/tiny_lstm.yaml not found"):
        prepare("elsewhere/tiny_lstm.yaml", registry)


def test_a_word_that_is_neither_a_file_nor_a_catalog_name_is_one_line_with_the_closest_name(tiny_catalog):
    line = assert_one_line_error(
        in_process("run", "tiny_gur", "-q"), 2, "'tiny_gur'", "did you mean 'tiny_gru'?", "zoo recipes"
    )
    assert "known: tiny_gru, tiny_lstm" in line


# -- zoo recipes ----------------------------------------------------------------------------------------------------


def test_zoo_recipes_lists_name_cell_layers_hidden_and_description(tiny_catalog):
    proc = in_process("recipes")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(None, 4) for line in proc.stdout.splitlines()]
    assert rows == [
        ["NAME", "CELL", "LAYERS", "HIDDEN", "DESCRIPTION"],
        ["tiny_gru", "gru/nn", "1", "8", "the catalog's word on tiny_gru"],
        ["tiny_lstm", "lstm/nn", "2", "6", "a 6-unit model of a fox"],
    ]


def test_zoo_recipes_shows_a_recipe_that_names_no_cell_with_a_question_mark(tiny_catalog):
    path = tiny_catalog / "recipes" / "tiny_lstm.yaml"
    recipe = yaml.safe_load(path.read_text())
    del recipe["model"]["cell"]
    path.write_text(yaml.safe_dump(recipe))
    rows = [line.split(None, 4) for line in in_process("recipes").stdout.splitlines()]
    assert rows[2][:4] == ["tiny_lstm", "?/nn", "2", "6"]
    assert json.loads(in_process("recipes", "--json").stdout)[1]["cell"] is None


def test_zoo_recipes_lists_the_projects_catalog(monkeypatch):
    monkeypatch.delenv("ZOO_REGISTRY", raising=False)
    proc = in_process("recipes")
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()[1:]] == list(read_catalog(ROOT / "registry.yaml"))


def test_zoo_recipes_copy_writes_the_recipe_out_and_refuses_to_overwrite_without_force(tiny_catalog):
    source = (tiny_catalog / "recipes" / "tiny_gru.yaml").read_bytes()
    proc = in_process("recipes", "--copy", "tiny_gru")
    assert proc.returncode == 0 and proc.stdout.startswith("copied tiny_gru to tiny_gru.yaml"), proc.stderr
    assert Path("tiny_gru.yaml").read_bytes() == source
    Path("tiny_gru.yaml").write_text("# my edits\n")
    assert_one_line_error(in_process("recipes", "--copy", "tiny_gru"), 2, "tiny_gru.yaml exists", "--force")
    assert Path("tiny_gru.yaml").read_text() == "# my edits\n"
    assert in_process("recipes", "--copy", "tiny_gru", "--force").returncode == 0
    assert Path("tiny_gru.yaml").read_bytes() == source
    Path("mine").mkdir()
    assert (
        in_process("recipes", "--copy", "tiny_gru", "mine").returncode == 0
        and (Path("mine") / "tiny_gru.yaml").read_bytes() == source
    )
    assert in_process("recipes", "--copy", "tiny_gru", "mine/edited.yaml").returncode == 0
    assert (Path("mine") / "edited.yaml").read_bytes() == source


@pytest.mark.parametrize(
    "args, needles",
    [
        (("--copy", "tiny_gur"), ("unknown recipe 'tiny_gur'", "did you mean 'tiny_gru'?")),
        (("--copy", "tiny_gru", "missing/"), ("folder missing not found", "create it first")),
        (("dest.yaml",), ("DEST goes with --copy NAME",)),
        (("--force",), ("--force goes with --copy NAME",)),
    ],
)
def test_zoo_recipes_misuse_is_one_line(tiny_catalog, args, needles):
    assert_one_line_error(in_process("recipes", *args), 2, *needles)
    assert list(Path(".").iterdir()) == []


def test_zoo_recipes_copy_never_writes_over_the_catalogs_own_recipe(tiny_catalog):
    source = tiny_catalog / "recipes" / "tiny_gru.yaml"
    before = source.read_bytes()
    assert_one_line_error(
        in_process("recipes", "--copy", "tiny_gru", str(source.parent), "--force"), 2, "the catalog's own recipe"
    )
    assert source.read_bytes() == before


# -- the version ------------------------------------------------------------------------------------------------------


def test_zoo_version_prints_zoo_dunder_version():
    proc = in_process("--version")
    assert proc.returncode == 0 and proc.stdout == f"zoo, version {zoo.__version__}\n"
