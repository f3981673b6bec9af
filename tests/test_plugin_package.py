"""Outside plugin packages, installed with pip into a fresh virtual environment, driven through the CLI.

The environment reuses this interpreter's packages (torch, rnn-zoo ...) through a
``.pth`` file, so nothing is downloaded; into it go the example package
``examples/zoo-mgu``, and per test a package that fails to import and two that
claim the same cell name.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml
from clitools import assert_one_line_error

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "zoo-mgu"
RECIPE = EXAMPLE / "recipes" / "jay_mgu.yaml"
SMALL = ["trainer.epochs=1", "model.hidden_size=16", "dataset.max_chars=2000", "predict.length=5"]


class Venv:
    """A virtual environment that sees this interpreter's site-packages, and commands run with its python."""

    def __init__(self, path: Path):
        self.path = path
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        self.python = path / "bin" / "python"
        site = self.run("-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
        parents = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
        # addsitedir (not a bare path line) so that the parent's own .pth files, rnn-zoo's editable finder among them,
        # run too
        Path(site, "_parent_site_packages.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
        )

    def run(self, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``python ARGS`` in this environment; ZOO_LOAD_PLUGINS only when given, one thread for the tiny models."""
        base = {k: v for k, v in os.environ.items() if k != "ZOO_LOAD_PLUGINS"}
        return subprocess.run(
            [str(self.python), *args],
            capture_output=True,
            text=True,
            cwd=cwd,
            timeout=300,
            env={**base, "OMP_NUM_THREADS": "1", **(env or {})},
        )

    def zoo(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """The ``zoo`` command of this environment."""
        return self.run("-m", "zoo", *args, env=env)

    def pip(self, *args: str) -> None:
        proc = self.run("-m", "pip", *args, "--quiet")
        assert proc.returncode == 0, proc.stderr

    def install(self, *projects: Path) -> None:
        """Editable installs without touching the network."""
        self.pip(
            "install", "--no-deps", "--no-build-isolation", "--no-index", *[a for p in projects for a in ("-e", str(p))]
        )


def write_package(root: Path, dist: str, entry_point: str, source: str) -> Path:
    """A one-module plugin package: its pyproject.toml declares ``entry_point`` in the ``zoo`` group."""
    module = dist.replace("-", "_")
    (root / dist / module).mkdir(parents=True)
    (root / dist / "pyproject.toml").write_text(f"""\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.0.1"
dependencies = ["rnn-zoo"]

[project.entry-points.zoo]
{entry_point} = "{module}"

[tool.setuptools]
packages = ["{module}"]
""")
    (root / dist / module / "__init__.py").write_text(source)
    return root / dist


TWIN = '''\
import zoo
from zoo_plugins.gru import GRU


class Twin(GRU):
    """A GRU under another name."""


@zoo.hookimpl
def register_cells(register):
    register("twin", Twin)
'''


def tiny_recipe(folder: Path, cell: str) -> Path:
    """A recipe that trains ``cell`` for one epoch on a small local text file, in a second or so."""
    corpus = folder / "corpus.txt"
    corpus.write_text("hello world, hello zoo\n" * 30, encoding="utf-8")
    recipe = folder / f"tiny_{cell}.yaml"
    recipe.write_text(
        yaml.safe_dump(
            {
                "name": f"tiny_{cell}",
                "seed": 0,
                "dataset": {"name": "text", "path": str(corpus)},
                "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
                "model": {"cell": cell, "impl": "scratch", "hidden_size": 8},
                "backend": "torch",
                "trainer": {"name": "bptt", "epochs": 1},
                "predict": {"prefixes": ["hello"], "length": 5},
            }
        )
    )
    return recipe


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    """A fresh environment holding the example package (and, through the .pth, rnn-zoo and its dependencies)."""
    env = Venv(tmp_path_factory.mktemp("venv") / "env")
    env.install(EXAMPLE)
    probe = env.run(
        "-c",
        "import sys, importlib.metadata as m, zoo, zoo_mgu; "
        "print(sys.prefix, m.version('rnn-zoo'), m.distribution('zoo-mgu').read_text('direct_url.json'))",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith(str(env.path)) and str(EXAMPLE.as_uri()) in probe.stdout, probe.stdout
    return env


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> Path:
    """Source folders of a broken package, two colliding ones, and one whose entry point is named like a built-in."""
    root = tmp_path_factory.mktemp("packages")
    write_package(
        root,
        "zoo-broken",
        "shiny",
        'raise ImportError("zoo_broken needs the shiny extra: pip install zoo-broken[shiny]")\n',
    )
    write_package(root, "zoo-twin-a", "twin_a", TWIN)
    write_package(root, "zoo-twin-b", "twin_b", TWIN)
    write_package(root, "zoo-shadow", "gru", TWIN.replace('"twin"', '"shadow"'))
    return root


@pytest.fixture(scope="module")
def broken(venv, packages) -> None:
    """A plugin package whose module raises ImportError, installed for the rest of the module."""
    venv.install(packages / "zoo-broken")


@pytest.fixture
def twins(venv, packages):
    """Two packages that both register the cell 'twin', installed for one test."""
    venv.install(packages / "zoo-twin-a", packages / "zoo-twin-b")
    yield
    venv.pip("uninstall", "--yes", "zoo-twin-a", "zoo-twin-b")


# -- the plugin API, zoo.plugin (in this process) -------------------------------


def _imports(path: Path) -> list[tuple[str, str]]:
    """``(module, name)`` of each ``from module import name`` in ``path``, and ``(module, "")`` of each
    ``import module``."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
    return found


def test_zoo_plugin_holds_what_it_lists_each_from_its_module():
    import zoo.plugin as api

    static = {name: module for module, name in _imports(Path(api.__file__)) if module.startswith("zoo.")}  # for types
    assert sorted(api.__all__) == sorted(static) and len(api.__all__) == len(set(api.__all__))
    for name, module in static.items():
        assert getattr(api, name) is getattr(importlib.import_module(module), name), name
    with pytest.raises(AttributeError, match="zoo.plugin.__all__ lists what it holds"):
        api.LanguageModelz  # noqa: B018


def test_a_plugin_that_needs_no_torch_does_not_load_it():
    names = "Corpus, Dataset, UsageError, Vocab, fetch, hookimpl, option, read_text"  # what a dataset plugin imports
    script = f"import sys; from zoo.plugin import {names}; print('torch' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (0, "False\n"), proc.stderr


def test_the_example_package_imports_only_the_plugin_api():
    seen = {
        (module, name)
        for path in sorted((EXAMPLE / "zoo_mgu").glob("*.py"))
        for module, name in _imports(path)
        if module.split(".")[0] in ("zoo", "zoo_plugins")
    }
    assert seen and {module for module, _ in seen} <= {"zoo.plugin", "zoo"}, seen
    assert {name for module, name in seen if module == "zoo"} <= {""}, "import zoo is only for @zoo.hookimpl"


# -- the example package ------------------------------------------------------


def test_zoo_plugins_lists_the_example_with_its_distribution(venv):
    proc = venv.zoo("plugins")
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines() if line.startswith("  ")}
    assert lines["mgu"].split()[1:] == ["plugin", "mgu", "[zoo-mgu]"], proc.stdout
    assert lines["beam"].split()[1:] == ["plugin", "beam", "[zoo-mgu]"], proc.stdout
    rows = json.loads(venv.zoo("plugins", "--json", "--verbose", "beam").stdout)
    assert [(r["kind"], r["distribution"], [o["name"] for o in r["options"]]) for r in rows if "kind" in r] == [
        ("predictor", "zoo-mgu", ["beam_width"])
    ]


VARIANTS = {
    "scratch": [],
    "two-layers": ["model.layers=2"],
    "bidirectional": ["model.bidirectional=true"],
    "numpy": ["backend=numpy"],
    "beam": ["predict.name=beam", "predict.beam_width=3"],
}

LOAD_AND_GENERATE = """\
import json, sys
import zoo
from zoo.errors import UsageError

m = zoo.load(sys.argv[1])
out = {"cell": m.recipe.model.core.cell, "predictor": type(m.predictor).__name__,
       "perplexity": m.perplexity("分开不分开")}
try:
    out["generated"] = m.generate("分开", 10)
except UsageError as exc:
    out["refused"] = str(exc)
print(json.dumps(out, ensure_ascii=False))
"""


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_example_recipe_trains_through_the_cli_and_its_weights_load(venv, data_dir, tmp_path, variant):
    run_dir = tmp_path / "run"
    sets = [a for kv in SMALL + VARIANTS[variant] for a in ("--set", kv)]
    proc = venv.zoo("run", str(RECIPE), *sets, "--out", str(run_dir), "--data-dir", str(data_dir), "-q")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert ("warning: model.bidirectional" in proc.stderr) == (variant == "bidirectional"), proc.stderr
    assert proc.stdout.startswith(f"run saved to {run_dir}: training perplexity ")

    loaded = venv.run("-c", LOAD_AND_GENERATE, str(run_dir))
    assert loaded.returncode == 0, loaded.stderr
    result = json.loads(loaded.stdout)
    assert result["cell"] == "mgu" and result["perplexity"] >= 1.0
    assert result["predictor"] == ("BeamPredictor" if variant == "beam" else "DefaultPredictor")
    if variant == "bidirectional":
        assert "bidirectional" in result["refused"]
    else:
        assert result["generated"].startswith("分开") and len(result["generated"]) == 12, result


@pytest.mark.slow
def test_the_example_test_suite_passes_where_the_package_is_installed(venv):
    proc = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests"), cwd=EXAMPLE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- a package that fails to import ------------------------------------------


def test_a_broken_package_is_listed_with_its_error_and_breaks_nothing_else(venv, broken, tmp_path):
    listed = venv.zoo("plugins")
    assert listed.returncode == 0, listed.stderr
    assert "broken plugin shiny [zoo-broken]: ImportError: zoo_broken needs the shiny extra" in listed.stdout
    assert "  mgu " in listed.stdout, "the other third-party plugins still load"

    ran = venv.zoo("run", str(tiny_recipe(tmp_path, "rnn")), "--out", str(tmp_path / "run"), "-q")
    assert ran.returncode == 0, ran.stderr

    unknown = venv.zoo("run", str(tiny_recipe(tmp_path, "shiny_cell")), "--out", str(tmp_path / "run2"), "-q")
    assert_one_line_error(
        unknown, 2, "model.cell: unknown cell 'shiny_cell'", "plugins that failed to load: shiny (ImportError"
    )


# -- two packages claiming one name ------------------------------------------


def test_two_packages_registering_one_cell_name_fail_with_one_line_naming_both(venv, twins, tmp_path):
    proc = venv.zoo("run", str(tiny_recipe(tmp_path, "twin")), "--out", str(tmp_path / "run"), "-q")
    assert_one_line_error(
        proc, 2, "cell 'twin' is registered twice", "plugin 'twin_a' [zoo-twin-a]", "plugin 'twin_b' [zoo-twin-b]"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()
    listed = venv.zoo("plugins")
    assert listed.returncode == 0 and "conflict: cell 'twin'" in listed.stdout, listed.stderr
    unrelated = venv.zoo("run", str(tiny_recipe(tmp_path, "rnn")), "--out", str(tmp_path / "run2"), "-q")
    assert unrelated.returncode == 0, unrelated.stderr


def test_a_package_whose_entry_point_shares_a_builtin_name_still_loads(venv, packages):
    venv.install(packages / "zoo-shadow")  # its entry point is called 'gru', like the built-in module's
    try:
        rows = json.loads(venv.zoo("plugins", "--json").stdout)
    finally:
        venv.pip("uninstall", "--yes", "zoo-shadow")
    dists = {(r.get("kind"), r.get("name")): r.get("distribution") for r in rows}
    assert dists[("cell", "gru")] == "rnn-zoo", dists[("cell", "gru")]
    assert dists.get(("cell", "shadow")) == "zoo-shadow" or any(
        r.get("distribution") == "zoo-shadow" for r in rows if "broken" in r
    )


# -- ZOO_LOAD_PLUGINS ----------------------------------------------------------


def test_zoo_load_plugins_names_the_distributions_to_load(venv, broken, twins, tmp_path):
    recipe = tiny_recipe(tmp_path, "mgu")
    only_mgu = {"ZOO_LOAD_PLUGINS": "Zoo_MGU, not-installed"}  # names compare as pip compares them
    proc = venv.zoo("run", str(recipe), "--out", str(tmp_path / "run"), "-q", env=only_mgu)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(venv.zoo("plugins", "--json", env=only_mgu).stdout)
    assert {r["distribution"] for r in rows} == {"rnn-zoo", "zoo-mgu"} and not [r for r in rows if "broken" in r]

    builtins_only = venv.zoo("run", str(recipe), "--out", str(tmp_path / "run2"), "-q", env={"ZOO_LOAD_PLUGINS": ""})
    assert_one_line_error(builtins_only, 2, "model.cell: unknown cell 'mgu'")
