"""``zoo eval``: score a trained model on its held-out splits, on text files, or on another dataset's split."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from zoo.cli._complete import backend_names, dataset_keys, dataset_names, model_refs
from zoo.cli.output import echo_json, table
from zoo.errors import UsageError
from zoo.recipe import parse_overrides

if TYPE_CHECKING:
    from zoo.nn.evaluate import Score

_SPLITS = (
    "valid",
    "test",
    "train",
)  # zoo.hub.pretrained.SPLITS, which imports torch (tests/test_imports.py checks both agree)


@click.command("eval")
@click.argument("ref", shell_complete=model_refs)
@click.option(
    "--split",
    type=click.Choice(_SPLITS),
    default=None,
    help="Score this split of the corpus REF was trained on (train: the text it learnt from) or of --dataset's; "
    "default valid when no --text is given.",
)
@click.option(
    "--text",
    "texts",
    multiple=True,
    metavar="FILE",
    help="Score a UTF-8 text file, split into tokens as REF's vocabulary splits text (repeatable).",
)
@click.option(
    "--dataset",
    default=None,
    metavar="NAME",
    shell_complete=dataset_names,
    help="Score --split (default valid) of this dataset instead, its tokens mapped one by one to REF's vocabulary.",
)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    shell_complete=dataset_keys,
    help=(
        "An option of --dataset, which starts from its defaults (not REF's recipe), e.g. --set path=other.txt "
        "(repeatable)."
    ),
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder searched first for corpus files (default: $ZOO_DATA).",
)
@click.option(
    "--backend", default=None, shell_complete=backend_names, help="Run on another backend (torch, cuda, numpy, ...)."
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of objects (name, tokens, loss, bits, perplexity; null where not finite).",
)
def eval_command(
    ref: str,
    split: str | None,
    texts: tuple[str, ...],
    dataset: str | None,
    settings: tuple[str, ...],
    data_dir: str | None,
    backend: str | None,
    as_json: bool,
) -> None:
    """Score REF (a catalog name, run directory, .safetensors file or URL) on text it predicts token by token:
    tokens scored, mean loss (nats per token), bits per token (per character at char level) and perplexity.

    \b
    Examples:
        zoo eval runs/shakespeare --split valid
        zoo eval runs/shakespeare --text notes.txt --json
        zoo eval runs/ptb --dataset text --set path=other.txt --set level=word --split train

    --text splits a file as the vocabulary does (characters, or words at
    whitespace); to read it as a dataset would (lower-cased, <eos> at line
    ends), use --dataset text --set path=FILE --split train. Unknown tokens
    map to <unk> when REF's vocabulary has it, and are an error otherwise.
    """
    from zoo.hub.pretrained import load
    from zoo.nn.evaluate import MAX_ROWS

    if settings and dataset is None:
        raise UsageError("--set gives options of --dataset; name the dataset with --dataset NAME")
    if dataset is not None or (split is None and not texts):
        split = split or "valid"
    model = load(ref, backend=backend)
    section = {"name": dataset, **parse_overrides(settings)} if dataset is not None else None
    rows: list[tuple[str, Score]] = []
    if split is not None:
        name = dataset if dataset is not None else model.recipe.dataset.name
        rows.append((f"{name}:{split}", model.evaluate(split=split, data_dir=data_dir, dataset=section)))
    rows += [(path, model.evaluate(path=path)) for path in texts]
    if as_json:
        echo_json(
            [
                {"name": name, "tokens": s.tokens, "loss": s.loss, "bits": s.bits, "perplexity": s.perplexity}
                for name, s in rows
            ]
        )
        return
    unit = "bits/char" if model.vocab.level == "char" else "bits/token"
    click.echo(
        table(
            [
                ("text", "tokens", "loss", unit, "perplexity"),
                *((name, f"{s.tokens:,}", f"{s.loss:.4f}", f"{s.bits:.4f}", f"{s.perplexity:.4f}") for name, s in rows),
            ]
        )
    )
    click.echo(
        f"loss in nats per token; each text read from a zero state in up to {MAX_ROWS} contiguous rows, state carried "
        "(the trainer's validation protocol)"
    )
