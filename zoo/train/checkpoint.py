"""Checkpoints for exact resume: tensors in safetensors, the rest in JSON, committed by one rename.

A checkpoint is two files in ``<run_dir>/checkpoint/``: ``state-<seq>.safetensors``
(weights, optimizer moments, carried state, torch's generator states) and
``checkpoint.json``, which names that file, holds its sha256 and every other
fact as JSON. The JSON file is written last and atomically, so it is the commit
point: a run killed at any moment leaves either the old checkpoint or the new
one, never a mix. Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from zoo.atomic import atomic_path, sweep_temporaries, write_text
from zoo.errors import RunError, UsageError, printable
from zoo.hub.download import is_sha256

__all__ = ["Checkpoint", "CheckpointStore", "Checkpoints", "encode", "decode", "show"]

FORMAT = 1


def _tensor_name(seq: int) -> str:
    return f"state-{seq:06d}.safetensors"


def show(value: Any, limit: int = 40) -> str:
    """A JSON value as a short one-line text, for an error message."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclasses.dataclass
class Checkpoint:
    """One saved moment of a run: a JSON-able ``state`` and the ``tensors`` that go with it."""

    state: dict[str, Any]
    tensors: dict[str, torch.Tensor]


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    """A checkpoint's tensors as one safetensors blob (on the CPU, contiguous)."""
    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata={"format": "pt"})


def encode(checkpoint: Checkpoint) -> bytes:
    """One checkpoint as bytes, to send to the other processes of a distributed run: JSON, then safetensors."""
    text = json.dumps(checkpoint.state, ensure_ascii=False).encode("utf-8")
    return len(text).to_bytes(8, "little") + text + _tensor_bytes(checkpoint.tensors)


def decode(data: bytes) -> Checkpoint:
    """The checkpoint :func:`encode` turned into ``data``."""
    size = int.from_bytes(data[:8], "little")
    return Checkpoint(json.loads(data[8 : 8 + size].decode("utf-8")), load(data[8 + size :]))


