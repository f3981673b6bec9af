"""A sweep's worker: asks Optuna for trials one at a time and trains each as zoo runs (:func:`work`).

A trial whose claim (``.claims/trial-NNN.lock``) nobody holds while Optuna still has it running was cut short (its
process was killed): the next worker to ask resumes it from its checkpoints before starting a new one, so rerunning
the same command continues the sweep and never trains a finished trial again.

Each new trial is drawn with a sampler seeded from ``--seed`` and the trial's number, and a grid is walked in the order
of its values, so that with one worker the trials (and their weights) are those of an uninterrupted sweep, bit for
bit, however often it was killed and rerun; with several workers, the grid's trials are too, in any order.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import math
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from zoo.errors import Interrupted, RunError, StopRun, UsageError
from zoo.experiments.study import Plan, grid, optuna_module, trial_dirs
from zoo.interfaces import Logger, RunEnd, RunStart
from zoo.options import NoOptions
from zoo.recipe import apply_overrides, resolve
from zoo.registry import Registry, get_registry
from zoo.train import rundir

__all__ = ["PRUNER", "work"]

# The median pruner judges a trial against the others at the same epoch once two trials have finished.
PRUNER = {"n_startup_trials": 2, "n_warmup_steps": 0}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, waited for (the workers of a sweep take turns asking Optuna)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _claim(folder: Path, number: int) -> int | None:
    """Hold trial ``number``'s claim (an open file descriptor with its ``flock``), or ``None`` when another live process
    holds it; the kernel drops it when this process dies."""
    claims = folder / ".claims"
    claims.mkdir(exist_ok=True)
    fd = os.open(claims / f"trial-{number:03d}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _claimed_before(folder: Path, number: int) -> bool:
    """Whether a process of this folder claimed trial ``number`` (and so trained it here)."""
    return (folder / ".claims" / f"trial-{number:03d}.lock").exists()


class _Pruner(Logger):
    """Reports each epoch's metric to the Optuna trial and stops the run (:class:`StopRun`) when the pruner says so."""

    Options = NoOptions

    def __init__(self, trial: Any, metric: str):
        self.trial, self.metric = trial, metric

    def start(self, run: RunStart, state: dict[str, Any] | None) -> None:
        """Nothing to open: the trial lives in the study."""

    def log(self, record: dict[str, Any]) -> None:
        """An epoch's record: report its metric at the epoch; prune if Optuna says so."""
        if "loss" in record and self.metric in record:
            self.trial.report(record[self.metric], record["epoch"])
            if self.trial.should_prune():
                raise StopRun(f"pruned at epoch {record['epoch']}")

    def end(self, run: RunEnd) -> None:
        """Nothing to close."""


def _study(optuna: Any, plan: Plan, storage: Any, number: int) -> Any:
    """The study, as trial ``number`` sees it: with a sampler seeded from the sweep's seed and the number (so that a
    sweep rerun after a kill draws what the uninterrupted one drew; a grid point is enqueued instead, see
    :func:`_ask`), and the median pruner when the sweep prunes."""
    seed = plan.settings["seed"] + number
    kind = optuna.samplers.TPESampler if plan.settings["sampler"] == "tpe" else optuna.samplers.RandomSampler
    pruner = optuna.pruners.MedianPruner(**PRUNER) if plan.settings["prune"] else optuna.pruners.NopPruner()
    return optuna.load_study(study_name=plan.study, storage=storage, sampler=kind(seed=seed), pruner=pruner)


@dataclasses.dataclass
class _Job:
    """A trial this process trains: its Optuna trial, number, values and claim."""

    trial: Any
    number: int
    params: dict[str, Any]
    claim: int
    resumed: bool


