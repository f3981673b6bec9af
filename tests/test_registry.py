"""The plugin registry: lookups with suggestions, collisions naming both plugins, broken plugins."""

from __future__ import annotations

import types

import pytest
from zoo_plugins.gru import GRU

import zoo
from zoo.errors import PluginError, RecipeError
from zoo.registry import KINDS, Registry


def plugin(name: str, **hooks) -> types.SimpleNamespace:
    """An inline plugin object with the given hook implementations."""
    ns = types.SimpleNamespace(__name__=name)
    for hook, fn in hooks.items():
        setattr(ns, hook, zoo.hookimpl(fn))
    return ns


def test_builtins_register_every_kind_through_entry_points(registry):
    for kind in KINDS:
        assert registry.names(kind), f"no built-in {kind}"
    assert registry.get("cell", "gru") is GRU
    assert "gru" in registry.names("cell", "gr*")
    assert registry.names("cell", "zz*") == []


def test_unknown_name_suggests_the_close_one(registry):
    with pytest.raises(RecipeError) as err:
        registry.get("cell", "gur", where="model.cell")
    assert str(err.value).startswith("model.cell: unknown cell 'gur'; did you mean 'gru'? known: gru")


def test_two_plugins_claiming_one_name_is_an_error_naming_both_when_used():
    a = plugin("plugin_a", register_cells=lambda register: register("gru", GRU))
    b = plugin("plugin_b", register_cells=lambda register: (register("gru", GRU), register("other", GRU)))
    reg = Registry.from_plugins(a, b)
    with pytest.raises(RecipeError) as err:
        reg.get("cell", "gru", where="model.cell")
    assert str(err.value).startswith("model.cell: cell 'gru' is registered twice: by plugin 'plugin_a' and by plugin 'plugin_b'")
    assert reg.get("cell", "other") is GRU  # the rest stays usable


def test_an_alias_clashing_with_a_name_is_a_collision():
    a = plugin("plugin_a", register_cells=lambda register: register("gru", GRU))
    b = plugin("plugin_b", register_cells=lambda register: register("mygru", GRU, aliases=("gru",)))
    with pytest.raises(PluginError, match="plugin_a.*plugin_b"):
        Registry.from_plugins(a, b).get("cell", "gru")


def test_misspelt_hook_is_reported():
    bad = plugin("typo_plugin", register_cell=lambda register: None)
    with pytest.raises(Exception) as err:
        Registry.from_plugins(bad)
    assert "register_cell" in str(err.value)


def test_broken_plugins_are_named_in_lookup_errors():
    from zoo.registry import BrokenPlugin, new_plugin_manager

    reg = Registry(new_plugin_manager(), broken=[BrokenPlugin("fancy", "zoo-fancy", "ImportError: no module named fancy_dep")])
    with pytest.raises(RecipeError, match="plugins that failed to load: fancy"):
        reg.get("cell", "fancy_cell", where="model.cell")


@pytest.mark.parametrize("hook", [name for name in dir(zoo.hookspecs) if name.startswith("register_")])
def test_every_hookspec_is_documented_with_params_and_returns(hook):
    doc = getattr(zoo.hookspecs, hook).__doc__ or ""
    assert doc.startswith("Called "), hook
    assert ":param" in doc and ":returns:" in doc, hook


def fake_entry_points(extra):
    """The installed ``zoo`` entry points plus ``extra`` ones (EntryPoint objects)."""
    import importlib.metadata

    real = importlib.metadata.entry_points

    def entry_points(group=None, **kw):
        eps = list(real(group=group, **kw))
        return eps + list(extra) if group == "zoo" else eps

    return entry_points


def test_a_plugin_that_fails_to_import_is_isolated_and_reported(monkeypatch):
    import importlib.metadata

    from zoo.registry import load_registry

    broken = importlib.metadata.EntryPoint("shiny", "zoo_no_such_module_xyz", "zoo")
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points([broken]))
    reg = load_registry()
    assert reg.get("cell", "gru") is GRU, "the built-ins still load"
    assert [(b.name, b.reason) for b in reg.broken] == [("shiny", "ModuleNotFoundError: No module named 'zoo_no_such_module_xyz'")]


def test_zoo_load_plugins_empty_means_builtins_only(monkeypatch):
    import importlib.metadata

    from zoo.registry import load_registry

    broken = importlib.metadata.EntryPoint("shiny", "zoo_no_such_module_xyz", "zoo")
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points([broken]))
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    reg = load_registry()
    assert reg.broken == [] and reg.get("cell", "gru") is GRU
