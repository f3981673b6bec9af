"""``zoo sweep``: search a recipe's hyperparameters on Optuna, each trial a zoo run; ``zoo sweep --report DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from zoo.cli.output import echo_json, table
from zoo.errors import UsageError


@click.command("sweep", short_help="Search hyperparameters on Optuna; each trial is an ordinary zoo run.")
@click.argument("recipe", required=False)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=SPEC",
    help="A recipe key and its values: choice(128,256), int(1,3), uniform(0,0.5) or loguniform(1e-4,1e-1) "
    "(repeatable).",
)
@click.option("--trials", type=int, help="Trials in the study when done [default: a grid's size, else 20].")
@click.option("--seeds", type=int, default=1, show_default=True, help="Runs per trial (seed, seed+1, ...), averaged.")
@click.option("--metric", default="valid_loss", show_default=True, help="What judges a trial: valid_loss, loss, ...")
@click.option("--direction", type=click.Choice(["minimize", "maximize"]), default="minimize", show_default=True)
@click.option(
    "--sampler",
    type=click.Choice(["grid", "random", "tpe"]),
    help="Optuna's sampler [default: grid when every spec is choice or int, else tpe].",
)
@click.option("--prune", is_flag=True, help="Stop trials worse than the median at the same epoch (Optuna's pruner).")
@click.option("--workers", type=int, default=1, show_default=True, help="Processes on this machine, sharing its cores.")
@click.option("--storage", metavar="URL", help="A database several machines share [default: a journal file in DIR].")
@click.option("--out", type=click.Path(file_okay=False), help="The sweep's folder [default: sweeps/<recipe name>].")
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds the sampler.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a recipe key for every trial.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="A folder searched first for corpus files.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), metavar="DIR", help="Report on DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--worker", "worker_dir", hidden=True, type=click.Path(file_okay=False))
def sweep_command(
    recipe: str | None,
    params: tuple[str, ...],
    trials: int | None,
    seeds: int,
    metric: str,
    direction: str,
    sampler: str | None,
    prune: bool,
    workers: int,
    storage: str | None,
    out: str | None,
    seed: int,
    sets: tuple[str, ...],
    data_dir: str | None,
    report_dir: str | None,
    as_json: bool,
    worker_dir: str | None,
) -> None:
    """Search RECIPE's hyperparameters (a path or a catalog name) with Optuna, training each trial as a zoo run in
    DIR/trial-NNN-<hash>/ (DIR: --out, default sweeps/<name>), then print the trials sorted by the metric and draw
    DIR/report.png.

    The study lives in DIR (Optuna's journal file), so a sweep is one folder; rerunning the same command after a
    crash or Ctrl-C resumes the trials that were cut short from their checkpoints and never trains a finished one
    again. --storage points several zoo sweep processes, on several machines, at one database.

    \b
    Examples:
      zoo sweep shakespeare_lstm --param 'model.hidden_size=choice(128,256)' --param 'trainer.lr=choice(0.003,0.01)'
      zoo sweep recipes/jay_gru_heldout.yaml --param 'trainer.lr=loguniform(1e-4,1e-1)' --trials 12 --prune
      zoo sweep --report sweeps/shakespeare_lstm
    """
    from zoo.experiments.study import optuna_module
    from zoo.experiments.sweep import sweep
    from zoo.experiments.sweep_report import report
    from zoo.experiments.trials import work

    if worker_dir is not None:  # one of --workers' processes
        work(Path(worker_dir), echo=lambda line: click.echo(line, err=True))
        return
    if report_dir is not None:
        if recipe is not None or params:
            raise UsageError("zoo sweep --report DIR takes no RECIPE or --param; it reads the sweep in DIR")
        data = report(report_dir)
    else:
        if recipe is None:
            raise UsageError("zoo sweep needs a RECIPE and --param KEY=SPEC (or --report DIR); see zoo sweep --help")
        from zoo.recipe import parse_overrides

        optuna = optuna_module()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # zoo says what each trial did
        data = sweep(
            recipe,
            params,
            trials=trials,
            seeds=seeds,
            metric=metric,
            direction=direction,
            sampler=sampler,
            prune=prune,
            workers=workers,
            storage=storage,
            out=out,
            seed=seed,
            overrides=parse_overrides(sets),
            data_dir=data_dir,
            echo=lambda line: click.echo(line, err=True),
        )
    if as_json:
        echo_json(data)
    else:
        click.echo(_table(data))


def _table(data: dict[str, Any]) -> str:
    """The report as ``zoo sweep`` prints it: one row per trial, best first, then the best trial's directory."""
    keys = [p.split("=", 1)[0] for p in data["params"]]
    metric = data["metric"]
    rows = []
    for r in data["trials"]:
        value = "—" if r["value"] is None else f"{r['value']:.4f}" + (f" ± {r['std']:.4f}" if r["std"] else "")
        if r["value"] is None and r["history"]:
            epoch, last = max(r["history"].items())
            value = f"({last:.4f} @{epoch})"
        epochs = "—" if r["epochs"] is None else str(r["epochs"])
        seconds = "—" if r["seconds"] is None else f"{r['seconds']:.1f}"
        rows.append((str(r["number"]), r["state"], *(_show(r["params"].get(k)) for k in keys), value, epochs, seconds))
    lines = table([("trial", "state", *keys, metric, "epochs", "seconds"), *rows], left=2)
    best = data["best"]
    tail = [f"best: trial {best['number']} in {best['dirs'][0]}" if best and best["dirs"] else "best: none yet"]
    if data.get("plot"):
        tail.append(f"report figure: {data['plot']}")
    failed = [r for r in data["trials"] if r["error"]]
    tail += [f"trial {r['number']} failed: {r['error']}" for r in failed]
    return "\n".join([lines, "", *tail])


def _show(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
