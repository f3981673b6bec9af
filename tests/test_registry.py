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
    assert str(err.value).startswith(
        "model.cell: cell 'gru' is registered twice: by plugin 'plugin_a' and by plugin 'plugin_b'"
    )
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

    reg = Registry(
        new_plugin_manager(), broken=[BrokenPlugin("fancy", "zoo-fancy", "ImportError: no module named fancy_dep")]
    )
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
    assert [(b.name, b.reason) for b in reg.broken] == [
        ("shiny", "ModuleNotFoundError: No module named 'zoo_no_such_module_xyz'")
    ]


def test_zoo_load_plugins_empty_means_builtins_only(monkeypatch):
    import importlib.metadata

    from zoo.registry import load_registry

    broken = importlib.metadata.EntryPoint("shiny", "zoo_no_such_module_xyz", "zoo")
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points([broken]))
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    reg = load_registry()
    assert reg.broken == [] and reg.get("cell", "gru") is GRU


# -- fallbacks: a trylast registration gives way ------------------------------


def fallback_plugin(name: str, kind_hook: str, key: str, cls: type) -> types.SimpleNamespace:
    """An inline plugin whose ``kind_hook`` implementation is ``trylast``: it registers ``key`` as a fallback."""
    hook = zoo.hookimpl(trylast=True)(lambda register: register(key, cls))
    return types.SimpleNamespace(__name__=name, **{kind_hook: hook})


def test_a_trylast_registration_is_a_fallback_another_plugin_replaces():
    from zoo_plugins.backends import AutoBackend

    class Mine(AutoBackend):
        """An automatic choice that also knows another accelerator."""

    fallback = fallback_plugin("builtin", "register_backends", "auto", AutoBackend)
    mine = plugin("mine", register_backends=lambda register: register("auto", Mine))
    for order in ((fallback, mine), (mine, fallback)):  # trylast, not the order of registration, decides
        reg = Registry.from_plugins(*order)
        assert reg.get("backend", "auto") is Mine and reg.conflicts == {}
        assert [(c.name, c.plugin, c.fallback) for c in reg.components("backend")] == [("auto", "mine", False)]


def test_two_plugins_replacing_one_fallback_are_a_conflict_naming_them():
    from zoo_plugins.backends import AutoBackend

    fallback = fallback_plugin("builtin", "register_backends", "auto", AutoBackend)
    a = plugin("plugin_a", register_backends=lambda register: register("auto", AutoBackend))
    b = plugin("plugin_b", register_backends=lambda register: register("auto", AutoBackend))
    with pytest.raises(PluginError, match=r"'auto' is registered twice: by plugin 'plugin_a' and by plugin 'plugin_b'"):
        Registry.from_plugins(fallback, a, b).get("backend", "auto")
    both = Registry.from_plugins(fallback, fallback_plugin("other", "register_backends", "auto", AutoBackend))
    with pytest.raises(PluginError, match="registered twice"):  # two fallbacks: neither gives way
        both.get("backend", "auto")


def test_the_builtin_fallbacks_are_the_auto_backend_and_the_default_predictor(registry):
    fallbacks = {(c.kind, c.name) for c in registry.components() if c.fallback}
    assert fallbacks == {("backend", "auto"), ("predictor", "default")}


# -- every registered component has its protocol's members, with their signatures ----------------------------------


