"""``zoo run``: train a recipe."""

from __future__ import annotations

import click

from ..recipe import parse_overrides
from ..runner import run


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value, e.g. --set trainer.lr=0.001 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (default: runs/<name>).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder searched first for corpus files (default: $ZOO_DATA).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Override the recipe's seed.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run_command(recipe: str, overrides: tuple[str, ...], out: str | None, data_dir: str | None, seed: int | None, quiet: bool) -> None:
    """Train RECIPE and save the run (weights, metrics, samples, plot).

    \b
    Example:
        zoo run recipes/jay_gru.yaml --set trainer.epochs=40 --set model.layers=2
    """
    result = run(recipe, parse_overrides(overrides), out=out, data_dir=data_dir, seed=seed, progress=not quiet)
    final = result.final
    click.echo(f"run saved to {result.run_dir}: perplexity {final['perplexity']:.4f} after epoch {final['epoch']}")
