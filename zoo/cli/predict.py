"""``zoo predict``: continue a prefix with a trained model."""

from __future__ import annotations

import click

from ..pretrained import load


@click.command("predict")
@click.argument("ref")
@click.option("--prefix", "prefixes", multiple=True, required=True, help="Text to continue, or to label for a model trained on pairs (repeatable).")
@click.option("-n", "--num-tokens", type=click.IntRange(min=0), default=50, show_default=True, help="Tokens to generate.")
@click.option("--strategy", type=click.Choice(["greedy", "sample"]), default="greedy", show_default=True)
@click.option("--temperature", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True, help="Softmax temperature (sample).")
@click.option("--top-k", type=click.IntRange(min=1), default=None, help="Sample among the k most likely tokens.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=None, help="Make sampling reproducible.")
@click.option("--backend", default=None, help="Run on another backend (torch, cuda, ...).")
@click.option("--perplexity", "show_ppl", is_flag=True, help="Also print each prefix's perplexity.")
def predict_command(ref: str, prefixes: tuple[str, ...], num_tokens: int, strategy: str, temperature: float,
                    top_k: int | None, seed: int | None, backend: str | None, show_ppl: bool) -> None:
    """Generate text from REF: a registry name, run directory, .safetensors file or URL.

    A model trained on pairs (sequence labelling) prints each text's labels instead.
    """
    model = load(ref, backend=backend)
    texts = None if model.task == "labelling" else model.generate(
        list(prefixes), num_tokens, strategy=strategy, temperature=temperature, top_k=top_k, seed=seed)  # one batch
    for i, prefix in enumerate(prefixes):
        click.echo(f"{prefix} -> {model.label(prefix)}" if texts is None else texts[i])
        if show_ppl:
            click.echo(f"perplexity({prefix!r}) = {model.perplexity(prefix):.4f}")
