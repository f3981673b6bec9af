"""Dropping the checkpoints of finished runs: a checkpoint is what exact resume needs, and a finished run resumes no
more.

A run has finished when its ``model.safetensors`` is there (:func:`zoo.train.rundir.state`). Its ``checkpoint/`` folder
(optimizer moments, generator states: often larger than the weights) is then only kept in case; :func:`prune`
removes it, through :meth:`~zoo.train.checkpoint.CheckpointStore.clear`, so only the files a checkpoint store wrote go.
An unfinished run keeps its checkpoint (``zoo run --resume`` continues from it), a run being written is left alone
(its lock is held, see :class:`~zoo.train.runlock.RunLock`), and a folder zoo did not make is refused.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import UsageError
from zoo.train.rundir import RunDir

__all__ = ["check", "prune"]


def _bytes(folder: Path) -> int:
    """The size of the regular files directly in ``folder`` (a checkpoint folder has no subfolders)."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    return sum(e.stat(follow_symlinks=False).st_size for e in entries if e.is_file(follow_symlinks=False))


def check(run_dir: str | Path) -> None:
    """Refuse, in one line, a ``run_dir`` whose checkpoint may not be dropped: not a folder, not a zoo run, being
    written by a run, or not finished (its checkpoint is its resume)."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        what = "is not a folder" if run.path.exists() else "not found"
        raise UsageError(f"run directory {run.path} {what}; pass the folders of finished runs, e.g. runs/jay_gru")
    try:
        run.refuse_strangers()
    except UsageError:
        raise UsageError(
            f"{run.path} is not a zoo run directory (it holds files zoo did not make); zoo prune drops "
            "only the checkpoints of zoo runs"
        ) from None
    holder = run.lock.holder()
    if holder is not None:
        raise UsageError(f"{run.path} is being written by a run (pid {holder}); prune it once that run has finished")
    _finished(run)


def _finished(run: RunDir) -> None:
    """Refuse a run that has not finished (its checkpoint is its resume), or a folder that holds no run."""
    found = run.state()
    if found == "stopped":
        raise UsageError(
            f"the run in {run.path} has not finished: its checkpoint is what  zoo run --resume "
            f"{run.path}  continues from; finish it first (or delete the folder to drop the run)"
        )
    if found == "none":
        raise UsageError(f"{run.path} holds no finished run (no model.safetensors); nothing to prune")


def prune(run_dir: str | Path) -> int:
    """Drop the checkpoint of the finished run in ``run_dir`` (holding its lock); returns the bytes freed (0: none
    left).

    :raises UsageError: as :func:`check` does.
    """
    run = RunDir(run_dir)
    check(run.path)
    with run.lock:
        _finished(run)  # again under the lock: a run may have started in it meanwhile
        before = _bytes(run.checkpoints.dir)
        run.checkpoints.clear()
        return before - _bytes(run.checkpoints.dir)