class CheckpointStore:
    """The ``checkpoint/`` folder of a run directory."""

    POINTER = "checkpoint.json"

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir) / "checkpoint"
        self._seq: int | None = None  # the committed checkpoint's number, once known

    def exists(self) -> bool:
        """Whether a committed checkpoint is there."""
        return (self.dir / self.POINTER).is_file()

    def damaged(self, why: str) -> UsageError:
        """The one line that refuses this run's checkpoint: ``why`` names the exact problem (control characters
        escaped)."""
        run = self.dir.parent
        return UsageError(
            f"checkpoint in {run} is damaged ({printable(why)}); start again with --overwrite:  "
            f"zoo run {run / 'recipe.yaml'} --out {run} --overwrite"
        )

    def _pointer(self) -> dict[str, Any]:
        try:
            pointer = json.loads((self.dir / self.POINTER).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise self.damaged(f"{self.POINTER} is unreadable: {exc}") from None
        if (
            not isinstance(pointer, dict)
            or pointer.get("format") != FORMAT
            or not {"seq", "tensors", "sha256", "state"} <= set(pointer)
        ):
            raise self.damaged(f"{self.POINTER} is not a zoo checkpoint of format {FORMAT}")
        seq = pointer["seq"]
        if type(seq) is not int or seq < 1:
            raise self.damaged(f"seq must be a whole number ≥ 1, got {show(seq)}")
        if pointer["tensors"] != _tensor_name(seq):  # a plain name in checkpoint/, never a path elsewhere
            raise self.damaged(
                f"tensors must be {_tensor_name(seq)!r}, the file of checkpoint {seq}, got {show(pointer['tensors'])}"
            )
        if not is_sha256(pointer["sha256"]):
            raise self.damaged(f"sha256 must be 64 hexadecimal digits, got {show(pointer['sha256'])}")
        if not isinstance(pointer["state"], dict):
            raise self.damaged(f"state must be a mapping, got {show(pointer['state'])}")
        return pointer

    def save(self, checkpoint: Checkpoint) -> None:
        """Write the tensors under a new name, commit the JSON pointer, then drop older tensor files."""
        if self._seq is None:
            self._seq = self._pointer()["seq"] if self.exists() else 0
        seq = self._seq + 1
        name = _tensor_name(seq)
        blob = _tensor_bytes(checkpoint.tensors)
        with atomic_path(self.dir / name) as tmp:
            tmp.write_bytes(blob)
        pointer = {
            "format": FORMAT,
            "seq": seq,
            "tensors": name,
            "sha256": hashlib.sha256(blob).hexdigest(),
            "state": checkpoint.state,
        }
        write_text(self.dir / self.POINTER, json.dumps(pointer, ensure_ascii=False))
        self._seq = seq
        for stale in self.dir.glob("state-*.safetensors"):
            if stale.name != name:
                stale.unlink(missing_ok=True)

    def load(self) -> Checkpoint:
        """Read and verify the committed checkpoint; anything amiss is one clear :class:`UsageError`."""
        pointer = self._pointer()
        path = self.dir / str(pointer["tensors"])
        try:
            blob = path.read_bytes()
        except OSError as exc:
            raise self.damaged(f"cannot read {path.name}: {exc.strerror}") from None
        if hashlib.sha256(blob).hexdigest() != pointer["sha256"]:
            raise self.damaged(
                f"{path.name} does not match the sha256 recorded in {self.POINTER}; it was truncated or altered"
            )
        try:
            tensors = load(blob)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise self.damaged(f"{path.name} is not readable safetensors: {exc}") from None
        return Checkpoint(pointer["state"], tensors)

    @classmethod
    def owns(cls, name: str) -> bool:
        """Whether ``name`` in ``checkpoint/`` is one a store writes: the JSON pointer or a
        ``state-<seq>.safetensors``."""
        seq = name.removeprefix("state-").removesuffix(".safetensors")
        return name == cls.POINTER or (name == f"state-{seq}.safetensors" and seq.isascii() and seq.isdigit())

    def clear(self) -> None:
        """Remove every checkpoint (a fresh run starting in this directory): zoo's own files only.

        The pointer goes first, so an interrupted clear never leaves a checkpoint to resume from; then the
        tensor files and the temporaries a killed writer left. A file zoo did not make stays, and with it the folder.
        """
        (self.dir / self.POINTER).unlink(missing_ok=True)
        for name in os.listdir(self.dir) if self.dir.is_dir() else ():
            if self.owns(name):
                (self.dir / name).unlink(missing_ok=True)
        sweep_temporaries(self.dir, self.owns)
        with contextlib.suppress(OSError):  # gone already, or not empty: a stranger's file stays
            self.dir.rmdir()
        self._seq = None


class Checkpoints:
    """A run's handle on its checkpoints, through which the trainer's session saves and resumes (see
    :class:`zoo.train.session.Session`).

    :param store: where checkpoints go.
    :param collect: the runner's own part of a checkpoint (metrics so far, generator states...).
    :param resumed: the checkpoint this run continues from, if any.
    :param stop: returns the name of a pending stop request (``"SIGINT"``...) or ``None``.
    :param writes: whether :meth:`save` writes (rank 0 of a distributed run) or only checks (the others).
    """

    def __init__(
        self,
        store: CheckpointStore,
        collect: Callable[[], Checkpoint],
        resumed: Checkpoint | None = None,
        stop: Callable[[], str | None] = lambda: None,
        writes: bool = True,
    ):
        self.store, self._collect, self.resumed, self._stop, self.writes = store, collect, resumed, stop, writes

    @property
    def stop_requested(self) -> str | None:
        """The signal (``"SIGINT"``, ``"SIGTERM"``) asking the run to checkpoint and stop, else ``None``."""
        return self._stop()

    def save(self, trainer_state: dict[str, Any], tensors: dict[str, torch.Tensor], where: str) -> None:
        """Save the trainer's state (its session's) with the runner's; refuses non-finite floating tensors.

        :param where: the position in words ("epoch 3, batch 12"), for the error message.
        """
        for name, t in tensors.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise RunError(
                    f"{name} became non-finite at {where}; lower trainer.lr or set trainer.clip_norm and run again "
                    f"(the last good checkpoint in {self.store.dir} is untouched)"
                )
        run = self._collect()  # on every process: collecting may gather from all of them
        if not self.writes:
            return
        self.store.save(Checkpoint({"trainer": trainer_state, **run.state}, {**tensors, **run.tensors}))
