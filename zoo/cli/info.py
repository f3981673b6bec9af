"""``zoo info``: the model card of a catalogued model, a run directory or a weights file."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.atomic import write_text
from zoo.cli._complete import model_refs
from zoo.cli.output import echo_json
from zoo.errors import UsageError


@click.command("info")
@click.argument("ref", shell_complete=model_refs)
@click.option("--json", "as_json", is_flag=True, help="Print the card as one JSON object.")
@click.option(
    "--markdown",
    "as_markdown",
    is_flag=True,
    help="Print the card as a README in the layout of Hugging Face model cards (YAML front matter with the metrics).",
)
@click.option(
    "--write",
    "target",
    type=click.Path(dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write the Markdown card to FILE (atomically) instead of printing it.",
)
def info_command(ref: str, as_json: bool, as_markdown: bool, target: str | None) -> None:
    """Show the model card of REF: a catalog name, a run directory or a .safetensors file.

    The card holds the description, the resolved recipe, the parameter count,
    the metrics (training and held out, with their epochs), where the weights
    are and their sha256, the versions that made them, the last samples and
    the command that reproduces the model. Nothing is trained or downloaded.

    \b
    Examples:
        zoo info jay_gru
        zoo info runs/jay_gru --json
        zoo info runs/jay_gru --write share/jay_gru/README.md
    """
    from zoo.hub.info import model_card
    from zoo.hub.modelcard import card_markdown, card_text
    from zoo.train.rundir import MARKER

    if as_json and (as_markdown or target is not None):
        raise UsageError("--json prints JSON; --markdown and --write give the Markdown card: choose one")
    if target is not None and (Path(target).parent / MARKER).is_file():
        raise UsageError(
            f"{target} is inside a zoo run directory, which holds only the files a run writes (a later run there would "
            "refuse a stranger's file); write the card elsewhere"
        )
    card = model_card(ref)
    if as_json:
        echo_json(card.to_dict())
    elif target is not None:
        try:
            write_text(target, card_markdown(card))
        except OSError as exc:
            raise UsageError(
                f"cannot write {target}: {exc.strerror or exc}; choose a path in a folder you may write to"
            ) from None
        click.echo(f"wrote the model card of {card.name} to {target}")
    elif as_markdown:
        click.echo(card_markdown(card), nl=False)
    else:
        click.echo(card_text(card))
