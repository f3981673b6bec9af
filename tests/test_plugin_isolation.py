"""A broken plugin never takes the CLI down: each way of breaking is caught per plugin and per hook.

Five installed dummy distributions each break differently: a ``register_cells`` that raises halfway,
a ``register_commands`` that raises after adding a command, ``sys.exit(3)`` at import, a hook
name that matches no specification, and ``register(None, 42)``. They go into one fresh
environment (see ``test_plugin_package.Venv``); each case is tried with its distribution alone
loaded (``ZOO_LOAD_PLUGINS``), and with all of them at once. ``zoo plugins`` names each with its
distribution and the hook that failed, every command that does not need them works, and a
recipe (or command) that names what one of them would have provided fails in one line naming
its distribution. Then in-process: what ``register`` accepts, all or nothing per hook call, and
a Ctrl-C stop reported as a stop.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import types

import pytest
from clitools import assert_one_line_error
from test_plugin_package import ROOT, Venv, tiny_recipe, write_package
from zoo_plugins.gru import GRU

import zoo
import zoo.cli
from zoo.errors import Interrupted, PluginError
from zoo.registry import Registry

BOOM_CELLS = '''\
import zoo
from zoo_plugins.gru import GRU
from zoo_plugins.predictor import DefaultPredictor


class Boom(GRU):
    """A GRU that never gets registered: its hook raises after registering it."""


class Calm(DefaultPredictor):
    """A predictor from the same plugin, registered by a hook that works."""


@zoo.hookimpl
def register_cells(register):
    register("boom", Boom)
    raise RuntimeError("hook exploded")


@zoo.hookimpl
def register_predictors(register):
    register("calm", Calm)
'''

BOOM_COMMANDS = '''\
import zoo


@zoo.hookimpl
def register_commands(cli):
    @cli.command("boom-cmd")
    def boom_cmd():
        """Added, then taken away again: the hook raises afterwards."""

    raise RuntimeError("hook exploded")
'''

SPACESHIP = """\
import zoo
from zoo_plugins.gru import GRU


@zoo.hookimpl
def register_spaceships(register):
    register("spaceship", GRU)
"""

NONE = """\
import zoo
from zoo_plugins.gru import GRU


@zoo.hookimpl
def register_cells(register):
    register("nothing", GRU)
    register(None, 42)
"""

# distribution, entry point, module source, the hook named as failing, the reason's start, a cell it names
CASES = {
    "register_cells raises": (
        "zoo-boom-cells",
        "boom",
        BOOM_CELLS,
        "register_cells",
        "register_cells raised RuntimeError: hook exploded",
        "boom",
    ),
    "register_commands raises": (
        "zoo-boom-commands",
        "boomcmd",
        BOOM_COMMANDS,
        "register_commands",
        "register_commands raised RuntimeError: hook exploded",
        None,
    ),
    "sys.exit at import": ("zoo-exit", "exiter", "import sys\nsys.exit(3)\n", None, "SystemExit: 3", "exit_cell"),
    "unknown hook": (
        "zoo-spaceship",
        "spaceship",
        SPACESHIP,
        "register_spaceships",
        "unknown hook 'register_spaceships'",
        "spaceship",
    ),
    "register(None, 42)": (
        "zoo-none",
        "none",
        NONE,
        "register_cells",
        "register_cells called register(None, 42): the name must be",
        "nothing",
    ),
}


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    """One fresh environment with every broken distribution installed at once."""
    env = Venv(tmp_path_factory.mktemp("venv") / "env")
    packages = tmp_path_factory.mktemp("packages")
    env.install(
        *[write_package(packages, dist, entry_point, source) for dist, entry_point, source, *_ in CASES.values()]
    )
    return env


# Every CLI call of these tests, made in one process of that environment (each start imports torch): for each,
# ZOO_LOAD_PLUGINS (None: unset, every plugin loads) and the command line, then what it wrote and exited with.
DRIVER = """\
import contextlib, io, json, os, sys
import zoo.cli
import zoo.registry

