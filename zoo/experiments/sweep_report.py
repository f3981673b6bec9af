"""A sweep's report: its trials sorted by the metric, the best trial's directory, and ``report.png`` (the optimisation
history, and each parameter against the metric); ``zoo sweep`` prints it at the end and for ``--report DIR``."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path
from zoo.experiments.study import Plan, optuna_module, trial_dirs
from zoo.recipe import apply_overrides, resolve
from zoo.registry import get_registry
from zoo.train import rundir

__all__ = ["report", "plot"]

_STATES = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def report(folder: str | Path) -> dict[str, Any]:
    """The sweep in ``folder`` as plain data: what it searched (``metric``, ``direction``, ``sampler``, ``seeds``,
    ``params``), its ``trials`` (best first; each with ``number``, ``params``, ``value``, the per-seed ``values`` and
    their ``std``, ``epochs``, ``seconds`` of training and validation (every seed's), ``state``, the run ``dirs``, any
    ``error`` and, with ``--prune``, the per-epoch ``history`` the pruner saw) and the ``best`` trial; ``report.png``
    is drawn again too, once a trial has finished (its path under ``plot``).
    """
    folder = Path(folder)
    optuna = optuna_module()
    plan = Plan.read(folder)
    s = plan.settings
    study = optuna.load_study(study_name=plan.study, storage=plan.storage_for(folder))
    rows = [_row(folder, plan, t) for t in study.get_trials(deepcopy=False)]
    sign = 1 if s["direction"] == "minimize" else -1
    rows.sort(key=lambda r: (r["value"] is None, sign * r["value"] if r["value"] is not None else 0, r["number"]))
    best = next((r for r in rows if r["state"] == "finished"), None)
    out = {
        "folder": str(folder),
        "study": plan.study,
        "storage": plan.storage or str(folder / "study.log"),
        "metric": s["metric"],
        "direction": s["direction"],
        "sampler": s["sampler"],
        "seeds": s["seeds"],
        "params": s["params"],
        "trials": rows,
        "best": best,
    }
    if any(r["value"] is not None for r in rows):
        out["plot"] = str(plot(out, folder / "report.png"))
    return out


def _row(folder: Path, plan: Plan, trial: Any) -> dict[str, Any]:
    """One trial: its values, the mean of its seeds' metric, where its runs are and how far they got."""
    s = plan.settings
    state = _STATES.get(trial.state.name, trial.state.name.lower())
    values = trial.user_attrs.get("zoo.values")
    dirs: list[str] = []
    epochs = seconds = None
    if len(trial.params) == len(s["params"]):  # it drew every value, so its runs have their names
        config = resolve(apply_overrides(s["recipe"], trial.params), get_registry()).to_dict()
        found = [d for d in trial_dirs(folder, trial.number, config, s["seeds"]) if d.is_dir()]
        dirs = [str(d) for d in found]
        histories = [rundir.read_history(d) for d in found]
        if histories:
            epochs = len(histories[0])
            seconds = sum(m["seconds"] + m.get("valid_seconds", 0.0) for h in histories for m in h)
    return {
        "number": trial.number,
        "params": dict(trial.params),
        "value": trial.value if state == "finished" else None,
        "values": values,
        "std": statistics.stdev(values) if values and len(values) > 1 else None,
        "epochs": epochs,
        "seconds": seconds,
        "state": state,
        "dirs": dirs,
        "error": trial.user_attrs.get("zoo.error"),
        "history": {int(k): v for k, v in sorted(trial.intermediate_values.items())},
    }


def plot(data: dict[str, Any], path: Path) -> Path:
    """``report.png``: the metric of each finished trial by trial number with the best so far, and one panel per
    parameter with the metric against its values (a log axis for a ``loguniform`` one)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    from zoo.experiments.specs import parse_specs

    specs = parse_specs(data["params"])
    done = sorted((r for r in data["trials"] if r["value"] is not None), key=lambda r: r["number"])
    fig, axes = plt.subplots(1, 1 + len(specs), figsize=(4.2 * (1 + len(specs)), 3.6), squeeze=False)
    history, *panels = axes[0]
    numbers, values = [r["number"] for r in done], [r["value"] for r in done]
    history.plot(numbers, values, "o", label=data["metric"])
    pick = min if data["direction"] == "minimize" else max
    history.step(numbers, [pick(values[: i + 1]) for i in range(len(values))], where="post", label="best so far")
    history.set_xlabel("trial")
    history.xaxis.set_major_locator(MaxNLocator(integer=True))
    history.set_ylabel(data["metric"])
    history.set_title("optimisation history")
    history.legend()
    for ax, spec in zip(panels, specs):
        xs = [r["params"][spec.key] for r in done]
        if spec.kind == "choice" and not all(isinstance(x, (int, float)) for x in xs):
            xs = [str(x) for x in xs]
        ax.plot(xs, values, "o")
        numbers = sorted({x for x in xs if isinstance(x, (int, float))})
        if spec.log or (spec.kind == "choice" and numbers and numbers[0] > 0 and numbers[-1] >= 10 * numbers[0]):
            ax.set_xscale("log")
        if spec.kind in ("choice", "int") and numbers and len(numbers) <= 12:
            ax.set_xticks(numbers, [f"{x:.4g}" for x in numbers])
            ax.minorticks_off()
        ax.set_xlabel(spec.key)
        ax.set_title(spec.key)
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return path
