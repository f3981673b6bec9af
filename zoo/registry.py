"""The plugin registry: components keyed by (kind, name), loaded from the ``zoo`` entry points."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.metadata
import os
import re
import reprlib
from collections.abc import Iterable
from types import ModuleType
from typing import Any

import pluggy

from zoo import hookspecs
from zoo.errors import PluginError, RecipeError
from zoo.options import unknown

__all__ = ["KINDS", "BUILTIN_DIST", "Component", "BrokenPlugin", "Registry", "get_registry"]

KINDS = ("dataset", "sampler", "cell", "backend", "trainer", "schedule", "predictor", "logger")
BUILTIN_DIST = "rnn-zoo"
_HOOK_FOR_KIND = {kind: f"register_{kind}s" for kind in KINDS}
_HOOKS = sorted(name for name in vars(hookspecs) if name.startswith("register_"))


@dataclasses.dataclass(frozen=True)
class Component:
    """One registered component: its kind, name, the class, and the plugin (entry point) and distribution that
    registered it. ``fallback``: registered by a ``trylast`` hook implementation, so that another plugin's claim of
    the name replaces it."""

    kind: str
    name: str
    obj: Any
    plugin: str
    alias_of: str | None = None
    dist: str | None = None
    fallback: bool = False

    @property
    def origin(self) -> str:
        """``plugin 'gru' [rnn-zoo]``, for messages."""
        return f"plugin '{self.plugin}'" + (f" [{self.dist}]" if self.dist else "")


@dataclasses.dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed, with the reason, as ``zoo plugins`` shows it.

    ``hook`` is the hook that failed (``register_cells``, or an unknown hook's name); ``None`` when
    the plugin failed to import or to register with pluggy, so that none of its hooks ran.
    """

    name: str
    dist: str | None
    reason: str
    hook: str | None = None

    def could_provide(self, hook: str) -> bool:
        """Whether this failure may be why something that ``hook`` (``register_cells``, ``register_commands``) adds is
        missing."""
        return self.hook is None or self.hook == hook or self.hook not in _HOOKS

    @property
    def described(self) -> str:
        """``shiny (ImportError: no module named x) from zoo-shiny``, for lookup errors."""
        return f"{self.name} ({self.reason})" + (f" from {self.dist}" if self.dist else "")


