"""``zoo run``: train a recipe, or continue an interrupted run."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from zoo.cli._complete import recipe_refs, recipe_set_keys, runs
from zoo.errors import UsageError
from zoo.recipe import parse_overrides, prepare
from zoo.registry import get_registry

if TYPE_CHECKING:
    from zoo.train.runner import RunResult


@click.command("run")
@click.argument("recipe", type=click.Path(dir_okay=False), required=False, shell_complete=recipe_refs)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    shell_complete=recipe_set_keys,
    help="Override a recipe value, e.g. --set trainer.lr=0.001 (repeatable).",
)
@click.option(
    "--out",
    default=None,
    metavar="DIR",  # checked by the runner, which names the problem (a file, a stranger's folder...)
    help="Run directory (default: runs/<name>): a new or empty folder, or one a zoo run wrote.",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder searched first for corpus files (default: $ZOO_DATA).",
)
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Override the recipe's seed.")
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False),
    default=None,
    metavar="RUN_DIR",
    shell_complete=runs("stopped"),
    help="Continue the interrupted run in RUN_DIR from its last checkpoint (no RECIPE then).",
)
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace a zoo run already in the run directory (finished or not); never other files.",
)
@click.option(
    "--nproc",
    type=click.IntRange(min=1),
    default=1,
    metavar="N",
    help=(
        "Train on N processes of this machine (torch.distributed: gloo on CPU, NCCL on GPUs); batch_size stays the "
        "global batch."
    ),
)
@click.option(
    "--keep-checkpoint/--no-keep-checkpoint",
    default=True,
    show_default=True,
    help="Keep the checkpoint/ folder once the run has finished (a stopped run keeps it either way, to resume).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def run_command(
    recipe: str | None,
    overrides: tuple[str, ...],
    out: str | None,
    data_dir: str | None,
    seed: int | None,
    resume_dir: str | None,
    overwrite: bool,
    nproc: int,
    keep_checkpoint: bool,
    quiet: bool,
) -> None:
    """Train RECIPE (a recipe file, or the name of a catalogued one: zoo recipes lists them) and save the run
    (weights, metrics, samples, plot, checkpoints).

    A run killed or stopped with Ctrl-C continues with --resume; its final
    weights equal, bit for bit, those of a run never interrupted.

    \b
    Examples:
        zoo run jay_gru --set trainer.epochs=40 --set model.layers=2
        zoo run my_recipe.yaml
        zoo run --resume runs/jay_gru
        zoo run jay_gru --nproc 2
    For several machines, start it with torchrun on each:
        torchrun --nnodes 2 --node-rank K --nproc-per-node N --master-addr HOST --master-port 29500 -m zoo run RECIPE
    """
    from zoo.train import rundir
    from zoo.train.distributed import check_distributable, env_rank
    from zoo.train.runner import resume, run

    if resume_dir is not None:
        extra = [
            flag
            for flag, given in (
                ("RECIPE", recipe),
                ("--set", overrides),
                ("--out", out),
                ("--seed", seed is not None),
                ("--overwrite", overwrite),
            )
            if given
        ]
        if extra:
            raise UsageError(f"--resume continues a run with its own recipe; drop {', '.join(extra)}")
        if nproc > 1:
            return _launch(nproc, ["--resume", resume_dir], data_dir, quiet, resume_dir, keep_checkpoint)
        result = resume(resume_dir, data_dir=data_dir, progress=not quiet, keep_checkpoint=keep_checkpoint)
    elif recipe is None:
        raise UsageError("zoo run needs a RECIPE (a file, or a catalog name: zoo run jay_gru) or --resume RUN_DIR")
    elif nproc > 1:
        r = prepare(
            recipe, get_registry(), parse_overrides(overrides), seed
        )  # a bad recipe: one line here, not one per process
        check_distributable(r.backend.build(), r.sampler.build(), r, nproc)
        args = [
            recipe,
            *(f"--set={o}" for o in overrides),
            *(["--out", out] if out else []),
            *(["--seed", str(seed)] if seed is not None else []),
            *(["--overwrite"] if overwrite else []),
        ]
        return _launch(nproc, args, data_dir, quiet, out or str(rundir.default_dir(r.name)), keep_checkpoint)
    else:
        result = run(
            recipe,
            parse_overrides(overrides),
            out=out,
            data_dir=data_dir,
            seed=seed,
            progress=not quiet,
            overwrite=overwrite,
            keep_checkpoint=keep_checkpoint,
        )
    if env_rank() == 0:
        click.echo(f"run saved to {result.run_dir}: {saved_line(result)}")


def saved_line(result: RunResult) -> str:
    """What the saved weights measured: the training perplexity and, where scored, the validation loss; and which
    evaluation they are from under ``trainer.keep: best``."""
    m = result.saved
    at = f"epoch {m['epoch']}" + (f", batch {m['batch']}" if "batch" in m else "")
    parts = ([f"training perplexity {m['perplexity']:.4f}"] if "perplexity" in m else []) + (
        [f"validation loss {m['valid_loss']:.4f} (perplexity {m['valid_perplexity']:.3f})"] if "valid_loss" in m else []
    )
    earlier = "batch" in m or m.get("epoch") != result.final.get(
        "epoch"
    )  # trainer.keep: best kept an earlier evaluation's weights
    return f"{'the best weights: ' if earlier else ''}{', '.join(parts)} after {at}"


def _launch(
    nproc: int, args: list[str], data_dir: str | None, quiet: bool, run_dir: str, keep_checkpoint: bool
) -> None:
    """Run ``zoo run ARGS`` on ``nproc`` local processes (see :mod:`zoo.train.launch`); refused under torchrun."""
    from zoo.train.launch import launch

    if "WORLD_SIZE" in os.environ:
        raise UsageError("--nproc starts processes of its own; under torchrun, leave it out")
    launch(
        nproc,
        [
            *args,
            *(["--data-dir", data_dir] if data_dir else []),
            *(["--quiet"] if quiet else []),
            *([] if keep_checkpoint else ["--no-keep-checkpoint"]),
        ],
        run_dir,
    )
