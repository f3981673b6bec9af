"""Run directories: which folders a run may write into, which files in them are zoo's, and what a run keeps there.

A run only ever writes, replaces or removes files zoo made. zoo knows a folder holds a zoo run by

- its marker, :data:`MARKER` (``.zoo-run``), which zoo writes when it claims a new or empty folder; or,
  for run directories written before the marker existed,
- a ``recipe.yaml`` that opens with the header the runner writes (:data:`RECIPE_HEADER`) beside the
  ``metrics.jsonl`` a run writes at once, or a ``checkpoint/checkpoint.json`` of zoo's checkpoint format.
  A lone copied ``recipe.yaml``, or a ``model.safetensors`` downloaded into a project, does not make a
  folder zoo's.

Inside a zoo run, zoo's files are the names a run writes (:data:`OUTPUTS`, the marker, ``.lock``, and in
``checkpoint/`` the names :meth:`CheckpointStore.owns` accepts) and the temporaries its atomic writer makes
for exactly those names. Anything else there is a stranger's: it is never written, replaced or removed. Any
other non-empty folder is refused, ``--overwrite`` or not, in one line naming a file zoo did not make.

:class:`RunDir` is one run directory as a run uses it: claiming it (or finding the checkpoint to resume), its
outputs, its checkpoint folder and its lock. What a run directory holds is read here too, once for every command:
where a run goes by default (:func:`default_dir`), whether it finished or stopped (:func:`state`), its epoch
records (:func:`read_history`) and the samples of its last epoch (:func:`last_samples`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml

from zoo.atomic import atomic_path, sweep_temporaries, temporary_target, write_text
from zoo.errors import UsageError
from zoo.hub.weights import save_weights
from zoo.train.checkpoint import Checkpoint, CheckpointStore
from zoo.train.diskerror import disk_errors
from zoo.train.runlock import RunLock

if TYPE_CHECKING:
    import torch

__all__ = [
    "MARKER",
    "OUTPUTS",
    "RECIPE_HEADER",
    "RUNS",
    "RunState",
    "RunDir",
    "default_dir",
    "state",
    "is_run",
    "read_metrics",
    "read_history",
    "last_samples",
]

MARKER = ".zoo-run"
_MARKER_TEXT = "zoo run directory: zoo writes, replaces and removes only the files it made here\n"
OUTPUTS = ("model.safetensors", "perplexity.png", "metrics.jsonl", "samples.txt", "recipe.yaml")
RECIPE_HEADER = "# resolved recipe of run "
_LOCK = ".lock"
_CHECKPOINT = "checkpoint"
_OWN = frozenset((MARKER, _LOCK, _CHECKPOINT, *OUTPUTS))
RUNS = Path("runs")  # the folder, relative to the current one, that holds the runs no --out placed elsewhere
RunState = Literal["finished", "stopped", "none"]
_SAMPLES_HEADER = re.compile(r"(?m)^epoch (\d+)\n")  # each block of samples.txt opens with this line
_DAMAGED = "it was altered or damaged: restore it, or train the run again"


def default_dir(name: str) -> Path:
    """Where the run of the recipe ``name`` goes when no ``--out`` is given: ``runs/<name>`` in the current folder."""
    return RUNS / name


def state(run_dir: Path) -> RunState:
    """``finished`` (its weights are saved, which the runner does last), ``stopped`` (no weights, a committed checkpoint
    that ``zoo run --resume`` continues) or ``none`` (neither: nothing to load or resume)."""
    if (Path(run_dir) / "model.safetensors").is_file():
        return "finished"
    return "stopped" if CheckpointStore(run_dir).exists() else "none"


def _read(where: Path) -> str | None:
    """The UTF-8 text of a file a run writes; ``None`` when it is not there (the run has not written it)."""
    try:
        return where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where} is not UTF-8 text (byte {exc.start}); {_DAMAGED}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {where} ({exc.strerror or exc}); check the file and its permissions") from None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_run(folder: Path) -> bool:
    """Whether ``folder`` holds a zoo run (its marker, or a file only zoo writes: see the module docstring)."""
    try:
        names = set(os.listdir(folder))
    except OSError:
        return False
    return _is_run(Path(folder), names)


def read_history(run_dir: Path) -> list[dict[str, Any]]:
    """A run's epoch records from ``metrics.jsonl``, in order: those with a training ``loss`` (the records of
    evaluations within an epoch have none and are left out); ``[]`` when the run has written no such file.

    :raises UsageError: as :func:`read_metrics`.
    """
    return [record for record in read_metrics(run_dir) if "loss" in record]


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every record of a run's ``metrics.jsonl``, in order: each epoch's, and each evaluation's within an epoch
    (``trainer.eval_every``: no training ``loss``); ``[]`` when the run has written no such file.

    :raises UsageError: naming the line, for a file no run writes: a line that is not a JSON object with an integer
        ``epoch``, or an epoch record without its ``perplexity``.
    """
    where = Path(run_dir) / "metrics.jsonl"
    text = _read(where)
    records = []
    for n, line in enumerate((text or "").splitlines(), 1):
        try:
            record = json.loads(line)
        except ValueError:
            raise UsageError(f"{where}: line {n} is not JSON; {_DAMAGED}") from None
        if not isinstance(record, dict) or type(record.get("epoch")) is not int:
            raise UsageError(
                f'{where}: line {n} is not a record of an epoch (a JSON object with an integer "epoch"); {_DAMAGED}'
            )
        if "loss" in record and not _number(record.get("perplexity")):
            raise UsageError(f"{where}: line {n} records epoch {record['epoch']} without its perplexity; {_DAMAGED}")
        records.append(record)
    return records


