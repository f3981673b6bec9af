"""A sweep's folder and its Optuna study: ``sweep.json`` (:class:`Plan`), where the study is stored, and the trials'
run directories; what ``zoo sweep``'s workers and its report share.

A sweep's folder holds ``sweep.json`` (what the command asked for: the study's name and storage, the settings), the
journal ``study.log`` (the study, unless ``--storage`` names a database), the trials' run directories
(``trial-NNN-<hash>``), ``report.png``, ``.lock`` (held while a worker asks Optuna for a trial) and ``.claims/`` (one
lock per trial, held by the process training it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from pathlib import Path
from typing import Any

from zoo.atomic import write_text
from zoo.errors import UsageError
from zoo.experiments.specs import Spec, parse_specs

__all__ = ["EXTRA", "SWEEPS", "PLAN", "JOURNAL", "optuna_module", "Plan", "digest", "grid", "trial_dirs"]

EXTRA = "pip install 'rnn-zoo[sweep]'"
SWEEPS = Path("sweeps")  # where a sweep goes without --out: sweeps/<recipe name>
PLAN = "sweep.json"
JOURNAL = "study.log"


def optuna_module() -> Any:
    """Optuna, or one line naming the extra that installs it."""
    try:
        import optuna
    except ImportError:
        raise UsageError(f"zoo sweep needs Optuna, which is not installed; install it with  {EXTRA}") from None
    return optuna


@dataclasses.dataclass
class Plan:
    """A sweep as ``sweep.json`` records it: the study's name and storage (``None``: the journal in the folder), the
    number of trials, the corpus folder, and the settings that make it this sweep (rerunning the command must give the
    same)."""

    study: str
    storage: str | None
    trials: int
    data_dir: str | None
    settings: dict[str, Any]

    @property
    def specs(self) -> list[Spec]:
        """The parameters, parsed."""
        return parse_specs(self.settings["params"])

    def storage_for(self, folder: Path) -> Any:
        """What Optuna opens: the database URL, or the journal file in ``folder``."""
        if self.storage:
            return self.storage
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        return JournalStorage(JournalFileBackend(str(folder / JOURNAL)))

    @classmethod
    def read(cls, folder: Path) -> Plan:
        """The plan in ``folder``; one line when there is none."""
        path = folder / PLAN
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(**data)
        except FileNotFoundError:
            raise UsageError(
                f"{folder} holds no sweep ({PLAN} is missing); pass the folder a zoo sweep wrote"
            ) from None
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"{path} is damaged ({exc}); restore it, or start the sweep again in another folder"
            ) from None

    def write(self, folder: Path) -> None:
        """Write ``sweep.json`` (atomically)."""
        write_text(folder / PLAN, json.dumps(dataclasses.asdict(self), indent=1) + "\n")

    def open(self, folder: Path) -> None:
        """Record the plan in ``folder``, or check that the sweep already there is this one (its settings and storage):
        rerunning the command continues it; ``--trials`` may change."""
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / PLAN).exists():
            old = Plan.read(folder)
            if old.settings != self.settings:
                differ = sorted(k for k in self.settings if old.settings.get(k) != self.settings[k])
                raise UsageError(
                    f"{folder} holds another sweep (its {', '.join(differ)} differ); rerun that sweep's command to "
                    "continue it, or pass --out another folder"
                )
            if old.storage != self.storage:
                raise UsageError(
                    f"{folder}'s sweep keeps its study in {old.storage or 'its journal file'}, not "
                    f"{self.storage or 'a journal file'}; pass the same --storage, or --out another folder"
                )
        else:
            stray = [p.name for p in folder.iterdir()] if folder.is_dir() else []
            if stray:
                raise UsageError(
                    f"{folder} is not a sweep folder ({stray[0]} is in it); pass --out a new or empty folder"
                )
        self.write(folder)


def digest(data: Any, length: int) -> str:
    """The first ``length`` hex digits of the sha256 of ``data`` as canonical JSON."""
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:length]


def grid(specs: list[Spec]) -> list[tuple[Any, ...]]:
    """Every point of the grid, in order: the last key's values vary fastest."""
    return list(itertools.product(*(s.grid() for s in specs)))


def trial_dirs(folder: Path, number: int, recipe: dict[str, Any], seeds: int) -> list[Path]:
    """The run directories of trial ``number``: ``trial-NNN-<hash of its resolved recipe>``, with ``-seedS`` for each
    seed when there are several."""
    name = f"trial-{number:03d}-{digest(recipe, 8)}"
    if seeds == 1:
        return [folder / name]
    return [folder / f"{name}-seed{recipe['seed'] + k}" for k in range(seeds)]
