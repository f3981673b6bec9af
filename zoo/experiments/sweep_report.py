"""A sweep's report: its trials sorted by the metric, the best trial's directory, and ``report.png`` (the optimisation
history, and each parameter against the metric); printed by ``zoo sweep`` at the end and by ``zoo sweep --report``."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from zoo.atomic import atomic_path
from zoo.experiments.study import Plan, optuna_module, trial_dirs
from zoo.recipe import apply_overrides, resolve
from zoo.registry import get_registry
from zoo.train import rundir

__all__ = ["report", "table", "plot"]

_STATES = {"COMPLETE": "finished", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting"}


def report(folder: str | Path, figure: bool = True) -> dict[str, Any]:
    """The sweep in ``folder`` as plain data: what it searched (``metric``, ``direction``, ``sampler``, ``seeds``,
    ``params``), its ``trials`` (best first; each with ``number``, ``params``, ``value``, the per-seed ``values`` and
    their ``std``, ``epochs``, ``seconds`` of training and validation (every seed's), ``state``, the run ``dirs``, any
    ``error`` and the per-epoch ``history`` a pruned trial was judged on) and the ``best`` trial. With ``figure``,
    ``report.png`` is drawn too (its path under ``plot``).
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
    if figure and any(r["value"] is not None for r in rows):
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


def table(data: dict[str, Any]) -> str:
    """The report as ``zoo sweep`` prints it: one row per trial, best first, then the best trial's directory."""
    from zoo.cli.output import table as grid

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
    lines = grid([("trial", "state", *keys, metric, "epochs", "seconds"), *rows], left=2)
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
            ax.set_xticks(numbers, [_show(x) for x in numbers])
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
