"""``zoo recipes``: list the recipes the installation carries, or copy one out to edit."""

from __future__ import annotations

import click

from zoo.cli._complete import catalog_names
from zoo.cli.output import echo_json
from zoo.errors import UsageError
from zoo.hub.catalog_recipes import RecipeRow, copy_recipe, recipe_rows


@click.command("recipes")
@click.argument("dest", required=False, type=click.Path(), metavar="[DEST]")
@click.option(
    "--copy",
    "name",
    metavar="NAME",
    default=None,
    shell_complete=catalog_names,
    help="Copy the recipe NAME to DEST (a folder or a file name; default: the current folder) to edit it.",
)
@click.option("--force", is_flag=True, help="With --copy: replace a file already at DEST.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=(
        "Print a JSON list: one object per recipe (name, recipe, cell, impl, layers, hidden_size, bidirectional, "
        "description)."
    ),
)
def recipes_command(dest: str | None, name: str | None, force: bool, as_json: bool) -> None:
    """List the recipes this installation carries (its catalog's), or copy one out to edit.

    Each runs by its name from any folder: zoo run NAME. A copy runs by its path.

    \b
    Examples:
        zoo recipes
        zoo recipes --json
        zoo run jay_gru --set trainer.epochs=5
        zoo recipes --copy jay_gru              # writes ./jay_gru.yaml
        zoo recipes --copy jay_gru my_gru.yaml
        zoo run my_gru.yaml
    """
    if name is None:
        if dest is not None or force:
            raise UsageError(
                f"{'DEST' if dest is not None else '--force'} goes with --copy NAME "
                "(e.g. zoo recipes --copy jay_gru my_gru.yaml)"
            )
        if as_json:
            echo_json([r.to_dict() for r in recipe_rows()])
        else:
            click.echo(_table(recipe_rows()))
        return
    if as_json:
        raise UsageError("--json lists the recipes; --copy writes one out: choose one (e.g. zoo recipes --json)")
    target = copy_recipe(name, dest, force)
    click.echo(f"copied {name} to {target}; edit it, then: zoo run {target}")


def _table(rows: list[RecipeRow]) -> str:
    """The rows as an aligned plain-text table: name, cell, layers, hidden size, description."""
    heads = ("NAME", "CELL", "LAYERS", "HIDDEN", "DESCRIPTION")
    cells = [heads] + [(r.name, r.label, str(r.layers), str(r.hidden_size), r.description) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(heads))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)
