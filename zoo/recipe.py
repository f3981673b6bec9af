"""Recipes: YAML loading, ``--set`` overrides, and validation against the components' options."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml

from zoo.errors import RecipeError, UsageError
from zoo.files import check_regular
from zoo.hub.catalog import recipe_file
from zoo.options import ModelOptions, bind, option, unknown
from zoo.registry import Registry
from zoo.yamlfile import DuplicateKeyError, load_yaml

__all__ = [
    "TopLevel",
    "PredictOptions",
    "Section",
    "Recipe",
    "read_recipe",
    "parse_overrides",
    "apply_overrides",
    "resolve",
    "prepare",
    "flatten",
]


@dataclasses.dataclass
class TopLevel:
    """The recipe's own keys, beside its sections: bound by :func:`resolve`, listed by :mod:`zoo.reference`."""

    name: str = option(help="the run's name (letters, digits, _ or -); its directory is runs/<name>")
    description: str = option("", "one line saying what the recipe trains or reproduces")
    seed: int = option(0, "seeds Python's, NumPy's and torch's generators (0 to 2**32 - 1)")

    EXPECTED: ClassVar[dict[str, str]] = {
        "name": "a run name (letters, digits, _ or -)",
        "description": "a string",
        "seed": "an integer from 0 to 2**32 - 1",
    }  # a problem with a key, in words

    def validate(self) -> list[str]:
        """Problems with values that have the right type but are out of range."""
        bad = {
            "name": not self.name.strip() or "/" in self.name or self.name.startswith("."),
            "seed": not 0 <= self.seed < 2**32,
        }
        return [
            f"{key}: expected {self.EXPECTED[key]}, got {getattr(self, key)!r}" for key, wrong in bad.items() if wrong
        ]


SECTIONS = ("dataset", "sampler", "model", "backend", "trainer", "schedule", "predict")
LOGGERS = "loggers"  # beside the sections: a list of logger names, or a mapping of each to its options
TOP_LEVEL = tuple(f.name for f in dataclasses.fields(TopLevel)) + SECTIONS + (LOGGERS,)
DEFAULTS = {"sampler": "sequential", "backend": "auto", "trainer": "bptt", "schedule": "constant", "predict": "default"}


@dataclasses.dataclass
class PredictOptions:
    """The ``predict`` section of a recipe (a predictor adds its own keys beside these)."""

    name: str = option("default", "registered predictor")
    prefixes: list[str] = option(
        help="texts to continue during and after training ('' starts from the all-zero input)", default_factory=list
    )
    length: int = option(50, "tokens to generate after each prefix")
    every: int = option(0, "generate every N epochs (0: only after the last epoch)")
    strategy: Literal["greedy", "sample"] = option("greedy", "greedy: most likely token; sample: draw from the softmax")
    temperature: float = option(1.0, "softmax temperature for strategy: sample")
    top_k: int | None = option(None, "sample only among the k most likely tokens")
    stop: str | None = option(None, "end a generation early when this token is produced (e.g. a newline)")

    def validate(self) -> list[str]:
        """Problems with values out of range."""
        problems = []
        if self.length < 0:
            problems.append(f"length: must be zero or more, got {self.length}")
        if self.every < 0:
            problems.append(f"every: must be zero or more, got {self.every}")
        if self.temperature <= 0:
            problems.append(f"temperature: must be positive, got {self.temperature}")
        if self.top_k is not None and self.top_k < 1:
            problems.append(f"top_k: must be at least 1, got {self.top_k}")
        return problems


@dataclasses.dataclass
class Section:
    """One resolved recipe section: the component's name, class and bound options.

    ``core`` holds options every component of this section shares (model and
    predict sections), ``options`` the component's own.
    """

    name: str
    cls: Any
    options: Any
    core: Any = None

    def build(self) -> Any:
        """A new component of this section: its class called with its bound options."""
        return self.cls(self.options)

    def to_dict(self) -> dict[str, Any]:
        """The section with every default filled in."""
        out = dataclasses.asdict(self.core) if self.core is not None else {"name": self.name}
        out.update(dataclasses.asdict(self.options))
        return out


@dataclasses.dataclass
class Recipe:
    """A validated recipe with every default resolved."""

    name: str
    seed: int
    dataset: Section
    sampler: Section
    model: Section
    backend: Section
    trainer: Section
    schedule: Section
    predict: Section
    description: str = ""
    loggers: list[Section] = dataclasses.field(default_factory=list)  # besides metrics.jsonl, always written

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain data; re-running it reproduces the run. ``loggers`` appears only when the
        recipe names some, as a mapping of each to its options."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["seed"] = self.seed
        for key in SECTIONS:
            out[key] = getattr(self, key).to_dict()
        for key in ("backend", "schedule"):
            if list(out[key]) == ["name"]:
                out[key] = out[key]["name"]
        if self.loggers:
            out[LOGGERS] = {s.name: dataclasses.asdict(s.options) for s in self.loggers}
        return out