def _ask(optuna: Any, folder: Path, plan: Plan, storage: Any) -> _Job | None:
    """Under the sweep's lock: a cut-short trial of this folder to resume, else a new trial, else ``None`` (the study
    holds ``plan.trials`` trials)."""
    with _locked(folder / ".lock"):
        study = optuna.load_study(study_name=plan.study, storage=storage)
        trials = study.get_trials(deepcopy=False)
        running = optuna.trial.TrialState.RUNNING
        for frozen in trials:
            if frozen.state == running and _claimed_before(folder, frozen.number):
                claim = _claim(folder, frozen.number)
                if claim is not None:  # its process died: resume it, drawing any value it had not drawn as it would
                    study = _study(optuna, plan, storage, frozen.number)
                    trial = optuna.trial.Trial(study, frozen._trial_id)  # Optuna has no public lookup by number
                    return _Job(trial, frozen.number, _suggest(trial, plan), claim, True)
        if len(trials) >= plan.trials:
            return None
        number = len(trials)
        study = _study(optuna, plan, storage, number)
        waiting = [t for t in trials if t.state == optuna.trial.TrialState.WAITING]
        if plan.settings["sampler"] == "grid" and not waiting:
            specs = plan.specs
            study.enqueue_trial(dict(zip((s.key for s in specs), grid(specs)[number])))
        trial = study.ask()
        claim = _claim(folder, trial.number)
        assert claim is not None, "a new trial's claim is free"
        return _Job(trial, trial.number, _suggest(trial, plan), claim, False)


def _suggest(trial: Any, plan: Plan) -> dict[str, Any]:
    return {s.key: s.suggest(trial) for s in plan.specs}


def work(folder: Path, *, registry: Registry | None = None, echo: Callable[[str], None] | None = None) -> None:
    """Train the sweep's trials in ``folder`` one after another, resuming cut-short ones first, until the study holds
    its number of trials: what each worker runs."""
    optuna = optuna_module()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # zoo says what each trial did
    plan = Plan.read(folder)
    storage = plan.storage_for(folder)
    say = echo or (lambda line: None)
    while (job := _ask(optuna, folder, plan, storage)) is not None:
        try:
            _train(optuna, folder, plan, job, registry or get_registry(), say)
        finally:
            os.close(job.claim)


def _train(optuna: Any, folder: Path, plan: Plan, job: _Job, registry: Registry, say: Callable[[str], None]) -> None:
    """Train (or resume, or read) each run of one trial and tell Optuna how it went."""
    from zoo.train.runner import resume, run  # torch: when a trial trains

    s = plan.settings
    config = resolve(apply_overrides(s["recipe"], job.params), registry).to_dict()
    dirs = trial_dirs(folder, job.number, config, s["seeds"])
    shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in job.params.items())
    say(f"trial {job.number}{' (resumed)' if job.resumed else ''}: {shown} -> {dirs[0]}")
    values, start = [], time.perf_counter()
    study = job.trial.study
    for k, out in enumerate(dirs):
        recipe = {**config, "seed": config["seed"] + k}
        loggers = {"optuna-pruner": _Pruner(job.trial, s["metric"])} if s["prune"] and k == 0 else {}
        try:
            found = rundir.state(out) if out.is_dir() else "none"
            if found == "finished":
                from zoo.hub.weights import read_weights

                saved = read_weights(out / "model.safetensors").metrics
            elif found == "stopped":
                saved = resume(
                    out, data_dir=plan.data_dir, keep_checkpoint=False, registry=registry, loggers=loggers
                ).saved
            else:
                saved = run(
                    recipe,
                    out=out,
                    data_dir=plan.data_dir,
                    overwrite=True,
                    keep_checkpoint=False,
                    registry=registry,
                    loggers=loggers,
                ).saved
        except StopRun as exc:
            study.tell(job.number, state=optuna.trial.TrialState.PRUNED)
            say(f"trial {job.number}: {exc} ({_elapsed(start)})")
            return
        except Interrupted as exc:
            raise Interrupted(
                f"sweep in {folder} stopped in trial {job.number} ({exc}); rerun the same zoo sweep command to "
                "continue it"
            ) from None
        except (UsageError, RunError) as exc:
            job.trial.set_user_attr("zoo.error", str(exc))
            study.tell(job.number, state=optuna.trial.TrialState.FAIL)
            say(f"trial {job.number}: failed: {exc}")
            return
        values.append(saved[s["metric"]])
    job.trial.set_user_attr("zoo.values", values)
    value = statistics.fmean(values)
    study.tell(job.number, value)
    spread = f" ± {statistics.stdev(values):.4f} over {len(values)} seeds" if len(values) > 1 else ""
    say(f"trial {job.number}: {s['metric']} {value:.4f}{spread} ({_elapsed(start)})")


def _elapsed(start: float) -> str:
    seconds = time.perf_counter() - start
    return f"{seconds:.1f} s" if seconds < 60 else f"{math.floor(seconds / 60)}m{seconds % 60:04.1f}s"
