"""``zoo prune``: drop the checkpoints of finished runs."""

from __future__ import annotations

import click

from zoo.cli._complete import runs
from zoo.units import human_size


@click.command("prune", short_help="Drop the checkpoints of finished runs.")
@click.argument(
    "run_dirs",
    metavar="RUN...",
    nargs=-1,
    required=True,
    type=click.Path(file_okay=False),
    shell_complete=runs("prunable"),
)
def prune_command(run_dirs: tuple[str, ...]) -> None:
    """Drop the checkpoint (the checkpoint/ folder) of each finished RUN; its weights, metrics, samples and plot stay.

    A checkpoint is what zoo run --resume continues from, so a run that has not finished keeps it: if any RUN has not
    finished, is being written by a run, or is no zoo run, nothing is pruned. To drop the checkpoint when a run
    finishes, train it with zoo run --no-keep-checkpoint.

    \b
    Examples:
        zoo prune runs/jay_gru
        zoo prune runs/jay_gru runs/dinos_rnn
    """
    from zoo.train.prune import check, prune

    for run_dir in run_dirs:
        check(run_dir)  # every RUN first: one refused, none pruned
    total = 0
    for run_dir in run_dirs:
        freed = prune(run_dir)
        total += freed
        click.echo(
            f"{run_dir}: dropped its checkpoint, {human_size(freed)} freed"
            if freed
            else f"{run_dir}: no checkpoint to drop"
        )
    if len(run_dirs) > 1:
        click.echo(f"{human_size(total)} freed in all")
