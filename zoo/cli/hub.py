"""``zoo models``, ``zoo pull``, ``zoo verify`` and ``zoo ship``: the catalog of named models."""

from __future__ import annotations

from pathlib import Path

import click

from ..atomic import write_text
from ..cards import MARKERS, markdown_table, rows, text_table
from ..errors import RunError, UsageError
from ..hub import pull
from ..ship import DTYPES, ship
from ..verify import verify


@click.command("models")
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the README's Markdown table instead.")
@click.option("--write", "target", type=click.Path(dir_okay=False, exists=True), default=None,
              help="With --markdown: replace the table between its markers in this file (e.g. README.md).")
def models_command(as_markdown: bool, target: str | None) -> None:
    """List the catalogued models (registry.yaml): cell, layers, parameters, metric, and where the weights are."""
    if target is not None and not as_markdown:
        raise UsageError("--write needs --markdown")
    items = rows()
    if not as_markdown:
        click.echo(text_table(items))
        return
    table = markdown_table(items)
    if target is None:
        click.echo(table)
        return
    text = Path(target).read_text(encoding="utf-8")
    start, end = text.find(MARKERS[0]), text.find(MARKERS[1])
    if start < 0 or end < start:
        raise UsageError(f"{target} has no '{MARKERS[0]}' ... '{MARKERS[1]}' block to replace; add the two markers where the table goes")
    write_text(target, text[:start] + table + text[end + len(MARKERS[1]):])
    click.echo(f"updated the model table in {target}")


@click.command("pull")
@click.argument("ref")
def pull_command(ref: str) -> None:
    """Fetch a catalogued model's weights (or a URL's) into the cache, verified by sha256."""
    path = pull(ref)
    click.echo(f"{ref}: {path} ({path.stat().st_size:,} bytes)")


@click.command("verify")
@click.argument("name")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Train this many epochs (the catalog must record that epoch's perplexity).")
@click.option("--rtol", type=click.FloatRange(min=0), default=0.01, show_default=True, help="Relative tolerance.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="Folder searched first for corpus files (default: $ZOO_DATA).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def verify_command(name: str, epochs: int | None, rtol: float, data_dir: str | None, quiet: bool) -> None:
    """Re-run NAME's recipe and check that it reproduces the catalog's perplexity (exit 1 when not)."""
    v = verify(name, epochs, rtol=rtol, data_dir=data_dir, progress=not quiet)
    line = f"{name}: perplexity {v.measured:.4f} at epoch {v.epoch}, catalog {v.expected:.4f}"
    if not v.reproduced:
        raise RunError(f"{line}: does not reproduce within {rtol:.1%}; check the versions of torch and zoo, or re-measure")
    click.echo(f"{line}: reproduced within {rtol:.1%}")


@click.command("ship")
@click.argument("name")
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--dtype", type=click.Choice(list(DTYPES)), default="float32", show_default=True, help="Precision of the shipped copy.")
def ship_command(name: str, run_dir: str, dtype: str) -> None:
    """Ship RUN_DIR's weights as the catalogued model NAME (weights/NAME.safetensors, catalog updated)."""
    e = ship(name, run_dir, dtype)
    w = e["weights"]
    check = w.get("perplexity_check")
    note = f"; perplexity {check['float32']} as float32, {check[dtype]} as {dtype}" if check else ""
    click.echo(f"shipped {name}: {w['file']} ({w['size']:,} bytes, {dtype}, sha256 {w['sha256'][:12]}...){note}")
