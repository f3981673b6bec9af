"""``zoo models``, ``zoo pull``, ``zoo verify`` and ``zoo ship``: the catalog of named models."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zoo.atomic import write_text
from zoo.cli._complete import catalog_names, runs
from zoo.cli.output import echo_json
from zoo.errors import RunError, UsageError
from zoo.hub.catalog import catalog_path, read_catalog
from zoo.options import closest

if TYPE_CHECKING:
    from zoo.hub.verify import Verdict

_DTYPES = ("float32", "float16")  # zoo.hub.ship.DTYPES, which imports torch (tests/test_imports.py checks both agree)


@click.command("models")
@click.argument("pattern", default="*")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list: one object per model (description, metrics, model, weights).",
)
@click.option("--markdown", "as_markdown", is_flag=True, help="Print the README's Markdown table instead.")
@click.option(
    "--write",
    "target",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help=(
        "With --markdown: replace every generated block in this file (e.g. README.md): the model table and the results."
    ),
)
def models_command(pattern: str, as_json: bool, as_markdown: bool, target: str | None) -> None:
    """List the catalogued models (registry.yaml) whose names match PATTERN (default all): cell, layers, parameters,
    training perplexity, held-out figure, and where the weights are.

    A PATTERN that matches nothing prints nothing (an empty list with --json) and says so on stderr; the exit code is 0.

    \b
    Examples:
        zoo models
        zoo models 'jay*'
        zoo models --json
    """
    from zoo.hub.cards import MARKERS, RESULTS_MARKERS, markdown_table, records, rewrite, rows, text_table

    if target is not None and not as_markdown:
        raise UsageError("--write needs --markdown")
    if as_json and as_markdown:
        raise UsageError("--json and --markdown are two formats; choose one")
    if as_markdown and pattern != "*":
        raise UsageError("--markdown prints the README's table of every model; drop the PATTERN")
    if as_json:
        echo_json(records(pattern))
        return
    items = rows(pattern)
    if not as_markdown:
        if items:
            click.echo(text_table(items))
        else:
            click.echo(_no_match(pattern), err=True)
        return
    if target is None:
        click.echo(markdown_table(items))
        return
    text, done = rewrite(Path(target).read_text(encoding="utf-8"))
    if not done:
        raise UsageError(
            f"{target} has no '{MARKERS[0]}' ... '{MARKERS[1]}' block (nor a '{RESULTS_MARKERS[0]}' one) to replace; "
            "add the two markers where the table goes"
        )
    write_text(target, text)
    click.echo(f"updated {len(done)} generated block{'s' if len(done) > 1 else ''} in {target}")


def _no_match(pattern: str) -> str:
    """The stderr line for a listing that matched nothing: the pattern and, for a mistyped name, the close one."""
    names = list(read_catalog())
    if not names:
        return f"the catalog ({catalog_path()}) lists no models"
    close = None if any(c in pattern for c in "*?[") else closest(pattern, names)
    return f"no catalogued model matches {pattern!r}" + (
        f"; did you mean '{close}'?" if close else f"; zoo models lists all {len(names)}"
    )


@click.command("pull")
@click.argument("ref", shell_complete=catalog_names)
@click.option(
    "--refresh",
    is_flag=True,
    help="Download again even when cached; the cached copy is replaced only once the new one passed its checks.",
)
def pull_command(ref: str, refresh: bool) -> None:
    """Fetch a catalogued model's weights (or a URL's) into the cache, verified (by sha256 where one is given) and
    checked to be a safetensors file.

    \b
    Examples:
        zoo pull jay_gru
        zoo pull jay_gru --refresh
    """
    from zoo.hub.locate import pull

    path = pull(ref, refresh)
    click.echo(f"{ref}: {path} ({path.stat().st_size:,} bytes)")


@click.command("verify")
@click.argument("name", required=False, shell_complete=catalog_names)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Verify every catalog entry, one line each (exit 1 when any does not reproduce).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Train this many epochs (the catalog must record that epoch's perplexity).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="With --all: an entry whose full run took longer (as recorded) is checked at epochs 1 and 2 instead "
    "(epoch 1 alone where two epochs take longer too).",
)
@click.option("--rtol", type=click.FloatRange(min=0), default=0.01, show_default=True, help="Relative tolerance.")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder searched first for corpus files (default: $ZOO_DATA).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list, one object per entry verified (its checks, measured and expected).",
)
def verify_command(
    name: str | None,
    every: bool,
    epochs: int | None,
    budget: float | None,
    rtol: float,
    data_dir: str | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Re-run NAME's recipe (or, with --all, every entry's) and check that it reproduces every perplexity (and
    validation loss) the catalog records up to the last epoch trained (exit 1 when not).

    \b
    Examples:
        zoo verify jay_gru --epochs 2
        zoo verify --all --budget 60     # full runs under a minute, the first two epochs of the others
        zoo verify hello_ohlol_rnn --json -q
    """
    from zoo.hub.verify import verify, verify_all

    if every == (name is not None):
        raise UsageError(
            "zoo verify takes a catalog NAME or --all, not both"
            if every
            else "zoo verify needs a catalog NAME, or --all"
        )
    if budget is not None and not every:
        raise UsageError("--budget goes with --all")
    if name is not None:
        v = verify(name, epochs, rtol=rtol, data_dir=data_dir, progress=not quiet)
        if as_json:
            echo_json([_verdict_record(v)])
        if not v.reproduced:
            raise RunError(f"{_verdict_line(v)}; check the versions of torch and zoo, or re-measure")
        if not as_json:
            click.echo(_verdict_line(v))
        return
    verdicts = verify_all(
        epochs,
        budget=budget,
        rtol=rtol,
        data_dir=data_dir,
        progress=not quiet,
        report=(lambda v: None) if as_json else (lambda v: click.echo(_verdict_line(v))),
    )
    if as_json:
        echo_json([_verdict_record(v) for v in verdicts])
    failed = [v.name for v in verdicts if not v.reproduced]
    if failed:
        raise RunError(
            f"{', '.join(failed)} did not reproduce the catalog within {rtol:.1%}; check the versions of torch and "
            "zoo, or re-measure"
        )


