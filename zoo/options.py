"""Declared component options: dataclass fields with a type, a default and one line of help."""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any, Literal

__all__ = ["option", "bind", "describe", "unknown", "closest", "OptionInfo", "NoOptions", "ModelOptions"]


def option(default: Any = dataclasses.MISSING, help: str = "", *, default_factory: Any = dataclasses.MISSING):
    """Declare one option of a component's ``Options`` dataclass.

    :param default: the value used when a recipe leaves the key out; omit it for a required option.
    :param help: one line shown by ``zoo plugins --verbose``.
    :param default_factory: for mutable defaults such as lists.
    """
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class OptionInfo:
    """What ``zoo plugins --verbose`` prints for one option."""

    name: str
    type: str
    default: Any
    help: str
    required: bool


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "|".join(str(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        (item,) = typing.get_args(tp) or (Any,)
        return f"list[{_type_name(item)}]"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return "{" + ", ".join(f"{f.name}: {_type_name(hints[f.name])}" for f in dataclasses.fields(tp)) + "}"
    return getattr(tp, "__name__", str(tp))


def describe(options_cls: type) -> list[OptionInfo]:
    """List the options a dataclass declares, in declaration order."""
    hints = typing.get_type_hints(options_cls)
    out = []
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            default, required = f.default, False
        elif f.default_factory is not dataclasses.MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        out.append(OptionInfo(f.name, _type_name(hints[f.name]), default, f.metadata.get("help", ""), required))
    return out


def _edits(a: str, b: str) -> float:
    """Edits turning ``a`` into ``b``: insertions, deletions and substitutions cost 1, a swap of adjacent letters 0.9.

    A swap is the commonest typing slip (``gur`` for ``gru``), so it ranks above a substitution
    (``gur`` to ``mgu`` costs 2); this is the optimal-string-alignment distance with that weight.
    """
    prev2: list[float] = []
    prev = [float(j) for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        row = [float(i)] + [0.0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1] and a[i - 1] != b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 0.9)
        prev2, prev = prev, row
    return prev[len(b)]


def closest(word: str, known: typing.Iterable[str], preferred: typing.Iterable[str] = ()) -> str | None:
    """The known name ``word`` was most likely meant to be, or ``None`` when none is close.

    Close means difflib's similarity of at least 0.6, or a single edit. The fewest edits win (a swap of
    adjacent letters before a substitution), then a ``preferred`` name (the built-ins), then similarity, then
    alphabetical order: the answer does not depend on which plugins happen to be installed beside.
    """
    preferred = set(preferred)
    scored = []
    for name in known:
        ratio = difflib.SequenceMatcher(None, word, name).ratio()
        edits = _edits(word, name)
        if ratio >= 0.6 or (edits <= 1 and len(word) > 1):
            scored.append((edits, name not in preferred, -ratio, name))
    return min(scored)[-1] if scored else None


def unknown(what: str, word: Any, known: typing.Iterable[str], preferred: typing.Iterable[str] = ()) -> str:
    """Word an unknown name: ``unknown cell 'gur'; did you mean 'gru'? known: gru, lstm``.

    :param preferred: names that win a tie for the suggestion (a registry passes its built-ins).
    """
    known = sorted(known)
    close = closest(str(word), known, preferred)
    hint = f"; did you mean '{close}'?" if close else ";"
    return f"unknown {what} {_show(word)}{hint} known: {', '.join(known) or '(none)'}"


def _check(value: Any, tp: Any) -> tuple[bool, Any]:
    """Return (ok, coerced value) for ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return True, value
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _check(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is Literal:
        return value in typing.get_args(tp), value
    if origin is list:
        if not isinstance(value, list):
            return False, value
        (item,) = typing.get_args(tp) or (Any,)
        checked = [_check(v, item) for v in value]
        return all(ok for ok, _ in checked), [v for _, v in checked]
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if tp is float:  # NaN and infinities are never a setting
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return True, float(value)
        return False, value
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _group(tp: Any) -> type | None:
    """The options dataclass an annotation names, alone or beside ``None`` (``EarlyStop | None``); else ``None``."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next((a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)), None)
    return None


def bind(
    options_cls: type, values: dict[str, Any], where: str, ignore: typing.Iterable[str] = ()
) -> tuple[Any, list[str]]:
    """Bind recipe values to an options dataclass, collecting every problem.

    :param options_cls: the component's ``Options`` dataclass.
    :param values: the recipe section (keys in ``ignore`` are skipped). A key annotated with an options dataclass
        (or one or ``None``) takes a mapping, bound the same way under its own dotted path.
    :param where: the YAML path of the section, used to prefix messages.
    :returns: ``(options or None, problems)``; each problem is one line naming the YAML path.
    """
    ignore = set(ignore)
    hints = typing.get_type_hints(options_cls)
    fields = {f.name: f for f in dataclasses.fields(options_cls)}
    problems, kwargs = [], {}
    for key, value in values.items():
        if key in ignore:
            continue
        if key not in fields:
            problems.append(f"{where}.{key}: {unknown('key', key, fields)}")
            continue
        group = _group(hints[key])
        if group is not None and isinstance(value, dict):  # a group of options of its own: trainer.early_stop.patience
            kwargs[key], more = bind(group, value, f"{where}.{key}")
            problems.extend(more)
            continue
        ok, coerced = _check(value, hints[key])
        if not ok and isinstance(value, float) and not math.isfinite(value):
            problems.append(f"{where}.{key}: must be a finite number, got {value}")
            continue
        if not ok:
            problems.append(f"{where}.{key}: expected {_type_name(hints[key])}, got {_show(value)}")
            continue
        kwargs[key] = coerced
    for name, f in fields.items():
        if (
            name not in kwargs
            and name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ):
            problems.append(f"{where}.{name}: required option is missing ({f.metadata.get('help', '')})")
    if problems:
        return None, problems
    opts = options_cls(**kwargs)
    check = getattr(opts, "validate", None)
    if check is not None:
        problems.extend(f"{where}.{msg}" for msg in check())
    return (None if problems else opts), problems


@dataclasses.dataclass
class NoOptions:
    """Options of a component that has none."""


@dataclasses.dataclass
class ModelOptions:
    """The ``model`` section of a recipe (a cell adds its own keys beside these)."""

    cell: str = option(help="registered cell name, e.g. gru")
    impl: Literal["nn", "scratch"] = option(
        "nn", "nn: the torch.nn module; scratch: the cell's own equations on autograd"
    )
    hidden_size: int = option(256, "hidden units per layer and direction")
    layers: int = option(1, "stacked recurrent layers")
    bidirectional: bool = option(False, "run a second, reversed direction per layer")
    encoder: Literal["onehot", "embedding"] = option("onehot", "how tokens enter the first layer")
    embedding_size: int | None = option(None, "embedding width (encoder: embedding); default hidden_size")
    dropout: float = option(0.0, "dropout between stacked layers while training")
    input_dropout: float = option(
        0.0,
        "dropout on the encoder's output (embedding rows, or whole one-hot tokens) while training; AWD-LSTM's dropouti",
    )
    output_dropout: float = option(
        0.0, "dropout on the last layer's output, before the decoder, while training; AWD-LSTM's dropout"
    )
    dtype: Literal["float32", "float64"] = option("float32", "floating point precision of the weights")
    init: Literal["uniform", "normal"] = option(
        "uniform", "uniform: ±1/sqrt(H) as torch.nn; normal: N(0, init_std) weights, zero biases, as d2l's scratch code"
    )
    init_std: float = option(0.01, "standard deviation for init: normal")
    decoder: Literal["dense", "none"] = option(
        "dense",
        "dense: a linear layer to the vocabulary; none: the hidden state is the logits (needs hidden_size × directions "
        "= vocabulary size)",
    )

    def validate(self) -> list[str]:
        """Problems with values that have the right type but are out of range."""
        problems = []
        for key in ("hidden_size", "layers"):
            if getattr(self, key) < 1:
                problems.append(f"{key}: must be at least 1, got {getattr(self, key)}")
        if self.embedding_size is not None and self.embedding_size < 1:
            problems.append(f"embedding_size: must be at least 1, got {self.embedding_size}")
        if self.embedding_size is not None and self.encoder != "embedding":
            problems.append("embedding_size: only used with encoder: embedding")
        for key in ("dropout", "input_dropout", "output_dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                problems.append(f"{key}: must be in [0, 1), got {getattr(self, key)}")
        if self.init_std <= 0:
            problems.append(f"init_std: must be positive, got {self.init_std}")
        return problems