results = []
for load, argv in json.loads(sys.argv[1]):
    os.environ.pop("ZOO_LOAD_PLUGINS", None)
    if load is not None:
        os.environ["ZOO_LOAD_PLUGINS"] = load
    zoo.registry.get_registry.cache_clear()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            zoo.cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def ran(venv, tmp_path_factory) -> dict[tuple[str, str], subprocess.CompletedProcess]:
    """Per case (its distribution alone loaded) and for all of them loaded at once ("all"): ``zoo plugins``
    (text and JSON), ``zoo validate`` of a shipped recipe, and ``zoo run`` of a tiny recipe naming the cell the
    broken plugin would have provided (``zoo boom-cmd`` for the broken commands), keyed by (case, label)."""
    folder = tmp_path_factory.mktemp("recipes")
    shipped = ["validate", str(ROOT / "recipes" / "jay_gru.yaml")]
    calls = {("all", "plugins"): (None, ["plugins"]), ("all", "validate"): (None, shipped)}
    for case, (dist, *_, cell) in CASES.items():
        calls[case, "plugins"] = (dist, ["plugins"])
        calls[case, "json"] = (dist, ["plugins", "--json"])
        calls[case, "validate"] = (dist, shipped)
        needs_it = ["run", str(tiny_recipe(folder, cell)), "--out", str(folder / cell), "-q"] if cell else ["boom-cmd"]
        calls[case, "needs it"] = (dist, needs_it)
    proc = venv.run("-c", DRIVER, json.dumps(list(calls.values())))
    assert proc.returncode == 0, proc.stderr
    return {
        key: subprocess.CompletedProcess(argv, *result)
        for (key, (_, argv)), result in zip(calls.items(), json.loads(proc.stdout))
    }


@pytest.mark.parametrize("case", CASES)
def test_zoo_plugins_lists_the_broken_plugin_with_its_distribution_and_hook(ran, case):
    dist, entry_point, _, hook, reason, _ = CASES[case]
    for text in ran[case, "plugins"], ran["all", "plugins"]:
        assert text.returncode == 0, text.stderr
        assert f"broken plugin {entry_point} [{dist}]: {reason}" in text.stdout, text.stdout
        assert "  gru " in text.stdout, "the built-ins still load"
    as_json = ran[case, "json"]
    assert as_json.returncode == 0, as_json.stderr
    rows = [r for r in json.loads(as_json.stdout) if r.get("distribution") == dist]
    assert [(r["broken"], r["hook"]) for r in rows if "broken" in r] == [(entry_point, hook)], rows
    assert [r for r in rows if "broken" in r][0]["reason"].startswith(reason)
    assert not [r for r in rows if r.get("kind") == "cell"], "nothing from a failed hook call is registered"


def test_a_plugins_other_hooks_still_register(ran):
    rows = json.loads(ran["register_cells raises", "json"].stdout)
    assert {(r.get("kind"), r.get("name")): r.get("distribution") for r in rows}.get(
        ("predictor", "calm")
    ) == "zoo-boom-cells"


@pytest.mark.parametrize("case", [*CASES, "all"])
def test_commands_that_do_not_need_a_broken_plugin_work(ran, case):
    proc = ran[case, "validate"]
    assert proc.returncode == 0 and proc.stdout.endswith("jay_gru.yaml: ok\n"), proc.stderr
    assert proc.stderr == "", proc.stderr


@pytest.mark.parametrize("case", CASES)
def test_what_needs_a_broken_plugin_fails_in_one_line_naming_its_distribution(ran, case):
    dist, entry_point, _, _, reason, cell = CASES[case]
    missing = f"model.cell: unknown cell '{cell}'" if cell else "No such command 'boom-cmd'"
    assert_one_line_error(
        ran[case, "needs it"],
        2,
        missing,
        f"plugins that failed to load: {entry_point} ({reason}",
        f") from {dist}; fix or uninstall it (pip uninstall {dist})",
    )


# -- in process -----------------------------------------------------------------


def registry_of(**hooks) -> Registry:
    """A registry of one inline plugin ``p`` implementing ``hooks``."""
    return Registry.from_plugins(
        types.SimpleNamespace(__name__="p", **{k: zoo.hookimpl(fn) for k, fn in hooks.items()})
    )


class DictOptions:
    """A class whose Options is not a dataclass."""

    Options = dict


class Bare:
    """A class with no Options at all."""


@pytest.mark.parametrize(
    "call, problem",
    [
        (
            lambda register: register("", GRU),
            "register('', <class 'zoo_plugins.gru.GRU'>): the name must be a non-empty string",
        ),
        (
            lambda register: register("x", GRU, aliases="y"),
            "aliases must be a list or tuple of non-empty strings, got 'y'",
        ),
        (
            lambda register: register("x", GRU, aliases=[None]),
            "aliases must be a list or tuple of non-empty strings, got [None]",
        ),
        (lambda register: register("x", object()), "the component must be a class"),
        (lambda register: register("x", DictOptions), "DictOptions.Options must be a dataclass"),
        (lambda register: register("x", Bare), "Bare.Options must be a dataclass"),
    ],
    ids=["empty name", "aliases a string", "alias None", "an instance", "Options a dict", "no Options"],
)
def test_register_refuses_what_is_not_a_component(call, problem):
    reg = registry_of(register_cells=call)
    assert reg.names("cell") == []
    assert [(b.name, b.hook) for b in reg.broken] == [("p", "register_cells")]
    assert reg.broken[0].reason.startswith("register_cells called register(") and problem in reg.broken[0].reason, (
        reg.broken[0].reason
    )