def _describe(exc: BaseException) -> str:
    """``RuntimeError: hook exploded`` on one line (pluggy's validation messages span several)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _invalid(kind: str, name: Any, obj: Any, aliases: Any) -> str | None:
    """Why ``register(name, obj, aliases)`` cannot add a component of ``kind``, or ``None`` when it can.

    A component needs a non-empty string name, aliases given as a list or tuple of such names, and a
    class whose ``Options`` is a dataclass (a recipe binds its section to it); a cell also subclasses
    :class:`zoo.nn.cell.Cell`, which the model stacks build on.
    """
    call = f"register({reprlib.repr(name)}, {reprlib.repr(obj)})"
    if not isinstance(name, str) or not name:
        return f"{call}: the name must be a non-empty string"
    if not isinstance(aliases, (list, tuple)) or not all(isinstance(a, str) and a for a in aliases):
        return f"{call}: aliases must be a list or tuple of non-empty strings, got {reprlib.repr(aliases)}"
    if not isinstance(obj, type):
        return f"{call}: the component must be a class"
    options = getattr(obj, "Options", None)
    if not (isinstance(options, type) and dataclasses.is_dataclass(options)):
        return f"{call}: {obj.__name__}.Options must be a dataclass of the component's options"
    if kind == "cell":
        from zoo.nn.cell import Cell  # torch: imported when a cell is checked, not by every command line

        if not issubclass(obj, Cell):
            return f"{call}: a cell must subclass zoo.nn.cell.Cell"
    return None


class Registry:
    """Components by (kind, name), built from a pluggy ``PluginManager``.

    :param pm: a plugin manager with the plugins already registered.
    :param broken: plugins that failed to load (shown by ``zoo plugins``, named in lookup errors).
    :param origins: each pluggy plugin name's (entry point, distribution); by default the name itself.

    Each plugin's hook implementations are called one by one. One that raises, or registers
    something that is not a component, is recorded in ``broken`` under that hook, and nothing it
    registered in that call is kept (all or nothing per call, so a half-registered plugin never
    shadows or half-provides anything); its other hooks and every other plugin still count.
    Two plugins claiming one (kind, name) make that name a conflict: looking it up is an
    error naming both, while every other component stays usable. A name registered by a
    ``trylast`` implementation is a fallback (the ``auto`` backend, the ``default`` predictor):
    another plugin's claim replaces it instead.

    The installed plugins' registry (:func:`load_registry`) imports zoo's own plugins, which need torch, when it is
    first asked for a component or for what is broken: :meth:`add_commands` before that imports only third-party
    plugins, as zoo's own register no commands, so that ``zoo --help`` starts quickly.
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        broken: Iterable[BrokenPlugin] = (),
        origins: dict[str, tuple[str, str | None]] | None = None,
    ):
        self._origins = origins or {}
        self._pending: _Installed | None = None
        self._broken: list[BrokenPlugin] = []
        self._build(pm, broken)

    @classmethod
    def _deferred(cls, plugins: _Installed) -> Registry:
        """The registry of the installed ``plugins``, which it loads when first asked for a component."""
        reg = cls(new_plugin_manager(), origins=plugins.origins)
        reg._pending = plugins
        return reg

    def _build(self, pm: pluggy.PluginManager, broken: Iterable[BrokenPlugin]) -> None:
        """Take the components of ``pm``'s plugins; ``broken`` failed to load. A failed ``register_commands`` recorded
        before stays, after these failures (as when the commands are added after the components)."""
        self._pm = pm
        failed_commands, self._broken = self._broken, list(broken)
        self._components: dict[tuple[str, str], Component] = {}
        self._conflicts: dict[tuple[str, str], list[Component]] = {}
        for kind, hook_name in _HOOK_FOR_KIND.items():
            for impl in getattr(pm.hook, hook_name).get_hookimpls():  # registration order
                self._register_from(kind, hook_name, impl)
        self._broken += [b for b in failed_commands if b not in self._broken]

    def _load(self) -> None:
        """Load the installed plugins, if this registry has some that it has not loaded yet."""
        if self._pending is not None:
            plugins, self._pending = self._pending, None
            self._build(*plugins.plugin_manager())

    @property
    def pm(self) -> pluggy.PluginManager:
        """The plugin manager holding every plugin."""
        self._load()
        return self._pm

    @property
    def broken(self) -> list[BrokenPlugin]:
        """The plugins that failed to load or in a hook, each failure once."""
        self._load()
        return self._broken

    @property
    def conflicts(self) -> dict[tuple[str, str], list[Component]]:
        """Each (kind, name) that more than one plugin claims, with every claim."""
        self._load()
        return self._conflicts

    @property
    def _table(self) -> dict[tuple[str, str], Component]:
        self._load()
        return self._components

    @classmethod
    def from_plugins(cls, *plugins: ModuleType | object) -> Registry:
        """A registry of exactly these plugin objects (modules or instances), for tests."""
        pm = new_plugin_manager()
        for p in plugins:
            pm.register(p, name=getattr(p, "__name__", None))
        pm.check_pending()
        return cls(pm)

    def _register_from(self, kind: str, hook_name: str, impl: pluggy.HookImpl) -> None:
        """Call one plugin's ``register_<kind>s`` and keep what it registered only if the whole call succeeds."""
        entry_point, dist = self._origins.get(impl.plugin_name, (impl.plugin_name, None))
        pending: list[Component] = []
        refused: list[str] = []

        def register(name: Any, obj: Any, aliases: Any = ()) -> None:
            problem = _invalid(kind, name, obj, aliases)
            if problem:
                refused.append(problem)  # even if the plugin catches the error below, the call failed
                raise PluginError(problem)
            for key, alias_of in [(name, None)] + [(a, name) for a in aliases]:
                pending.append(Component(kind, key, obj, entry_point, alias_of, dist, fallback=bool(impl.trylast)))

        error = _call(impl, register=register)
        if refused or error:
            self._failed(
                impl.plugin_name,
                hook_name,
                f"{hook_name} called {refused[0]}" if refused else f"{hook_name} raised {error}",
            )
            return
        for new in pending:
            old = self._components.get((kind, new.name))
            if old is not None and old.fallback != new.fallback:  # a fallback (trylast) gives way to any other claim
                if old.fallback:
                    self._components[(kind, new.name)] = new
                    self._conflicts.pop((kind, new.name), None)
                continue
            if old is not None:
                self._conflicts.setdefault((kind, new.name), [old]).append(new)
                continue
            self._components[(kind, new.name)] = new

    def _failed(self, plugin: str, hook: str, reason: str) -> None:
        """Record that ``plugin``'s implementation of ``hook`` failed (once, however often it is called)."""
        entry_point, dist = self._origins.get(plugin, (plugin, None))
        failure = BrokenPlugin(entry_point, dist, reason, hook)
        if failure not in self._broken:
            self._broken.append(failure)

    def broken_note(self, hook: str) -> str:
        """``; plugins that failed to load: x (...) from zoo-x; fix or uninstall it (pip uninstall zoo-x)``, naming
        the broken plugins that may have provided what ``hook`` adds, to append to an "unknown ..." message; or
        ``""``."""
        suspects = [b for b in self.broken if b.could_provide(hook)]
        if not suspects:
            return ""
        dists = sorted({b.dist for b in suspects if b.dist})
        return (
            "; plugins that failed to load: "
            + ", ".join(b.described for b in suspects)
            + f"; fix or uninstall {'them' if len(suspects) > 1 else 'it'}"
            + (f" (pip uninstall {' '.join(dists)})" if dists else "")
        )

    def add_commands(self, cli: Any) -> None:
        """Call each plugin's ``register_commands(cli)`` on the root ``click.Group``.

        A plugin that raises is recorded in ``broken`` for that hook, and the commands it added or
        replaced before raising are put back as they were; the other plugins' commands stay.
        """
        pm = self._pm if self._pending is None else self._pending.plugin_manager(builtins=False)[0]
        for impl in pm.hook.register_commands.get_hookimpls():
            before = dict(cli.commands)
            error = _call(impl, cli=cli)
            if error:
                cli.commands.clear()
                cli.commands.update(before)
                self._failed(impl.plugin_name, "register_commands", f"register_commands raised {error}")

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names (aliases included) of one kind matching a shell-style wildcard."""
        return sorted(n for (k, n) in self._table if k == kind and fnmatch.fnmatch(n, pattern))

    def builtins(self, kind: str) -> set[str]:
        """Names of one kind that zoo itself registers: a did-you-mean between equally close names prefers them."""
        return {n for (k, n), c in self._table.items() if k == kind and c.dist == BUILTIN_DIST}

    def components(self, kind: str | None = None) -> list[Component]:
        """Every registered component, optionally of one kind, sorted by kind then name."""
        return sorted(
            (c for c in self._table.values() if kind in (None, c.kind)), key=lambda c: (KINDS.index(c.kind), c.name)
        )

    def get(self, kind: str, name: str, where: str | None = None) -> Any:
        """The class registered as (kind, name).

        :param where: the recipe path being resolved (``model.cell``); errors then
            become a :class:`RecipeError` starting with it.
        :raises RecipeError | PluginError: naming the close match, the known names,
            and any broken plugin that might have provided it.
        """
        claims = self.conflicts.get((kind, name))
        if claims:
            msg = (
                f"{kind} '{name}' is registered twice: by "
                + " and by ".join(c.origin for c in claims)
                + "; uninstall one, or load only one with ZOO_LOAD_PLUGINS=<distribution>"
            )
            if where:
                raise RecipeError([f"{where}: {msg}"])
            raise PluginError(msg)
        found = self._table.get((kind, name))
        if found is not None:
            return found.obj
        msg = unknown(kind, name, self.names(kind), preferred=self.builtins(kind)) + self.broken_note(
            _HOOK_FOR_KIND[kind]
        )
        if where:
            raise RecipeError([f"{where}: {msg}"])
        raise PluginError(msg)


def _call(impl: pluggy.HookImpl, **kwargs: Any) -> str | None:
    """Call one hook implementation with the arguments it asks for; the error it raised, described, or ``None``.

    ``SystemExit`` counts as an error: a plugin must not end the process. ``KeyboardInterrupt`` still stops it.
    """
    try:
        impl.function(*[kwargs[arg] for arg in impl.argnames])
    except (Exception, SystemExit) as exc:
        return _describe(exc)
    return None


def _unknown_hooks(pm: pluggy.PluginManager, plugin: object) -> list[str]:
    """The names of ``plugin``'s hook implementations that match no specification (a misspelt hook)."""
    return sorted(
        hc.name
        for hc in pm.get_hookcallers(plugin) or ()
        if not hc.has_spec() and any(i.plugin is plugin and not i.optionalhook for i in hc.get_hookimpls())
    )