def last_samples(run_dir: Path) -> tuple[int | None, list[str]]:
    """The last epoch ``samples.txt`` records and the lines generated after it (blank ones left out); ``(None, [])``
    when the run generated none (no file, or an empty one: a bidirectional model cannot generate).

    :raises UsageError: for a file no run writes: not UTF-8, or text before its first ``epoch N`` line.
    """
    where = Path(run_dir) / "samples.txt"
    blocks = _SAMPLES_HEADER.split(_read(where) or "")  # ["", "1", "lines...", "2", "lines..."]
    if blocks[0]:
        raise UsageError(f"{where} does not open with an 'epoch N' line, as a run writes it; {_DAMAGED}")
    if len(blocks) < 3:
        return None, []
    return int(blocks[-2]), [line for line in blocks[-1].splitlines() if line]


def _written(name: str) -> bool:
    """Whether zoo writes ``name`` at the top of a run directory (through the atomic writer)."""
    return name in OUTPUTS or name == MARKER


def _zoo_name(name: str) -> bool:
    """Whether ``name`` at the top of a run directory is one zoo uses (its own, or a temporary of one)."""
    target = temporary_target(name)
    return name in _OWN or (target is not None and _written(target))


def _starts_with(path: Path, prefix: bytes) -> bool:
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return f.read(len(prefix)) == prefix
    return False


def _zoo_checkpoint(path: Path) -> bool:
    with contextlib.suppress(OSError, UnicodeDecodeError, ValueError):
        pointer = json.loads(path.read_text(encoding="utf-8"))
        return isinstance(pointer, dict) and {"format", "seq", "tensors", "sha256", "state"} <= set(pointer)
    return False


def _zoo_lock(path: Path) -> bool:
    """Whether ``path`` is a lock file as :class:`~zoo.train.runlock.RunLock` leaves it: empty, or a pid."""
    if path.is_symlink() or not path.is_file():
        return False
    with contextlib.suppress(OSError), open(path, "rb") as f:
        return re.fullmatch(rb"\d*\n?", f.read(64)) is not None
    return False


def _is_run(run_dir: Path, names: set[str]) -> bool:
    """Whether the folder holding ``names`` is a zoo run: its marker, or a file only zoo writes (see the module
    docstring)."""
    return (
        (MARKER in names and _starts_with(run_dir / MARKER, _MARKER_TEXT.encode()))
        or (
            "recipe.yaml" in names
            and _starts_with(run_dir / "recipe.yaml", RECIPE_HEADER.encode())
            and (run_dir / "metrics.jsonl").is_file()
        )
        or (_CHECKPOINT in names and _zoo_checkpoint(run_dir / _CHECKPOINT / CheckpointStore.POINTER))
    )


