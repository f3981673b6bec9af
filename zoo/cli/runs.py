"""``zoo runs`` and ``zoo compare``: the run directories under a folder, and runs side by side."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from zoo.cli._complete import runs
from zoo.cli.output import echo_json, table
from zoo.errors import UsageError

if TYPE_CHECKING:
    from zoo.experiments.summary import RunSummary

_SORT_KEYS = ("name", "state", "epochs", "perplexity", "valid_loss", "tokens_per_s", "seconds")  # summary.SORT_KEYS


def _number(value: float | None, digits: int) -> str:
    """``value`` with ``digits`` decimals; in scientific notation past a billion (a diverged run's perplexity)."""
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) >= 1e9 else f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def _model(row: RunSummary) -> str:
    if row.cell is None:
        return "—"
    return f"{row.cell} {row.impl or '?'} {row.layers or '?'}×{row.hidden or '?'}"


@click.command("runs", short_help="List the run directories under folders, with their state and numbers.")
@click.argument("folders", metavar="[DIR]...", nargs=-1, type=click.Path(file_okay=False))
@click.option(
    "--sort",
    "sort_key",
    type=click.Choice(_SORT_KEYS),
    default="name",
    show_default=True,
    help="Order of the rows: lowest perplexity and valid_loss first, most epochs and tokens/s first.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: one object per run.")
def runs_command(folders: tuple[str, ...], sort_key: str, as_json: bool) -> None:
    """List the zoo run directories in each DIR (default: runs), searched to any depth.

    Each row shows the run's state (finished; interrupted, which zoo run --resume continues; running, with the pid
    of the process writing it; empty, stopped before its first checkpoint; damaged, with the reason in --json), its
    model (cell, impl, layers × hidden), the epochs it finished, its last training perplexity, its lowest validation
    loss (nats per token) with the epoch, its training speed and its training and validation time.

    \b
    Examples:
        zoo runs                          # the runs under runs/
        zoo runs experiments/ --sort valid_loss
        zoo runs --json
    """
    from zoo.experiments.summary import find_runs, sort_runs, summarize

    rows = sort_runs([summarize(p) for p in find_runs(folders or ("runs",))], sort_key)
    if as_json:
        echo_json([row.to_dict() for row in rows])
        return
    if not rows:
        where = ", ".join(folders) or "runs"
        click.echo(f"no zoo run directories under {where}; train one with  zoo run RECIPE")
        return
    lines = [("run", "state", "model", "epochs", "perplexity", "valid_loss", "tokens/s", "time")]
    for row in rows:
        state = f"running (pid {row.pid})" if row.state == "running" and row.pid else row.state
        valid = "—" if row.valid_loss is None else f"{_number(row.valid_loss, 4)} @{row.valid_epoch}"
        lines.append(
            (
                row.path,
                state,
                _model(row),
                str(row.epochs),
                _number(row.perplexity, 3),
                valid,
                _number(row.tokens_per_s, 0),
                _duration(row.seconds),
            )
        )
    click.echo(table(lines, left=3))


def _value(value: object) -> str:
    return "—" if value is None else json.dumps(value, ensure_ascii=False, default=str)


@click.command("compare", short_help="Compare runs: differing recipe keys, metrics, samples, curves.")
@click.argument(
    "run_dirs", metavar="RUN RUN...", nargs=-1, required=True, type=click.Path(), shell_complete=runs("any")
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: what zoo.compare returns.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    metavar="FILE.png",
    help="Also draw every run's train (solid) and valid (dashed) perplexity by epoch in one figure.",
)
def compare_command(run_dirs: tuple[str, ...], as_json: bool, plot_path: str | None) -> None:
    """Compare two or more run directories side by side: only the recipe keys whose values differ, the lowest
    loss, perplexity and validation loss of each run with the epoch it was reached in, and the samples of each run's
    last epoch.

    \b
    Examples:
        zoo compare runs/jay_gru runs/jay_gru_lr2
        zoo compare runs/*/ --plot compare.png
        zoo compare runs/a runs/b --json
    """
    from zoo.experiments.compare import METRICS, compare, label, plot

    result = compare(run_dirs)
    if plot_path is not None:
        try:
            plot(result, plot_path)
        except OSError as exc:
            why = exc.strerror or exc
            raise UsageError(f"cannot write the plot {plot_path} ({why}); choose another path") from None
    if as_json:
        echo_json(result)
        return
    names = result["runs"]
    if result["differs"]:
        lines = [("key", *names)] + [(k, *map(_value, v)) for k, v in result["differs"].items()]
        click.echo(table(lines, left=len(names) + 1))
    else:
        click.echo("the runs' resolved recipes are the same")
    click.echo()
    lines = [("metric", *names)]
    for key in ("state", "epochs"):
        lines.append((key, *(str(m[key]) for m in result["metrics"])))
    for key in METRICS:
        cells = [
            ("—" if m[key] is None else f"{_number(m[key]['value'], 4)} @{m[key]['epoch']}") for m in result["metrics"]
        ]
        lines.append((key, *cells))
    lines.append(("tokens/s", *(_number(m["tokens_per_s"], 0) for m in result["metrics"])))
    lines.append(("time", *(_duration(m["seconds"]) for m in result["metrics"])))
    click.echo(table(lines))
    samples = result["samples"]
    click.echo("\nsamples of each run's last epoch, line by line:")
    for j in range(max(len(s["lines"]) for s in samples)):
        click.echo()
        for i, s in enumerate(samples):
            text = s["lines"][j] if j < len(s["lines"]) else "(none)"
            click.echo(f"  {label(result, i)} @{s['epoch']}: {text}")
    if not any(s["lines"] for s in samples):
        click.echo("  none (a run generates samples at each epoch's end, unless bidirectional)")
    if plot_path is not None:
        click.echo(f"\nplot written to {plot_path}")
