"""``zoo predict``: continue prefixes (given, or read from stdin) with a trained model."""

from __future__ import annotations

import sys
from typing import Any

import click

from zoo.cli._complete import backend_names, model_refs
from zoo.cli.output import echo_json
from zoo.errors import UsageError

_GIVE = "give --prefix TEXT, or pipe text in, one prefix per line (echo 分开 | zoo predict jay_gru)"


def stdin_prefixes() -> list[str]:
    """The prefixes piped to stdin: one per line (``\\n`` or ``\\r\\n``), empty lines skipped.

    :raises UsageError: when stdin is a terminal (nothing was piped), is not UTF-8 text, or holds no prefix.
    """
    stream = sys.stdin
    if stream is None or stream.isatty():
        raise UsageError(f"zoo predict needs text to continue: {_GIVE}")
    try:
        buffer = getattr(stream, "buffer", None)
        text = buffer.read().decode("utf-8") if buffer is not None else stream.read()
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"stdin is not UTF-8 text ({exc.reason} at byte {exc.start}); pipe UTF-8 text, or give --prefix TEXT"
        ) from None
    except OSError as exc:
        raise UsageError(f"cannot read prefixes from stdin ({exc}); {_GIVE}") from None
    prefixes = [line.removesuffix("\r") for line in text.split("\n") if line.removesuffix("\r")]
    if not prefixes:
        raise UsageError(f"stdin held no prefix (it was empty, or only empty lines); {_GIVE}")
    return prefixes


@click.command("predict")
@click.argument("ref", shell_complete=model_refs)
@click.option(
    "--prefix",
    "prefixes",
    multiple=True,
    help=(
        "Text to continue, or to label for a model trained on pairs (repeatable); without it, one prefix per line "
        "of stdin."
    ),
)
@click.option(
    "-n", "--num-tokens", type=click.IntRange(min=0), default=50, show_default=True, help="Tokens to generate."
)
@click.option("--strategy", type=click.Choice(["greedy", "sample"]), default="greedy", show_default=True)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Softmax temperature (sample).",
)
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample among the k most likely tokens.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Make sampling reproducible.")
@click.option(
    "--backend", default=None, shell_complete=backend_names, help="Run on another backend (torch, cuda, ...)."
)
@click.option("--perplexity", "show_ppl", is_flag=True, help="Also print each prefix's perplexity.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help=(
        "Print a JSON list: {prefix, text} per prefix ({prefix, labels} for a labelling model), with perplexity "
        "when --perplexity."
    ),
)
def predict_command(
    ref: str,
    prefixes: tuple[str, ...],
    num_tokens: int,
    strategy: str,
    temperature: float,
    top_k: int | None,
    seed: int | None,
    backend: str | None,
    show_ppl: bool,
    as_json: bool,
) -> None:
    """Generate text from REF: a catalog name, run directory, .safetensors file or URL.

    A model trained on pairs (sequence labelling) prints each text's labels instead.

    \b
    Examples:
        zoo predict jay_gru --prefix 分开 --prefix 不分开 -n 30
        printf '分开\n不分开\n' | zoo predict jay_gru --json
        zoo predict runs/jay_gru --prefix 分开 --strategy sample --temperature 0.8 --seed 0
    """
    from zoo.hub.pretrained import load

    model = load(ref, backend=backend)  # first: a wrong REF is the error to report, whatever stdin holds
    texts_in = list(prefixes) or stdin_prefixes()
    labelling = model.task == "labelling"
    texts = (
        None
        if labelling
        else model.generate(texts_in, num_tokens, strategy=strategy, temperature=temperature, top_k=top_k, seed=seed)
    )  # one batch
    results: list[dict[str, Any]] = []
    for i, prefix in enumerate(texts_in):
        row: dict[str, Any] = {
            "prefix": prefix,
            **({"labels": model.label(prefix)} if texts is None else {"text": texts[i]}),
        }
        if show_ppl:
            row["perplexity"] = model.perplexity(prefix)
        results.append(row)
    if as_json:
        echo_json(results)
        return
    for r in results:
        click.echo(f"{r['prefix']} -> {r['labels']}" if labelling else r["text"])
        if show_ppl:
            click.echo(f"perplexity({r['prefix']!r}) = {r['perplexity']:.4f}")
