"""What zoo's modules import: no import cycle anywhere in ``zoo/``, and what starts quickly stays quick.

The graph counts every import statement, those under ``if TYPE_CHECKING:`` and inside functions too: a deferred import
is still a dependency, so no cycle may hide there either. The start-up checks run fresh interpreters with only zoo's
own plugins (``ZOO_LOAD_PLUGINS=``): a third-party plugin's imports are its own. ``import torch`` itself imports
``torch.distributed``, so what loading a model must leave alone is zoo's trainer and its distributed machinery.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest

from zoo.registry import BUILTIN_DIST, load_registry

ROOT = Path(__file__).resolve().parent.parent
TRAINER = {"zoo.train.runner", "zoo.train.distributed", "zoo.train.launch"}


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package in ``root`` by its dotted name (a package's ``__init__`` by the package's)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = (package, *path.relative_to(root).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that one import statement of module ``importer`` names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names} & known.keys()
    base = node.module or ""
    if node.level:  # relative: from the importer's package, one level up per dot after the first
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
    submodules = {f"{base}.{alias.name}" for alias in node.names} & known.keys()  # from zoo.hub import data
    attributes = len(submodules) < len(node.names)  # from zoo.recipe import Recipe: the module zoo.recipe
    return submodules | ({base} & known.keys() if attributes else set())


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Each module of the package in ``root`` and the other modules of it that it imports, anywhere in its source."""
    known = modules(root, package)
    graph = {}
    for name, path in known.items():
        nodes = [
            n
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(n, (ast.Import, ast.ImportFrom))
        ]
        graph[name] = set().union(*(_targets(n, name, path.name == "__init__.py", known) for n in nodes)) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as the path ``[a, b, ..., a]``, or ``None`` when there is none."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    return next((cycle for cycle in map(visit, sorted(graph)) if cycle), None)