def read_recipe(path: str | Path) -> dict[str, Any]:
    """Read a recipe file with :func:`load_yaml`; every failure is one :class:`UsageError` line."""
    path = Path(path)
    check_regular(path, "recipe", "pass the path of a .yaml recipe")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(
            f"recipe file {path} not found; pass the path of a .yaml recipe, or a catalog name such as jay_gru "
            "(zoo recipes lists them)"
        ) from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"recipe {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(
            f"cannot read recipe {path}: {exc.strerror or exc}; pass the path of a readable .yaml file"
        ) from None
    try:
        data = load_yaml(text)
    except DuplicateKeyError as exc:
        raise UsageError(f"{path}: {exc.problem}; keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UsageError(f"{path}{where}: {problem}; fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a recipe must be a YAML mapping with keys such as name, dataset, model, trainer")
    return data


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Parse ``--set`` pairs ``a.b=value`` (values read as YAML scalars) into ``{"a.b": value}``."""
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            raise UsageError(f"--set expects KEY=VALUE with a dotted key, e.g. trainer.lr=0.001; got {pair!r}")
        try:
            out[key] = load_yaml(raw) if raw.strip() else ""
        except DuplicateKeyError as exc:
            raise UsageError(f"--set {key}: {exc.problem}; keep one of them") from None
        except yaml.YAMLError:
            out[key] = raw
    return out


def apply_overrides(recipe: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``recipe`` with dotted-key overrides applied (``trainer.lr``, ``backend``)."""
    recipe = copy.deepcopy(recipe)
    for key, value in overrides.items():
        parts = key.split(".")
        node = recipe
        for i, part in enumerate(parts[:-1]):
            if part not in node or node[part] is None:
                node[part] = {}
            elif isinstance(node[part], str) and part in SECTIONS:
                node[part] = {"name": node[part]}  # backend: auto -> {name: auto}
            elif i == 0 and part == LOGGERS and _names(node[part]):
                node[part] = _logger_mapping(node[part])  # [mlflow] -> {mlflow: {}}, to set a logger's option
            node = node[part]
            if not isinstance(node, dict):
                raise UsageError(
                    f"--set {key}: {'.'.join(parts[: i + 1])} is not a mapping, cannot set a key inside it"
                )
        node[parts[-1]] = value
    return recipe


def _names(value: Any) -> bool:
    """Whether a ``loggers`` value is a name or a list of names."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _logger_mapping(value: str | list[str]) -> dict[str, dict[str, Any]]:
    """A ``loggers`` list (or a single name) as the mapping of each name to no options."""
    return {name: {} for name in ([value] if isinstance(value, str) else value)}


def _logger_values(value: Any, problems: list[str]) -> dict[str, dict[str, Any]]:
    """The recipe's ``loggers`` as ``{name: options}``: given as one name, a list of names, or a mapping of each name
    to its options (empty or null for none)."""
    if value is None:
        return {}
    if isinstance(value, list) and not _names(value):
        problems += [
            f"{LOGGERS}[{i}]: expected a logger name, got {v!r}" for i, v in enumerate(value) if not isinstance(v, str)
        ]
        return {}
    if _names(value):
        value = _logger_mapping(value)
    if not isinstance(value, dict):
        problems.append(f"{LOGGERS}: expected a list of logger names or a mapping of each to options, got {value!r}")
        return {}
    out = {}
    for name, options in value.items():
        if options is not None and not isinstance(options, dict):
            problems.append(f"{LOGGERS}.{name}: expected a mapping of its options (or nothing), got {options!r}")
            continue
        out[name] = options or {}
    return out


def _section_values(data: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any] | None:
    value = data.get(key, DEFAULTS.get(key))
    if value is None:
        problems.append(f"{key}: required section is missing")
        return None
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.append(f"{key}: expected a mapping (or a component name), got {value!r}")
        return None
    if key in DEFAULTS and "name" not in value:
        value = {**value, "name": DEFAULTS[key]}
    return value


def _component(registry: Registry, kind: str, where: str, name: Any, problems: list[str]) -> Any:
    if not isinstance(name, str):
        problems.append(f"{where}: expected a {kind} name, got {name!r}")
        return None
    try:
        return registry.get(kind, name, where=where)
    except RecipeError as exc:
        problems.extend(exc.problems)
        return None


def _bind_pair(core_cls: type, cls: Any, values: dict[str, Any], where: str, problems: list[str]) -> tuple[Any, Any]:
    """Bind one section shared by core options and the component's own options."""
    own = getattr(cls, "Options", None)
    core_keys = {f.name for f in dataclasses.fields(core_cls)}
    own_keys = {f.name for f in dataclasses.fields(own)} if own else set()
    extra = [k for k in values if k not in core_keys and k not in own_keys]
    for k in extra:
        problems.append(f"{where}.{k}: {unknown('key', k, core_keys | own_keys)}")
    core, p1 = bind(core_cls, {k: v for k, v in values.items() if k in core_keys}, where)
    opts, p2 = bind(own, {k: v for k, v in values.items() if k in own_keys}, where) if own else (None, [])
    problems.extend(p1 + p2)
    return core, opts


def _bind_top_level(data: dict[str, Any], problems: list[str]) -> TopLevel | None:
    """Bind the recipe's own keys to :class:`TopLevel`; a missing, mistyped or out-of-range one is one problem saying
    what it must hold (``seed: expected an integer from 0 to 2**32 - 1, got -1``)."""
    top, found = bind(TopLevel, {k: v for k, v in data.items() if k in TopLevel.EXPECTED}, "")
    problems.extend(
        f"{key}: expected {wanted}, got {data.get(key)!r}"
        for key, wanted in TopLevel.EXPECTED.items()
        if any(p.startswith(f".{key}:") for p in found)
    )  # bind names the key as WHERE.KEY, WHERE being ""
    return top


def resolve(data: dict[str, Any], registry: Registry) -> Recipe:
    """Validate a recipe against the registry and fill in every default.

    :raises RecipeError: listing every problem found, each starting with its YAML path.
    """
    problems: list[str] = []
    for key in data:
        if key not in TOP_LEVEL:
            problems.append(f"{key}: {unknown('top-level key', key, TOP_LEVEL)}")
    top = _bind_top_level(data, problems)

    sections: dict[str, Section] = {}
    for key, kind in (
        ("dataset", "dataset"),
        ("sampler", "sampler"),
        ("backend", "backend"),
        ("trainer", "trainer"),
        ("schedule", "schedule"),
    ):
        values = _section_values(data, key, problems)
        if values is None:
            continue
        cls = _component(registry, kind, f"{key}.name", values.get("name"), problems)
        if cls is None:
            continue
        opts, p = bind(cls.Options, values, key, ignore=("name",))
        problems.extend(p)
        if opts is not None:
            sections[key] = Section(values["name"], cls, opts)

    values = _section_values(data, "model", problems)
    if values is not None:
        cls = _component(registry, "cell", "model.cell", values.get("cell"), problems) if "cell" in values else None
        if "cell" not in values:
            problems.append("model.cell: required option is missing (registered cell name, e.g. gru)")
        if cls is not None:
            core, opts = _bind_pair(ModelOptions, cls, values, "model", problems)
            if core is not None and core.impl == "nn" and cls.nn_module is None:
                problems.append(f"model.impl: cell '{core.cell}' has no torch.nn implementation; use impl: scratch")
            elif core is not None and opts is not None:
                sections["model"] = Section(core.cell, cls, opts, core)

    values = _section_values(data, "predict", problems)
    if values is not None:
        cls = _component(registry, "predictor", "predict.name", values.get("name"), problems)
        if cls is not None:
            core, opts = _bind_pair(PredictOptions, cls, values, "predict", problems)
            if core is not None and opts is not None:
                sections["predict"] = Section(core.name, cls, opts, core)

    loggers = []
    for name, options in _logger_values(data.get(LOGGERS), problems).items():
        cls = _component(registry, "logger", f"{LOGGERS}.{name}", name, problems)
        if cls is not None:
            opts, p = bind(cls.Options, options, f"{LOGGERS}.{name}")
            problems.extend(p)
            if opts is not None:
                loggers.append(Section(name, cls, opts))

    if problems or top is None:
        raise RecipeError(problems)
    return Recipe(name=top.name, seed=top.seed, description=top.description, loggers=loggers, **sections)


def prepare(
    source: str | Path | dict[str, Any],
    registry: Registry,
    overrides: dict[str, Any] | None = None,
    seed: int | None = None,
) -> Recipe:
    """Read (if a path or a catalog name, see :func:`zoo.hub.catalog.recipe_file`), override, and resolve a recipe in
    one call."""
    data = read_recipe(recipe_file(source)) if not isinstance(source, dict) else source
    if overrides:
        data = apply_overrides(data, overrides)
    if seed is not None:
        data = {**data, "seed": seed}
    return resolve(data, registry)


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested mapping (a resolved recipe) as dotted keys (``model.hidden_size``); lists and other values stay as
    they are."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out
