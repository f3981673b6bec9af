"""The plugin registry: components keyed by (kind, name), loaded from the ``zoo`` entry points."""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import importlib.metadata
import os
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
    """One registered component: its kind, name, the class, and the plugin that registered it."""

    kind: str
    name: str
    obj: Any
    plugin: str
    alias_of: str | None = None


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
    :raises PluginError: when two plugins claim one (kind, name); the message names both.
    """

    def __init__(self, pm: pluggy.PluginManager, broken: Iterable[BrokenPlugin] = ()):
        self.pm = pm
        self.broken = list(broken)
        self._table: dict[tuple[str, str], Component] = {}
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
        for key, alias_of in [(name, None)] + [(a, name) for a in aliases]:
            old = self._table.get((kind, key))
            if old is not None:
                raise PluginError(f"{kind} '{key}' is registered twice: by plugin '{old.plugin}' and by plugin '{plugin}'; uninstall or block one of them")
            self._table[(kind, key)] = Component(kind, key, obj, plugin, alias_of)

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


def _allowed_dists() -> set[str] | None:
    value = os.environ.get("ZOO_LOAD_PLUGINS")
    if value is None:
        return None
    return {d.strip().lower() for d in value.split(",") if d.strip()}


def load_registry() -> Registry:
    """Load every plugin from the ``zoo`` entry-point group and build the registry.

    Each entry point is imported on its own: one that fails is recorded as broken
    (name, distribution, reason) instead of stopping the others. ``ZOO_LOAD_PLUGINS``
    (comma-separated distribution names; empty means none) restricts third-party
    plugins; the built-ins always load.
    """
    pm = new_plugin_manager()
    broken: list[BrokenPlugin] = []
    allowed = _allowed_dists()
    for ep in sorted(importlib.metadata.entry_points(group="zoo"), key=lambda e: (e.dist.name != BUILTIN_DIST if e.dist else True, e.name)):
        dist = ep.dist.name if ep.dist else None
        if allowed is not None and dist != BUILTIN_DIST and (dist or "").lower() not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:  # a broken plugin must not break the CLI
            broken.append(BrokenPlugin(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        try:
            pm.register(module, name=ep.name)
        except pluggy.PluginValidationError as exc:
            broken.append(BrokenPlugin(ep.name, dist, str(exc)))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    return Registry(pm, broken)


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry, loaded on first use and then reused."""
    return load_registry()
