"""A recipe's model shape as the listings show it: its ``model`` section with :class:`~zoo.nn.model.ModelOptions`'
defaults filled in, and its short label (``gru/nn bidirectional``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zoo.errors import UsageError
from zoo.options import ModelOptions, describe
from zoo.recipe import read_recipe

__all__ = ["MODEL_DEFAULTS", "model_shape", "entry_shape", "cell_label"]

MODEL_DEFAULTS = {
    o.name: o.default for o in describe(ModelOptions) if not o.required
}  # what a recipe that leaves a key out gets


def model_shape(recipe: Mapping[str, Any] | None, cell: str | None = None) -> dict[str, Any]:
    """The ``model`` section of ``recipe`` (as written or resolved) over :data:`MODEL_DEFAULTS`.

    :param cell: the cell to show when the recipe names none (a catalog entry's own ``cell``); else ``cell`` is
        ``None``.
    """
    section = recipe.get("model") if isinstance(recipe, Mapping) else None
    return {**MODEL_DEFAULTS, "cell": cell, **(section if isinstance(section, Mapping) else {})}


def entry_shape(e: Mapping[str, Any]) -> dict[str, Any]:
    """A catalog entry's model shape (:func:`model_shape`): its recipe file's, or the defaults and the entry's ``cell``
    when the file is not there or does not read (listings go on; running it reports the problem)."""
    try:
        recipe = read_recipe(e["recipe"]) if isinstance(e.get("recipe"), str) else None
    except UsageError:
        recipe = None
    return model_shape(recipe, e.get("cell"))


def cell_label(shape: Mapping[str, Any]) -> str:
    """``gru/nn``, ``lstm/scratch``, ``gru/nn bidirectional``: the cell (``?`` when unknown) and its implementation."""
    return f"{shape.get('cell') or '?'}/{shape['impl']}" + (" bidirectional" if shape["bidirectional"] else "")
