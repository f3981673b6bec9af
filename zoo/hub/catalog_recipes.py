"""The recipes an installation carries (those of its catalog's entries): listed with their model's shape, copied out to
edit."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_open
from zoo.errors import UsageError
from zoo.hub.catalog import read_catalog, recipe_files
from zoo.hub.shape import cell_label, model_shape
from zoo.options import unknown
from zoo.recipe import read_recipe

__all__ = ["RecipeRow", "recipe_rows", "copy_recipe"]


@dataclasses.dataclass(frozen=True)
class RecipeRow:
    """One catalogued recipe as ``zoo recipes`` lists it: its model's shape is the recipe's, defaults filled in
    (``cell`` is ``None`` when neither the recipe nor the catalog entry names one)."""

    name: str
    path: Path
    cell: str | None
    impl: str
    layers: int
    hidden_size: int
    bidirectional: bool
    description: str

    @property
    def label(self) -> str:
        """``gru/nn``, ``gru/nn bidirectional``: the cell as the listing shows it."""
        return cell_label(dataclasses.asdict(self))

    def to_dict(self) -> dict[str, Any]:
        """The row as ``zoo recipes --json`` prints it (the recipe file's path as text)."""
        return {
            "name": self.name,
            "recipe": str(self.path),
            "cell": self.cell,
            "impl": self.impl,
            "layers": self.layers,
            "hidden_size": self.hidden_size,
            "bidirectional": self.bidirectional,
            "description": self.description,
        }


def _first_comment(path: Path, name: str) -> str:
    """A recipe's first comment line, without ``#`` and the ``NAME:`` it opens with by convention."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip().removeprefix(f"{name}:").strip()
    return ""


def recipe_rows() -> list[RecipeRow]:
    """The catalog's recipes in catalog order, each read (an unreadable one is one :class:`UsageError` line naming its
    entry).

    The description is the catalog entry's, else the recipe's first comment line; the model's shape is the recipe's
    (:func:`~zoo.hub.shape.model_shape`), the entry's ``cell`` where the recipe names none.
    """
    catalog, rows = read_catalog(), []
    for name, path in recipe_files().items():
        try:
            recipe = read_recipe(path)
        except UsageError as exc:
            raise UsageError(f"catalog entry '{name}': {exc}") from None
        model = model_shape(recipe, catalog[name].get("cell"))
        description = catalog[name].get("description") or _first_comment(path, name)
        rows.append(
            RecipeRow(
                name,
                path,
                model["cell"],
                model["impl"],
                model["layers"],
                model["hidden_size"],
                model["bidirectional"],
                description,
            )
        )
    return rows


def copy_recipe(name: str, dest: str | Path | None = None, force: bool = False) -> Path:
    """Copy the catalogued recipe ``name`` out to edit, byte for byte (comments kept), atomically.

    :param dest: a folder (the file keeps its name there) or a file name; default the current folder.
    :param force: replace a file already at the destination (otherwise refused).
    :returns: the file written.
    :raises UsageError: an unknown name (with the closest), a missing folder, an existing file without ``force``,
        or the catalog's own recipe as the destination.
    """
    named = recipe_files()
    if name not in named:
        raise UsageError(f"{unknown('recipe', name, named)}; zoo recipes lists them")
    source = named[name]
    target = Path(dest) if dest is not None else Path(".")
    if target.is_dir() or str(dest).endswith(("/", os.sep)):
        target = target / source.name
    if not target.parent.is_dir():
        raise UsageError(f"cannot copy {name} to {target}: folder {target.parent} not found; create it first")
    if target.exists() and target.resolve() == source.resolve():
        raise UsageError(f"{target} is the catalog's own recipe {name}; copy it somewhere else to edit")
    if target.is_dir():
        raise UsageError(f"cannot copy {name} to {target}: a folder of that name is there; name a file")
    if target.exists() and not force:
        raise UsageError(f"{target} exists; pass --force to replace it, or name another file")
    try:
        data = source.read_bytes()
        with atomic_open(target, "wb") as f:
            f.write(data)
    except OSError as exc:
        raise UsageError(
            f"cannot copy {name} to {target}: {exc.strerror or exc}; check the path and its permissions"
        ) from None
    return target