def protocol_problems(cls: type, protocol: type) -> list[str]:
    """What ``cls`` lacks of ``protocol``: a class variable, a property, a method, or a method's parameter (by name and
    kind, a default where the protocol has one), or a required parameter the protocol does not pass."""
    import inspect
    import typing

    problems = [
        f"{cls.__name__}.{name} is missing"
        for name, hint in typing.get_type_hints(protocol).items()
        if typing.get_origin(hint) is typing.ClassVar and not hasattr(cls, name)
    ]
    for name, member in vars(protocol).items():
        if isinstance(member, property) and not hasattr(cls, name):
            problems.append(f"{cls.__name__}.{name} is missing")
        if not inspect.isfunction(member) or name.startswith("_"):
            continue
        impl = getattr(cls, name, None)
        if not callable(impl):
            problems.append(f"{cls.__name__}.{name}() is missing")
            continue
        want, have = inspect.signature(member).parameters, inspect.signature(impl).parameters
        var_keyword = any(p.kind is p.VAR_KEYWORD for p in have.values())
        for pname, p in want.items():
            q = have.get(pname)
            if q is None:
                if not (var_keyword and p.kind is p.KEYWORD_ONLY):
                    problems.append(f"{cls.__name__}.{name}() has no parameter {pname!r}")
            elif q.kind is not p.kind and not (q.kind is q.POSITIONAL_OR_KEYWORD and p.kind is p.KEYWORD_ONLY):
                problems.append(
                    f"{cls.__name__}.{name}() takes {pname!r} as {q.kind.description}, not {p.kind.description}"
                )
            elif p.default is not p.empty and q.default is q.empty:
                problems.append(f"{cls.__name__}.{name}() gives {pname!r} no default")
        required = [
            pname
            for pname, q in have.items()
            if q.default is q.empty and q.kind in (q.POSITIONAL_OR_KEYWORD, q.KEYWORD_ONLY)
        ]
        problems += [
            f"{cls.__name__}.{name}() requires {pname!r}, which callers do not pass"
            for pname in required
            if pname not in want
        ]
    return problems


def _protocols():
    from zoo.plugin import Backend, Dataset, Logger, Predictor, Sampler, Schedule, Trainer

    return {
        "dataset": Dataset,
        "sampler": Sampler,
        "backend": Backend,
        "trainer": Trainer,
        "schedule": Schedule,
        "predictor": Predictor,
        "logger": Logger,
    }


@pytest.mark.parametrize("kind", ["dataset", "sampler", "backend", "trainer", "schedule", "predictor", "logger"])
def test_every_registered_component_has_its_protocols_members_and_signatures(registry, kind):
    protocol = _protocols()[kind]
    problems = {c.name: protocol_problems(c.obj, protocol) for c in registry.components(kind) if not c.alias_of}
    assert problems and {name: p for name, p in problems.items() if p} == {}


def test_the_signature_check_sees_what_isinstance_does_not():
    from zoo.plugin import NoOptions, Predictor

    class Sloppy:
        """Has every member of Predictor by name (so isinstance passes), with the wrong parameters."""

        Options = NoOptions

        def generate(self, model, prefix):
            return prefix

        def generate_batch(
            self,
            model,
            vocab,
            prefixes,
            num_tokens,
            *,
            strategy="greedy",
            temperature=1.0,
            top_k=None,
            generator=None,
            stop=None,
        ):
            return prefixes

        def perplexity(self, model, vocab, text, base):
            return 1.0

        def label(self, model, vocab, text):
            return text

    assert isinstance(Sloppy(), Predictor)
    assert protocol_problems(Sloppy, Predictor) == [
        "Sloppy.generate() has no parameter 'vocab'",
        "Sloppy.generate() has no parameter 'num_tokens'",
        "Sloppy.generate() has no parameter 'strategy'",
        "Sloppy.generate() has no parameter 'temperature'",
        "Sloppy.generate() has no parameter 'top_k'",
        "Sloppy.generate() has no parameter 'generator'",
        "Sloppy.generate() has no parameter 'stop'",
        "Sloppy.perplexity() requires 'base', which callers do not pass",
    ]


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_what_a_backend_runs_predictions_on_is_the_model_or_an_inference(registry, backend):
    from zoo.options import ModelOptions
    from zoo.plugin import Inference, LanguageModel

    model = LanguageModel(registry.get("cell", "gru")(), ModelOptions(cell="gru", impl="scratch", hidden_size=4), 5)
    runner = registry.get("backend", backend)().inference(model)
    assert runner is model or (isinstance(runner, Inference) and protocol_problems(type(runner), Inference) == [])
