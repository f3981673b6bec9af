"""``zoo sweep``: a hyperparameter search on Optuna whose trials are ordinary zoo runs.

Optuna is the engine: its samplers choose each trial's values, its median pruner stops hopeless ones, and its storage
holds the study, by default a journal file inside the sweep's folder (no server), or any database several machines
share (``--storage``). zoo adds what makes a trial a run: each is ``DIR/trial-NNN-<hash>/`` (the hash of its resolved
recipe), trained by :func:`zoo.run`, loadable and listed by ``zoo runs``, and exactly resumable.

This module checks the command and starts the workers (:mod:`zoo.experiments.trials`); the folder and the study are
:mod:`zoo.experiments.study`'s, the report :mod:`zoo.experiments.sweep_report`'s.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zoo.errors import Interrupted, RecipeError, Reported, RunError, UsageError
from zoo.experiments.compare import METRICS
from zoo.experiments.specs import Spec, parse_specs
from zoo.experiments.study import SWEEPS, Plan, digest, grid, optuna_module
from zoo.experiments.trials import work
from zoo.recipe import apply_overrides, prepare, resolve
from zoo.registry import Registry, get_registry

__all__ = ["SAMPLERS", "sweep"]

SAMPLERS = ("grid", "random", "tpe")
DEFAULT_TRIALS = 20  # random and tpe; a grid's default is its size


def _check_specs(specs: list[Spec], base: dict[str, Any], registry: Registry) -> None:
    """Refuse, before anything trains, a key no recipe takes or a value the recipe refuses (every choice, both
    bounds), naming the ``--param`` and the problem as recipe validation words it."""
    for spec in specs:
        for value in spec.corners():
            try:
                resolve(apply_overrides(base, {spec.key: value}), registry)
            except RecipeError as exc:
                raise UsageError(f"--param {spec.key}={spec.text}: {exc.problems[0]}") from None
            except UsageError as exc:
                raise UsageError(f"--param {spec.key}={spec.text}: {exc}") from None


def _check_metric(metric: str, recipe: Any, data_dir: str | Path | None) -> None:
    """A metric the runs report; a held-out one needs a validation split."""
    if metric not in METRICS:
        raise UsageError(f"--metric {metric}: a sweep optimises one of {', '.join(METRICS)}")
    if metric.startswith("valid_"):
        corpus = recipe.dataset.build().load(Path(data_dir) if data_dir else None)
        if corpus.valid is None:
            raise UsageError(
                f"--metric {metric}: recipe '{recipe.name}' holds no validation split; set dataset.valid_fraction "
                "(e.g. --set dataset.valid_fraction=0.1) or sweep on --metric loss"
            )


def sweep(
    recipe: str | Path | dict[str, Any],
    params: Sequence[str] | Mapping[str, str],
    *,
    trials: int | None = None,
    seeds: int = 1,
    metric: str = "valid_loss",
    direction: str = "minimize",
    sampler: str | None = None,
    prune: bool = False,
    workers: int = 1,
    storage: str | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    overrides: dict[str, Any] | None = None,
    data_dir: str | Path | None = None,
    registry: Registry | None = None,
    echo: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Search hyperparameters of a recipe on Optuna; each trial is a zoo run in ``out`` (default ``sweeps/<name>``).

    :param params: ``KEY=SPEC`` strings, or a mapping of key to spec: ``choice(128,256)``, ``int(1,3)``,
        ``uniform(0,0.5)``, ``loguniform(1e-4,1e-1)``.
    :param trials: how many trials the study holds when done (default: a grid's size; 20 otherwise).
    :param seeds: runs per trial, under the recipe's seed, seed + 1, ...; the trial's value is their mean.
    :param metric: what the trial's runs are judged by: the saved weights' ``valid_loss`` (the default), ``loss``, ...
    :param sampler: ``grid`` (``choice`` and ``int`` only; the default when every spec is one), ``random`` or ``tpe``.
    :param prune: stop trials whose per-epoch metric is worse than the median of the others at that epoch.
    :param workers: processes on this machine, each training one trial at a time (on its share of the cores, with the
        installed plugins rather than ``registry``).
    :param storage: a database URL several sweeps share (PostgreSQL, MySQL, SQLite); default: a journal file in
        ``out``.
    :param seed: seeds the sampler; with one worker, the same seed gives the same trials.
    :param overrides: ``--set`` overrides of the recipe, for every trial.
    :param echo: called with a line as each trial starts and ends (default: nothing).
    :returns: the report (see :func:`zoo.experiments.sweep_report.report`).
    :raises UsageError: before anything trains, for a spec that does not parse or a key or value no recipe takes.
    """
    optuna = optuna_module()
    pairs = [f"{k}={v}" for k, v in params.items()] if isinstance(params, Mapping) else list(params)
    specs = parse_specs(pairs)
    registry = registry or get_registry()
    base = prepare(recipe, registry, overrides)
    base_data = base.to_dict()
    _check_specs(specs, base_data, registry)
    _check_metric(metric, base, data_dir)
    if direction not in ("minimize", "maximize"):
        raise UsageError(f"--direction {direction}: expected minimize or maximize")
    for option, value in (("--trials", trials), ("--seeds", seeds), ("--workers", workers)):
        if value is not None and value < 1:
            raise UsageError(f"{option} {value}: expected a whole number of at least 1")
    sampler = sampler or ("grid" if all(s.kind in ("choice", "int") for s in specs) else "tpe")
    if sampler not in SAMPLERS:
        raise UsageError(f"--sampler {sampler}: expected one of {', '.join(SAMPLERS)}")
    size = len(grid(specs)) if sampler == "grid" else None
    count = min(trials or size, size) if size else trials or DEFAULT_TRIALS
    settings = {
        "recipe": base_data,
        "params": [f"{s.key}={s.text}" for s in specs],
        "metric": metric,
        "direction": direction,
        "sampler": sampler,
        "seeds": seeds,
        "seed": seed,
        "prune": prune,
    }
    folder = Path(out) if out is not None else SWEEPS / base.name
    plan = Plan(
        f"zoo-{base.name}-{digest(settings, 12)}", storage, count, str(data_dir) if data_dir else None, settings
    )
    plan.open(folder)
    optuna.create_study(
        study_name=plan.study, storage=plan.storage_for(folder), direction=direction, load_if_exists=True
    )
    if workers == 1:
        work(folder, registry=registry, echo=echo)
    else:
        _start_workers(folder, workers)
    from zoo.experiments.sweep_report import report

    return report(folder)


def _start_workers(folder: Path, workers: int) -> None:
    """Run ``workers`` processes of :func:`work` on ``folder`` (``zoo sweep --worker DIR``, with the installed plugins)
    and wait for them; each says what its trials did on stderr and computes on its share of the cores (unless
    OMP_NUM_THREADS says otherwise), as ``zoo run --nproc`` does."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    command = [sys.executable, "-m", "zoo", "sweep", "--worker", str(folder)]
    procs = [subprocess.Popen(command, env=env) for _ in range(workers)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:  # Ctrl-C reached every worker too: each checkpoints its trial and stops
        for p in procs:
            p.wait()
        raise Interrupted(f"sweep in {folder} stopped; rerun the same zoo sweep command to continue it") from None
    failed = [(i, c) for i, c in enumerate(codes, 1) if c != 0]
    if failed:
        i, code = failed[0]
        if code > 0:  # it said why in its own line
            raise Reported(code, f"worker {i} of the sweep failed")
        raise RunError(
            f"worker {i} of the sweep in {folder} was killed by signal {-code}; rerun the same zoo sweep command to "
            "continue it"
        )