def _stranger(run_dir: Path) -> Path | None:
    """A file that keeps a run out of ``run_dir``; ``None`` when the folder is new, empty or a zoo run."""
    try:
        names = sorted(os.listdir(run_dir))
    except FileNotFoundError:
        return None
    if names == [_LOCK] and _zoo_lock(run_dir / _LOCK):
        return None  # a run stopped between taking its lock and writing its marker
    if not names or _is_run(run_dir, set(names)):
        return None
    foreign = [name for name in names if not _zoo_name(name)]
    if foreign:
        return run_dir / foreign[0]
    with contextlib.suppress(OSError):
        inside = [name for name in sorted(os.listdir(run_dir / _CHECKPOINT)) if not CheckpointStore.owns(name)]
        if inside:
            return run_dir / _CHECKPOINT / inside[0]
    return run_dir / next(name for name in names if name != _LOCK or not _zoo_lock(run_dir / _LOCK))


class RunDir:
    """One run directory as a run uses it: claiming it for a fresh run, or finding the checkpoint to resume; its
    outputs (``recipe.yaml``, ``metrics.jsonl``, ``samples.txt``, ``perplexity.png`` and, last, :attr:`weights`,
    each written atomically); its checkpoint folder (:attr:`checkpoints`) and its lock (:attr:`lock`, held while a
    run writes here).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.weights = self.path / "model.safetensors"
        self.checkpoints = CheckpointStore(self.path)
        self.lock = RunLock(self.path)

    def state(self) -> RunState:
        """See :func:`state`."""
        return state(self.path)

    def check_path(self, source: str) -> None:
        """Refuse, in one line, a run directory no folder can be made at.

        :param source: what chose the path, for the message: ``"--out"``, or ``"name"`` for ``runs/<name>``.
        :raises UsageError: for a NUL byte, a name over 255 bytes, or a path that is, or lies under, something not a
            folder.
        """
        run_dir = self.path
        text = os.fspath(run_dir)
        if "\0" in text:
            raise UsageError(f"{source}: {text!r} holds a NUL byte, which no file name may hold; choose another")
        for part in run_dir.parts:
            try:
                size = len(os.fsencode(part))
            except UnicodeEncodeError:
                raise UsageError(
                    f"{source}: {part!r} cannot be written as a file name (it is not valid text); choose another"
                ) from None
            if size > 255:
                raise UsageError(
                    f"{source}: the name {part[:24]!r}... is {size} bytes long, over the 255 a file "
                    "system allows; choose a shorter one"
                )
        for place in (run_dir, *run_dir.parents):
            try:
                mode = os.stat(place).st_mode
            except (FileNotFoundError, NotADirectoryError):
                continue  # not there yet (or under a file, which the next step up finds)
            if stat.S_ISDIR(mode):
                return
            what = "a file" if stat.S_ISREG(mode) else "not a folder (a device, pipe or socket)"
            if place == run_dir:
                raise UsageError(
                    f"{source}: {run_dir} is {what}; pass --out a folder (a new one, an empty one or a zoo run)"
                )
            raise UsageError(
                f"{source}: {place} is {what}, so the run directory {run_dir} cannot be made under it; "
                "pass --out another path"
            )

    def refuse_strangers(self) -> None:
        """Refuse this folder unless it is new, empty or a zoo run: one line naming a file zoo did not make.

        Reads only, so it may run before the lock is taken (and again under it, before :meth:`claim`).
        """
        found = _stranger(self.path)
        if found is not None:
            raise UsageError(
                f"{self.path} is not a zoo run directory: {found} was not made by zoo, and a run writes "
                "only into a new or empty folder or one a zoo run wrote, even with --overwrite; pass "
                f"--out another folder, or move {found.name} away"
            )

    def claim(self, overwrite: bool) -> None:
        """Make the folder ready for a fresh run (its lock held): refuse a folder zoo did not make, and a run in it
        unless told to replace it; then mark it as zoo's (:meth:`adopt`) and remove the old run's files, and only
        those."""
        self.refuse_strangers()
        found = self.state()
        if not overwrite and found == "finished":
            raise UsageError(
                f"{self.path} already holds a finished run; pass --overwrite to replace it, or --out DIR to keep it"
            )
        if not overwrite and found == "stopped":
            raise UsageError(
                f"{self.path} holds an unfinished run; continue it with  zoo run --resume {self.path}  "
                "or pass --overwrite to start afresh"
            )
        self.adopt()
        self.clear()

    def last_checkpoint(self) -> Checkpoint:
        """The checkpoint an interrupted run left here, read and verified (its lock held); one clear line when there
        is none to resume. Its contents are checked by whoever wrote each part (:mod:`zoo.train.checkpoint_check`)."""
        found = self.state()
        if found == "finished":
            raise UsageError(
                f"the run in {self.path} has already finished; nothing to resume (load it with  "
                f"zoo predict {self.path})"
            )
        if found == "none":
            recipe = self.path / "recipe.yaml"
            if recipe.is_file():
                raise UsageError(
                    f"the run in {self.path} stopped before its first checkpoint; start it again with  "
                    f"zoo run {recipe} --out {self.path} --overwrite"
                )
            raise UsageError(
                f"{self.path} is not a zoo run directory (it has no checkpoint/); pass the folder an "
                "interrupted run wrote"
            )
        return self.checkpoints.load()

    def adopt(self) -> None:
        """Mark the folder as a zoo run (after :meth:`refuse_strangers`, its lock held): its files are known as zoo's
        from now on."""
        if not _starts_with(self.path / MARKER, _MARKER_TEXT.encode()):
            write_text(self.path / MARKER, _MARKER_TEXT)

    def clear(self) -> None:
        """Remove a zoo run's files (a fresh run starting here): zoo's names only, never a stranger's.

        The weights go first, so a folder without them is never taken for a finished run; then the other
        outputs, the checkpoints and the temporaries a killed writer left.
        """
        for name in OUTPUTS:
            (self.path / name).unlink(missing_ok=True)
        self.checkpoints.clear()
        sweep_temporaries(self.path, _written)

    def sweep(self) -> None:
        """Remove the temporaries a killed run left for zoo's own files (call only while holding the lock)."""
        sweep_temporaries(self.path, _written)
        sweep_temporaries(self.checkpoints.dir, CheckpointStore.owns)

    def disk_errors(self, started: bool = False) -> contextlib.AbstractContextManager[None]:
        """An operating-system error while writing here as one line (see :func:`zoo.train.diskerror.disk_errors`)."""
        return disk_errors(self.path, started)

    # -- outputs ---------------------------------------------------------------------------------------------------

    def write_recipe(self, name: str, resolved: dict[str, Any]) -> None:
        """``recipe.yaml``: the resolved recipe, under the header that marks it as a run's (:data:`RECIPE_HEADER`)."""
        path = self.path / "recipe.yaml"
        text = yaml.safe_dump(resolved, allow_unicode=True, sort_keys=False)
        write_text(path, f"{RECIPE_HEADER}'{name}': re-run with  zoo run {path}\n{text}")

    def write_samples(self, blocks: list[str]) -> None:
        """``samples.txt``: each block opens with its ``epoch N`` line."""
        write_text(self.path / "samples.txt", "\n".join(blocks))

    def write_plot(self, figure: Any) -> None:
        """``perplexity.png``: a matplotlib figure, closed once written."""
        from matplotlib import pyplot as plt

        with atomic_path(self.path / "perplexity.png") as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)

    def save_weights(self, tensors: dict[str, torch.Tensor], **metadata: Any) -> None:
        """:attr:`weights`, with their metadata (see :func:`zoo.hub.weights.save_weights`): written last, they mark the
        run finished."""
        save_weights(self.weights, tensors, **metadata)
