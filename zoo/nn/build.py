"""Build the language model a resolved recipe describes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.nn.model import LanguageModel

if TYPE_CHECKING:
    from zoo.nn.cell import Cell
    from zoo.recipe import Recipe

__all__ = ["build_model"]


def build_model(recipe: Recipe, vocab_size: int, cell: Cell | None = None) -> LanguageModel:
    """Assemble the language model a recipe's ``model`` section describes, around ``cell`` if one is built already."""
    m = recipe.model
    return LanguageModel(cell if cell is not None else m.build(), m.core, vocab_size)