def _verdict_record(v: Verdict) -> dict[str, Any]:
    """One verdict as ``zoo verify --json`` prints it (a figure the run never reached is NaN, which prints as null)."""

    def checks(found: list[tuple[int, float, float]]) -> list[dict[str, Any]]:
        return [{"epoch": e, "measured": m, "expected": x} for e, m, x in found]

    return {
        "name": v.name,
        "reproduced": v.reproduced,
        "epoch": v.epoch,
        "rtol": v.rtol,
        "checks": checks(v.checks),
        "valid": checks(v.valid),
    }


def _verdict_line(v: Verdict) -> str:
    """``jay_gru: perplexity 1.0298 at epoch 160, catalog 1.0298: reproduced within 1.0% (epochs 1, 2, 160)``, with the
    validation loss after the perplexity where the catalog records one; the check farthest off when one is."""

    def part(what: str, checks: list[tuple[int, float, float]], digits: int) -> str:
        epoch, measured, expected = v.shown(checks)
        return f"{what} {measured:.{digits}f} at epoch {epoch}, catalog {expected:.{digits}f}"

    parts = [part("perplexity", v.checks, 4)] + ([part("valid loss", v.valid, 6)] if v.valid else [])
    verdict = f"reproduced within {v.rtol:.1%}" if v.reproduced else f"does not reproduce within {v.rtol:.1%}"
    return f"{v.name}: {'; '.join(parts)}: {verdict} (epochs {', '.join(str(c[0]) for c in v.checks)})"


@click.command("ship")
@click.argument("name", shell_complete=catalog_names)
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True), shell_complete=runs("finished"))
@click.option(
    "--dtype", type=click.Choice(_DTYPES), default="float32", show_default=True, help="Precision of the shipped copy."
)
@click.option(
    "--metrics-only", is_flag=True, help="Record the run's metrics and samples in the catalog, but ship no weights."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder searched first for the corpus the float16 check and the held-out scores read (default: $ZOO_DATA).",
)
def ship_command(name: str, run_dir: str, dtype: str, metrics_only: bool, data_dir: str | None) -> None:
    """Ship RUN_DIR's weights as the catalogued model NAME (weights/NAME.safetensors), and record the run's
    metrics (perplexities by epoch, training time), the shipped weights' held-out scores (as zoo eval measures
    them, where the corpus holds a validation or test split) and last samples in its catalog entry.

    \b
    Examples:
        zoo ship jay_gru runs/jay_gru
        zoo ship jay_gru runs/jay_gru --dtype float16
        zoo ship jay_gru runs/jay_gru --metrics-only
    """
    from zoo.hub.ship import ship

    e = ship(name, run_dir, dtype, metrics_only=metrics_only, data_dir=data_dir)
    m = e["metrics"]
    held_out = "".join(
        f"; {split} loss {m[f'{split}_loss']} nats (perplexity {m[f'{split}_perplexity']})"
        for split in ("valid", "test")
        if f"{split}_loss" in m
    )
    if metrics_only:
        click.echo(
            f"recorded {name}: perplexity {m['perplexity']} at epoch {m['epoch']} ({m['seconds']} s of training)"
            f"{held_out}; no weights shipped"
        )
        return
    w = e["weights"]
    check = w.get("perplexity_check")
    note = f"; perplexity {check['float32']} as float32, {check[dtype]} as {dtype}" if check else ""
    click.echo(
        f"shipped {name}: {w['file']} ({w['size']:,} bytes, {dtype}, sha256 {w['sha256'][:12]}...){note}{held_out}"
    )