def test_the_graph_counts_every_kind_of_import(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    sources = {
        "__init__.py": "from pkg.sub import leaf\n",
        "base.py": "import os\n",
        "plain.py": "import pkg.sub.leaf\n",
        "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.plain import x\n",
        "deferred.py": "def f():\n    from . import typed\n",
        "sub/__init__.py": "from .leaf import y\n",
        "sub/leaf.py": "from .. import base\nfrom ..sub import leaf\n",
    }
    for name, source in sources.items():
        (package / name).write_text(source)
    assert import_graph(package, "pkg") == {
        "pkg": {"pkg.sub.leaf"},
        "pkg.base": set(),
        "pkg.plain": {"pkg.sub.leaf"},
        "pkg.typed": {"pkg.plain"},
        "pkg.deferred": {"pkg.typed"},
        "pkg.sub": {"pkg.sub.leaf"},
        "pkg.sub.leaf": {"pkg.base"},
    }
    assert find_cycle(import_graph(package, "pkg")) is None
    (package / "base.py").write_text("def f():\n    from pkg import deferred\n")
    assert find_cycle(import_graph(package, "pkg")) == [
        "pkg.sub.leaf",
        "pkg.base",
        "pkg.deferred",
        "pkg.typed",
        "pkg.plain",
        "pkg.sub.leaf",
    ]


def test_zoo_has_no_import_cycle():
    graph = import_graph(ROOT / "zoo", "zoo")
    assert len(graph) > 50 and graph["zoo.nn.build"] >= {"zoo.nn.model", "zoo.recipe"}, (
        "the graph misses modules or imports"
    )
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _loaded_after(code: str, pythonpath: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code`` (a ``SystemExit`` ends only the code), with
    ``pythonpath`` first on the module path."""
    ran = f"try:\n{textwrap.indent(code, '    ')}\nexcept SystemExit:\n    pass\n"
    path = f"sys.path.insert(0, {str(pythonpath or ROOT)!r})\n"
    script = f"import json, sys\n{path}{ran}print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "ZOO_LOAD_PLUGINS": ""}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def _cli(*argv: str, **env: str) -> str:
    """Code that runs ``zoo ARGV`` in its process, with ``env`` added to the environment, and fails unless it
    succeeds."""
    return (
        f"import os\nos.environ.update({env!r})\nfrom zoo.cli import main\n"
        f"try:\n    main({list(argv)!r})\nexcept SystemExit as e:\n"
        "    if e.code not in (0, None):\n        raise RuntimeError(f'exit status {e.code}') from None\n"
    )


QUICK = {
    "import zoo": "import zoo",
    "zoo --help": _cli("--help"),
    "zoo --version": _cli("--version"),
    "zoo completion bash": _cli("completion", "bash"),
    "completing a command": _cli(_ZOO_COMPLETE="bash_complete", COMP_WORDS="zoo ru", COMP_CWORD="1"),
    "zoo plugins": _cli("plugins"),
    "zoo plugins -v": _cli("plugins", "-v"),
    "zoo plugins --json": _cli("plugins", "--json", "-v"),
    **{
        f"zoo validate {p.name}": _cli("validate", f"recipes/{p.name}")
        for p in sorted((ROOT / "recipes").glob("*.yaml"))
    },
    "zoo validate --set": _cli(
        "validate", "recipes/jay_gru.yaml", "--set", "backend.name=numpy", "--set", "model.impl=scratch"
    ),
}


@pytest.mark.parametrize("code", QUICK.values(), ids=list(QUICK))
def test_what_needs_no_model_imports_no_torch(code):
    loaded = _loaded_after(code)
    assert "zoo" in loaded and "torch" not in loaded, sorted(m for m in loaded if m.startswith("zoo"))


def test_registering_the_example_plugins_imports_no_torch():
    """The example package's plugin modules, which ``zoo plugins`` imports when it is installed, leave torch for
    when they compute (as zoo's own do, through the check above)."""
    code = "import zoo_mgu.mgu, zoo_mgu.beam, zoo_mgu.commands"
    loaded = _loaded_after(code, pythonpath=ROOT / "examples" / "zoo-mgu")
    assert "zoo_mgu.beam" in loaded and "torch" not in loaded


def test_loading_a_model_imports_no_trainer():
    loaded = _loaded_after("import zoo\nzoo.load('dinos_rnn').generate('', 5)")
    assert "torch" in loaded and not loaded & TRAINER, sorted(loaded & TRAINER)


def test_zoos_own_plugins_register_no_commands():
    """``zoo --help`` imports only third-party plugins to find the commands plugins add: zoo's own must add none."""
    impls = load_registry().pm.hook.register_commands.get_hookimpls()
    assert [i.plugin_name for i in impls if i.plugin_name.startswith(f"{BUILTIN_DIST}:")] == []


def test_the_public_api_is_as_it_was():
    import zoo.experiments.compare
    import zoo.experiments.sweep
    import zoo.hub.cards
    import zoo.hub.pretrained
    import zoo.train.runner

    homes = {
        "load": zoo.hub.pretrained,
        "Model": zoo.hub.pretrained,
        "list_models": zoo.hub.cards,
        "run": zoo.train.runner,
        "resume": zoo.train.runner,
        "RunResult": zoo.train.runner,
        "compare": zoo.experiments.compare,
        "sweep": zoo.experiments.sweep,
    }
    assert set(zoo.__all__) == {*homes, "__version__", "hookimpl", "Vocab"}
    for name in zoo.__all__:
        assert name in dir(zoo)
        assert getattr(zoo, name) is getattr(homes.get(name, zoo), name)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        zoo.nothing  # noqa: B018


def _choices(command: click.Command, param: str) -> tuple[str, ...]:
    return next(p.type.choices for p in command.params if p.name == param)


def test_the_command_lines_choices_are_the_cores():
    """The options ``zoo --help`` shows without importing the core list what the core takes."""
    from zoo.cli.evaluate import eval_command
    from zoo.cli.hub import ship_command
    from zoo.hub.pretrained import SPLITS
    from zoo.hub.ship import DTYPES

    assert _choices(eval_command, "split") == SPLITS
    assert _choices(ship_command, "dtype") == tuple(DTYPES)
