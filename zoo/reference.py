"""Every recipe key, from the components' ``Options`` dataclasses: what ``zoo plugins --verbose`` prints and the docs'
"recipe keys" page shows, from one source.

A recipe has top-level keys (``name``, ``description``, ``seed``) and one section per part of a run. Each section names
a registered component (``model`` names a cell, ``predict`` a predictor) and holds the keys every component of that
section shares (``name``, or the model's and predict's own options) beside the keys of the component it names.
``loggers`` names any number of loggers, each with its own keys under its name (``loggers.mlflow.experiment``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import typing
from typing import Any

from zoo.options import ModelOptions, describe
from zoo.recipe import DEFAULTS, LOGGERS, SECTIONS, PredictOptions, TopLevel
from zoo.registry import Component, Registry, get_registry

__all__ = ["Key", "Part", "Section", "recipe_sections", "recipe_keys", "key_line", "render_text", "render_markdown"]

_KINDS = {
    "dataset": "dataset",
    "sampler": "sampler",
    "model": "cell",
    "backend": "backend",
    "trainer": "trainer",
    "schedule": "schedule",
    "predict": "predictor",
}  # recipe section -> the kind of component it names
_HELP = {
    "": "the run itself",
    "dataset": "the corpus: where its text comes from, how it is split into tokens and held out",
    "sampler": "how the token stream is cut into (X, Y) batches",
    "model": "the network: an encoder, a stack of one cell, a decoder",
    "backend": "where arrays live and how gradients are had; backend: NAME is short for backend: {name: NAME}",
    "trainer": "the training loop",
    "schedule": "the learning-rate schedule; schedule: NAME is short for schedule: {name: NAME}",
    "predict": "the text generated during and after training",
    LOGGERS: "where a run's records go besides metrics.jsonl (always written): TensorBoard, MLflow, ...",
}


@dataclasses.dataclass(frozen=True)
class Key:
    """One recipe key: its dotted path (as ``--set`` takes it), type, default (``None`` when required) and help."""

    path: str
    type: str
    default: Any
    help: str
    required: bool

    @property
    def default_text(self) -> str:
        """``required``, or ``default 'adam'``: the default as both renderers show it."""
        return "required" if self.required else f"default {self.default!r}"


@dataclasses.dataclass(frozen=True)
class Part:
    """A registered component and the keys of its own that a section naming it takes (none for an alias)."""

    component: Component
    keys: tuple[Key, ...]


@dataclasses.dataclass(frozen=True)
class Section:
    """One part of a recipe: its name (``""`` for the top level), the kind of component it names, one line of help,
    the keys every component of it shares, and the registered components with their own keys."""

    name: str
    kind: str | None
    help: str
    keys: tuple[Key, ...]
    parts: tuple[Part, ...] = ()


def _keys(prefix: str, options_cls: type) -> list[Key]:
    """The keys of an options dataclass, in declaration order; a group of options (``trainer.early_stop``) is followed
    by its own keys."""
    hints = typing.get_type_hints(options_cls)
    out = []
    for o in describe(options_cls):
        out.append(Key(f"{prefix}{o.name}", o.type, o.default, o.help, o.required))
        group = next(
            (tp for tp in (hints[o.name], *typing.get_args(hints[o.name])) if dataclasses.is_dataclass(tp)), None
        )
        if group is not None:
            out += _keys(f"{prefix}{o.name}.", group)
    return out


def _shared(section: str, registry: Registry) -> list[Key]:
    """The keys every component of ``section`` takes: ``name`` (the model's ``cell``), and the model's and predict's
    options."""
    if section == "model":
        return _keys("model.", ModelOptions)
    if section == "predict":
        return _keys("predict.", PredictOptions)
    kind = _KINDS[section]
    names = ", ".join(c.name for c in registry.components(kind) if not c.alias_of) or "none installed"
    default = DEFAULTS.get(section)
    return [Key(f"{section}.name", "str", default, f"registered {kind}: {names}", default is None)]


def recipe_sections(registry: Registry | None = None, pattern: str = "*") -> list[Section]:
    """Every recipe section with its keys and those of each registered component, in recipe order.

    :param registry: the components to describe (default: the installed ones).
    :param pattern: a shell-style wildcard on component names (``'gr*'``): only the sections with a component that
        matches are kept, with only those components; ``*`` keeps everything, the top level included.
    """
    registry = registry or get_registry()
    out = [Section("", None, _HELP[""], tuple(_keys("", TopLevel)))] if pattern == "*" else []
    for name in SECTIONS:
        kind = _KINDS[name]
        parts = tuple(
            Part(c, () if c.alias_of else tuple(_keys(f"{name}.", c.obj.Options)))
            for c in registry.components(kind)
            if fnmatch.fnmatch(c.name, pattern)
        )
        if parts or pattern == "*":
            out.append(Section(name, kind, _HELP[name], tuple(_shared(name, registry)), parts))
    loggers = tuple(
        Part(c, () if c.alias_of else tuple(_keys(f"{LOGGERS}.{c.name}.", c.obj.Options)))
        for c in registry.components("logger")
        if fnmatch.fnmatch(c.name, pattern)
    )
    if loggers or pattern == "*":
        names = ", ".join(c.name for c in registry.components("logger") if not c.alias_of)
        help = f"a list of logger names, or a mapping of each to its options; registered: {names} (jsonl: always on)"
        every = Key(LOGGERS, "list[str] | dict", [], help, False)
        out.append(Section(LOGGERS, "logger", _HELP[LOGGERS], (every,), loggers))
    return out


def recipe_keys(registry: Registry | None = None) -> list[str]:
    """Every dotted key a recipe (or ``--set``) takes, sorted: ``seed``, ``model.hidden_size``,
    ``trainer.early_stop.patience``..."""
    sections = recipe_sections(registry)
    return sorted({k.path for s in sections for k in (*s.keys, *(k for p in s.parts for k in p.keys))})


def key_line(key: Key) -> str:
    """``trainer.lr: float (default 0.01)  learning rate``: one key as ``zoo plugins --verbose`` prints it."""
    return f"{key.path}: {key.type} ({key.default_text})  {key.help}".rstrip()


def _origin(c: Component) -> str:
    return (
        f"plugin {c.plugin}" + (f" [{c.dist}]" if c.dist else "") + (f" (alias of {c.alias_of})" if c.alias_of else "")
    )


def render_text(sections: list[Section]) -> str:
    """The sections as ``zoo plugins --verbose`` prints them: per kind, the keys its section shares, then each component
    (name, plugin, distribution) with its own keys."""
    lines = []
    for s in sections:
        if not s.name:
            lines += ["top level:", *(f"      {key_line(k)}" for k in s.keys)]
            continue
        lines += [
            f"{s.kind}s:",
            f"  section {s.name} (every {s.kind}): {s.help}",
            *(f"      {key_line(k)}" for k in s.keys),
        ]
        for p in s.parts:
            lines.append(f"  {p.component.name:<18} {_origin(p.component)}")
            lines += [f"      {key_line(k)}" for k in p.keys]
    return "\n".join(lines)


def _markdown(text: str) -> str:
    """``text`` shown as written in Markdown: outside its code spans, ``<unk>`` is no HTML tag and ``2**32`` no
    emphasis."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # the even parts lie outside backticks
        parts[i] = parts[i].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    return "`".join(parts)


def _markdown_key(key: Key) -> str:
    return f"- `{key.path}`: `{key.type}` ({_markdown(key.default_text)}): {_markdown(key.help)}".rstrip()


def render_markdown(registry: Registry | None = None) -> str:
    """The docs' "recipe keys" page: every section, its shared keys, then each component's own, with the type, default
    and help ``zoo plugins --verbose`` prints."""
    lines = [
        "# Recipe keys",
        "",
        (
            "Generated from the components' `Options` dataclasses: `zoo plugins --verbose` prints the same keys, "
            "types, defaults and help. Set any key on the command line with `--set KEY=VALUE`, e.g. "
            "`zoo run jay_gru --set trainer.lr=0.001`."
        ),
        "",
        (
            "A section names a registered component (`model` names a cell) and takes the keys every component of that "
            "section shares, then the keys of the component it names."
        ),
    ]
    for s in recipe_sections(registry):
        title = "Top level" if not s.name else f"`{s.name}`"
        lines += ["", f"## {title}", "", f"{s.help[0].upper()}{s.help[1:]}.", "", *map(_markdown_key, s.keys)]
        for p in s.parts:
            c = p.component
            lines += ["", f"### {s.name}: `{c.name}`", "", f"*{_origin(c)}*", ""]
            if c.alias_of:
                continue
            lines += list(map(_markdown_key, p.keys)) or ["No keys of its own."]
    return "\n".join(lines) + "\n"
