"""The plugin registry: components keyed by (kind, name), loaded from the ``zoo`` entry points."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.metadata
import os
import re
from types import ModuleType
from typing import Any, Iterable

import pluggy

from . import hookspecs
from .errors import PluginError, RecipeError
from .options import unknown

__all__ = ["KINDS", "BUILTIN_DIST", "Component", "BrokenPlugin", "Registry", "get_registry"]

KINDS = ("dataset", "sampler", "cell", "backend", "trainer", "predictor")
BUILTIN_DIST = "rnn-zoo"
_HOOK_FOR_KIND = {kind: f"register_{kind}s" for kind in KINDS}


@dataclasses.dataclass(frozen=True)
class Component:
    """One registered component: its kind, name, the class, and the plugin (entry point) and distribution that registered it."""

    kind: str
    name: str
    obj: Any
    plugin: str
    alias_of: str | None = None
    dist: str | None = None

    @property
    def origin(self) -> str:
        """``plugin 'gru' [rnn-zoo]``, for messages."""
        return f"plugin '{self.plugin}'" + (f" [{self.dist}]" if self.dist else "")


@dataclasses.dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to load, with the reason, as ``zoo plugins`` shows it."""

    name: str
    dist: str | None
    reason: str


class Registry:
    """Components by (kind, name), built from a pluggy ``PluginManager``.

    :param pm: a plugin manager with the plugins already registered.
    :param broken: plugins that failed to load (shown by ``zoo plugins``, named in lookup errors).
    :param origins: each pluggy plugin name's (entry point, distribution); by default the name itself.

    Two plugins claiming one (kind, name) make that name a conflict: looking it up is an
    error naming both, while every other component stays usable.
    """

    def __init__(self, pm: pluggy.PluginManager, broken: Iterable[BrokenPlugin] = (), origins: dict[str, tuple[str, str | None]] | None = None):
        self.pm = pm
        self.broken = list(broken)
        self._origins = origins or {}
        self._table: dict[tuple[str, str], Component] = {}
        self.conflicts: dict[tuple[str, str], list[Component]] = {}
        for kind, hook_name in _HOOK_FOR_KIND.items():
            hook = getattr(pm.hook, hook_name)
            for impl in hook.get_hookimpls():  # registration order
                impl.function(register=functools.partial(self._add, kind, impl.plugin_name))

    @classmethod
    def from_plugins(cls, *plugins: ModuleType | object) -> "Registry":
        """A registry of exactly these plugin objects (modules or instances), for tests."""
        pm = new_plugin_manager()
        for p in plugins:
            pm.register(p, name=getattr(p, "__name__", None))
        pm.check_pending()
        return cls(pm)

    def _add(self, kind: str, plugin: str, name: str, obj: Any, aliases: Iterable[str] = ()) -> None:
        entry_point, dist = self._origins.get(plugin, (plugin, None))
        for key, alias_of in [(name, None)] + [(a, name) for a in aliases]:
            new = Component(kind, key, obj, entry_point, alias_of, dist)
            old = self._table.get((kind, key))
            if old is not None:
                self.conflicts.setdefault((kind, key), [old]).append(new)
                continue
            self._table[(kind, key)] = new

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        """Sorted names (aliases included) of one kind matching a shell-style wildcard."""
        return sorted(n for (k, n) in self._table if k == kind and fnmatch.fnmatch(n, pattern))

    def components(self, kind: str | None = None) -> list[Component]:
        """Every registered component, optionally of one kind, sorted by kind then name."""
        return sorted((c for c in self._table.values() if kind in (None, c.kind)), key=lambda c: (KINDS.index(c.kind), c.name))

    def get(self, kind: str, name: str, where: str | None = None) -> Any:
        """The class registered as (kind, name).

        :param where: the recipe path being resolved (``model.cell``); errors then
            become a :class:`RecipeError` starting with it.
        :raises RecipeError | PluginError: naming the close match, the known names,
            and any broken plugin that might have provided it.
        """
        claims = self.conflicts.get((kind, name))
        if claims:
            msg = (f"{kind} '{name}' is registered twice: by " + " and by ".join(c.origin for c in claims)
                   + "; uninstall one, or load only one with ZOO_LOAD_PLUGINS=<distribution>")
            if where:
                raise RecipeError([f"{where}: {msg}"])
            raise PluginError(msg)
        found = self._table.get((kind, name))
        if found is not None:
            return found.obj
        msg = unknown(kind, name, self.names(kind))
        if self.broken:
            msg += "; plugins that failed to load: " + ", ".join(f"{b.name} ({b.reason})" for b in self.broken)
        if where:
            raise RecipeError([f"{where}: {msg}"])
        raise PluginError(msg)


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


def load_registry() -> Registry:
    """Load every plugin from the ``zoo`` entry-point group and build the registry.

    Each entry point is imported on its own: one that fails is recorded as broken
    (name, distribution, reason) instead of stopping the others. ``ZOO_LOAD_PLUGINS``
    (comma-separated distribution names; empty means none) restricts third-party
    plugins; the built-ins always load.
    """
    pm = new_plugin_manager()
    broken: list[BrokenPlugin] = []
    origins: dict[str, tuple[str, str | None]] = {}
    allowed = _allowed_dists()
    for ep in sorted(importlib.metadata.entry_points(group="zoo"), key=lambda e: (e.dist.name != BUILTIN_DIST if e.dist else True, e.name)):
        dist = ep.dist.name if ep.dist else None
        if allowed is not None and dist != BUILTIN_DIST and _normalized(dist or "") not in allowed:
            continue
        key = f"{dist}:{ep.name}"  # two distributions may use one entry-point name
        if pm.get_plugin(key) is not None:
            continue  # the same distribution seen twice on sys.path
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break the CLI
            broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        if pm.is_registered(module):
            continue  # two entry points naming one module
        try:
            pm.register(module, name=key)
        except pluggy.PluginValidationError as exc:
            broken.append(BrokenPlugin(ep.name, dist, str(exc)))
            continue
        origins[key] = (ep.name, dist)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    return Registry(pm, broken, origins)


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, loaded on first use and then reused."""
    return load_registry()