def new_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with zoo's hook specifications added and nothing registered."""
    pm = pluggy.PluginManager("zoo")
    pm.add_hookspecs(hookspecs)
    return pm


def _normalized(dist: str) -> str:
    """A distribution name as pip compares them: case, ``-``, ``_`` and ``.`` do not matter."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _allowed_dists() -> set[str] | None:
    value = os.environ.get("ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {_normalized(d.strip()) for d in value.split(",") if d.strip()}


def _dist(ep: importlib.metadata.EntryPoint) -> str | None:
    return ep.dist.name if ep.dist else None


def _key(ep: importlib.metadata.EntryPoint) -> str:
    """The plugin's name in the plugin manager: two distributions may use one entry-point name."""
    return f"{_dist(ep)}:{ep.name}"


class _Installed:
    """The ``zoo`` entry points that ``ZOO_LOAD_PLUGINS`` lets load, zoo's own first; each imported once, when
    needed."""

    def __init__(self) -> None:
        allowed = _allowed_dists()
        found = sorted(importlib.metadata.entry_points(group="zoo"), key=lambda e: (_dist(e) != BUILTIN_DIST, e.name))
        self.entry_points = [
            ep
            for ep in found
            if allowed is None or _dist(ep) == BUILTIN_DIST or _normalized(_dist(ep) or "") in allowed
        ]
        self.origins = {_key(ep): (ep.name, _dist(ep)) for ep in self.entry_points}
        self._modules: dict[str, Any] = {}
        self._failures: dict[str, str] = {}

    def _import(self, ep: importlib.metadata.EntryPoint) -> Any:
        """The entry point's plugin (a module), or ``None`` when importing it failed (see ``_failures``)."""
        key = _key(ep)
        if key not in self._modules and key not in self._failures:
            try:
                self._modules[key] = ep.load()
            except (Exception, SystemExit) as exc:  # a broken plugin must not break the CLI, nor end it
                self._failures[key] = _describe(exc)
        return self._modules.get(key)

    def plugin_manager(self, builtins: bool = True) -> tuple[pluggy.PluginManager, list[BrokenPlugin]]:
        """A plugin manager with the plugins registered in order (zoo's own only if ``builtins``), and those that
        failed."""
        pm = new_plugin_manager()
        broken: list[BrokenPlugin] = []
        for ep in self.entry_points:
            dist, key = _dist(ep), _key(ep)
            if (dist == BUILTIN_DIST and not builtins) or pm.get_plugin(key) is not None:
                continue  # or the same distribution seen twice on sys.path
            module = self._import(ep)
            if module is None:
                broken.append(BrokenPlugin(ep.name, dist, self._failures[key]))
                continue
            if pm.is_registered(module):
                continue  # two entry points naming one module
            try:
                pm.register(module, name=key)
            except Exception as exc:  # pluggy may have added some of its hooks before refusing one: drop them all
                if pm.get_plugin(key) is not None:
                    pm.unregister(name=key)
                broken.append(BrokenPlugin(ep.name, dist, _describe(exc)))
                continue
            for hook in _unknown_hooks(pm, module):  # never called: the plugin's known hooks still count
                broken.append(BrokenPlugin(ep.name, dist, unknown("hook", hook, _HOOKS), hook))
        return pm, broken


def load_registry() -> Registry:
    """The registry of every plugin in the ``zoo`` entry-point group, each loaded when first needed.

    Each entry point is imported on its own: one that fails (raising anything, ``SystemExit``
    included, or implementing a hook with the wrong signature) is recorded as broken (name,
    distribution, reason) instead of stopping the others. A hook name that matches no
    specification is recorded too, against that hook only. ``ZOO_LOAD_PLUGINS``
    (comma-separated distribution names; empty means none) restricts third-party
    plugins; the built-ins always load.
    """
    return Registry._deferred(_Installed())


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, loaded on first use and then reused."""
    return load_registry()
