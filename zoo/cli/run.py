"""``zoo run``: train a recipe, or continue an interrupted run."""

from __future__ import annotations

import click

from ..errors import UsageError
from ..recipe import parse_overrides
from ..runner import resume, run


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False), required=False)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a recipe value, e.g. --set trainer.lr=0.001 (repeatable).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (default: runs/<name>).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder searched first for corpus files (default: $ZOO_DATA).")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Override the recipe's seed.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None, metavar="RUN_DIR",
              help="Continue the interrupted run in RUN_DIR from its last checkpoint (no RECIPE then).")
@click.option("--overwrite", is_flag=True, help="Replace a run already in the run directory (finished or not).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run_command(recipe: str | None, overrides: tuple[str, ...], out: str | None, data_dir: str | None, seed: int | None,
                resume_dir: str | None, overwrite: bool, quiet: bool) -> None:
    """Train RECIPE and save the run (weights, metrics, samples, plot, checkpoints).

    A run killed or stopped with Ctrl-C continues with --resume; its final
    weights equal, bit for bit, those of a run never interrupted.

    \b
    Examples:
        zoo run recipes/jay_gru.yaml --set trainer.epochs=40 --set model.layers=2
        zoo run --resume runs/jay_gru
    """
    if resume_dir is not None:
        extra = [flag for flag, given in (("RECIPE", recipe), ("--set", overrides), ("--out", out), ("--seed", seed is not None),
                                          ("--overwrite", overwrite)) if given]
        if extra:
            raise UsageError(f"--resume continues a run with its own recipe; drop {', '.join(extra)}")
        result = resume(resume_dir, data_dir=data_dir, progress=not quiet)
    elif recipe is None:
        raise UsageError("zoo run needs a RECIPE (e.g. zoo run recipes/jay_gru.yaml) or --resume RUN_DIR")
    else:
        result = run(recipe, parse_overrides(overrides), out=out, data_dir=data_dir, seed=seed, progress=not quiet, overwrite=overwrite)
    final = result.final
    click.echo(f"run saved to {result.run_dir}: perplexity {final['perplexity']:.4f} after epoch {final['epoch']}")