def test_a_cell_must_subclass_cell():
    from zoo_plugins.predictor import DefaultPredictor

    reg = registry_of(register_cells=lambda register: register("x", DefaultPredictor))
    assert "a cell must subclass zoo.nn.cell.Cell" in reg.broken[0].reason
    assert registry_of(register_predictors=lambda register: register("x", DefaultPredictor)).broken == []


def test_a_refusal_the_plugin_catches_still_marks_the_hook_broken():
    def register_cells(register):
        with contextlib.suppress(PluginError):
            register(None, 42)
        register("fine", GRU)

    reg = registry_of(register_cells=register_cells)
    assert reg.names("cell") == [] and reg.broken[0].hook == "register_cells"


def test_sys_exit_in_a_hook_is_caught_and_all_or_nothing():
    def register_cells(register):
        register("first", GRU, aliases=("one",))
        raise SystemExit(3)

    reg = registry_of(register_cells=register_cells, register_predictors=lambda: None)
    assert reg.names("cell") == []
    assert [(b.name, b.hook, b.reason) for b in reg.broken] == [
        ("p", "register_cells", "register_cells raised SystemExit: 3")
    ]
    with pytest.raises(
        PluginError, match=r"unknown cell 'first'.*p \(register_cells raised SystemExit: 3\); fix or uninstall it$"
    ):
        reg.get("cell", "first")
    assert "failed to load" not in str(pytest.raises(PluginError, reg.get, "predictor", "x").value), (
        "a cells failure is no suspect"
    )


def test_a_failing_register_commands_leaves_the_cli_as_it_was():
    import click

    @click.group()
    def cli() -> None:
        """A root group."""

    def register_commands(cli):
        cli.add_command(click.Command("new"))
        cli.add_command(click.Command("old-replaced"), name="old")
        raise ValueError("no")

    cli.add_command(click.Command("old"))
    before = dict(cli.commands)
    reg = registry_of(register_commands=register_commands)
    reg.add_commands(cli)
    reg.add_commands(cli)  # main() may run more than once in one process: one record
    assert cli.commands == before
    assert [(b.hook, b.reason) for b in reg.broken] == [
        ("register_commands", "register_commands raised ValueError: no")
    ]


MODULE = """\
import zoo
from zoo_plugins.gru import GRU


@zoo.hookimpl
def register_cells(register):
    register("{name}", GRU)


@zoo.hookimpl
def {second}:
    pass
"""


@pytest.mark.parametrize(
    "name, second, kept, reason",
    [
        ("wrong_signature", "register_predictors(register, extra)", False, "PluginValidationError: Plugin "),
        ("spaceship_too", "register_spaceships(register)", True, "unknown hook 'register_spaceships'"),
    ],
    ids=["wrong signature", "unknown hook"],
)
def test_load_registry_isolates_a_bad_hook(monkeypatch, tmp_path, name, second, kept, reason):
    """A signature pluggy refuses drops the whole module (pluggy may have added its other hooks first);
    an unknown hook is only reported, since nothing calls it, and the plugin's other hooks count."""
    import importlib.metadata

    from test_registry import fake_entry_points

    from zoo.registry import load_registry

    (tmp_path / f"{name}.py").write_text(MODULE.format(name=name, second=second))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        importlib.metadata, "entry_points", fake_entry_points([importlib.metadata.EntryPoint(name, name, "zoo")])
    )
    reg = load_registry()
    assert (name in reg.names("cell")) is kept
    assert [b.name for b in reg.broken] == [name] and reg.broken[0].reason.startswith(reason), reg.broken


# -- a Ctrl-C stop is a stop, not an error ----------------------------------------


@pytest.mark.parametrize(
    "raised, line",
    [
        (
            Interrupted(
                "stopped by SIGINT at epoch 1, batch 3 after writing a checkpoint; "
                "continue with  zoo run --resume runs/x"
            ),
            "stopped by SIGINT at epoch 1, batch 3 after writing a checkpoint; continue with  zoo run --resume runs/x",
        ),
        (KeyboardInterrupt(), "stopped by Ctrl-C"),
    ],
    ids=["checkpointed", "second Ctrl-C"],
)
def test_a_ctrl_c_stop_is_reported_as_a_stop(monkeypatch, capsys, raised, line):
    def stopped(*args, **kwargs):
        raise raised

    monkeypatch.setattr(zoo.cli.cli, "main", stopped)
    with pytest.raises(SystemExit) as exit_:
        zoo.cli.main(["run", "recipes/jay_gru.yaml"])
    assert exit_.value.code == 130
    assert capsys.readouterr().err == line + "\n"
