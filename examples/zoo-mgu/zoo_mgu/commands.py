"""``zoo mgu``: a command this package adds to zoo's command line, through the ``register_commands`` hook."""

from __future__ import annotations

import click

from zoo.plugin import hookimpl
from zoo_mgu import mgu

_GRU_GATES = 3  # reset, update, candidate: the blocks of torch.nn.GRU's weights


@click.command("mgu")
@click.option(
    "--hidden-size", type=click.IntRange(min=1), default=256, show_default=True, help="H, the width of the state."
)
@click.option(
    "--input-size",
    type=click.IntRange(min=1),
    default=256,
    show_default=True,
    help="The width of x: the embedding size, or the vocabulary for one-hot input.",
)
def mgu_command(hidden_size: int, input_size: int) -> None:
    """Show the MGU cell's equations and the weights of one layer, against a GRU's.

    \b
    Example:
        zoo mgu --hidden-size 256 --input-size 64
    """
    rows, h, n = mgu.MGU.gates * hidden_size, hidden_size, input_size  # gate blocks stacked: rows of each weight
    click.echo(mgu.__doc__.strip() + "\n")
    click.echo(f"One layer and direction with hidden size {h} and input size {n}:")
    click.echo(f"  weight_ih_l0 ({rows}, {n}), weight_hh_l0 ({rows}, {h}), bias_ih_l0 and bias_hh_l0 ({rows},)")
    gru = _GRU_GATES * h * (n + h + 2)
    click.echo(f"  {rows * (n + h + 2):,} parameters; a GRU of the same sizes has {gru:,}")


@hookimpl
def register_commands(cli):
    """Add ``zoo mgu``."""
    cli.add_command(mgu_command)
