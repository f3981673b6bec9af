"""``zoo validate``: check a recipe without running it."""

from __future__ import annotations

import sys

import click
import yaml

from zoo.cli._complete import recipe_set_keys
from zoo.errors import RecipeError
from zoo.recipe import parse_overrides, prepare
from zoo.registry import get_registry


@click.command("validate")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    shell_complete=recipe_set_keys,
    help="Override a recipe value (repeatable).",
)
@click.option("--show", is_flag=True, help="Print the resolved recipe, every default filled in.")
def validate_command(recipe: str, overrides: tuple[str, ...], show: bool) -> None:
    """Report every problem in RECIPE at once; nothing is run.

    \b
    Examples:
        zoo validate recipes/jay_gru.yaml
        zoo validate recipes/jay_gru.yaml --set model.layers=2 --show
    """
    try:
        r = prepare(recipe, get_registry(), parse_overrides(overrides))
    except RecipeError as exc:
        for problem in exc.problems:
            click.echo(f"{recipe}: {problem}", err=True)
        click.echo(f"Error: {len(exc.problems)} problem(s) in {recipe}", err=True)
        sys.exit(2)
    if show:
        click.echo(yaml.safe_dump(r.to_dict(), allow_unicode=True, sort_keys=False), nl=False)
    else:
        click.echo(f"{recipe}: ok")
