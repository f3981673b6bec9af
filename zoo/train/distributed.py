"""Data-parallel training on several processes and machines through ``torch.distributed``.

A run started by ``torchrun`` (or by ``zoo run --nproc N``, which uses torch's launcher)
finds ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in its environment and joins the
process group: gloo for CPU tensors, and NCCL for CUDA tensors when torch sees a GPU.
Every process builds the same model from the same seed and draws the same minibatches;
:class:`ShardedSampler` hands each its own rows, so the recipe's ``batch_size`` stays the
global batch, and ``DistributedDataParallel`` (in the torch backend's engine) averages the
gradients. Only rank 0 writes the run directory.

:class:`World` is this process's place in the run and the few collectives the runner and
the trainer need; a lone process is a world of one, where every method costs nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from zoo.errors import Interrupted, Reported, UsageError, ZooError
from zoo.train.interrupt import InterruptGuard

__all__ = ["World", "PeerFailed", "join", "joined", "env_rank", "ShardedSampler", "check_distributable", "LAUNCHED"]

T = TypeVar("T")

#: Set by ``zoo run --nproc`` in its workers' environment: they die with the launcher.
LAUNCHED = "ZOO_LAUNCHED"


#: How long a process whose setup succeeded waits, after another's failed, before it exits too.
_REPORT_SECONDS = 1.0

_STOPS = tuple(sig.name for sig in InterruptGuard.SIGNALS)  # the stop requests a process may receive


class PeerFailed(Reported):
    """Another process of the run failed while setting up; that process reports why, and this one
    exits with the same code (whichever process the launcher hears of first)."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(exit_code, "another process of this distributed run failed")


class World:
    """The processes of one run: this one's ``rank`` among ``size``; collectives travel on the CPU (gloo)."""

    def __init__(self, rank: int = 0, size: int = 1, owns_group: bool = False):
        self.rank, self.size, self.owns_group = rank, size, owns_group

    @property
    def main(self) -> bool:
        """Whether this process writes the run directory and reports (rank 0)."""
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This process's rows of a global batch of ``n`` rows (``n`` divisible by :attr:`size`)."""
        per = n // self.size
        return slice(self.rank * per, (self.rank + 1) * per)

    def agree(self, value: float, stop: str | None) -> tuple[float, str | None]:
        """The mean of each process's ``value`` (its batch loss), and a stop request (``"SIGINT"``, ``"SIGTERM"``)
        if any process received one: a signal may reach the processes at different moments."""
        if self.size == 1:
            return value, stop
        t = torch.tensor([value, *(float(stop == name) for name in _STOPS)], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t[0]) / self.size, stop or next((name for name, n in zip(_STOPS, t[1:]) if n > 0), None)

    def gather(self, parts: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Every process's carried state, (layers*dirs, rows, H) each, joined along the rows in rank order."""
        if self.size == 1:
            return parts
        return tuple(torch.cat(tuple(self.stack(part.detach().cpu())), dim=1) for part in parts)

    def scatter(self, parts: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """This process's rows of a carried state saved whole (the inverse of :meth:`gather`)."""
        if self.size == 1:
            return parts
        return tuple(p[:, self.rows(p.shape[1])].contiguous() for p in parts)

    def stack(self, state: torch.Tensor) -> torch.Tensor:
        """Every process's ``state`` (a CPU tensor of the same shape everywhere), stacked in rank order."""
        rows = [torch.empty_like(state) for _ in range(self.size)]
        dist.all_gather(rows, state.contiguous())
        return torch.stack(rows)

    def broadcast(self, data: bytes | None) -> bytes:
        """Rank 0's ``data`` on every process (others pass ``None``)."""
        if self.size == 1:
            assert data is not None
            return data
        size = torch.tensor([len(data) if data is not None else 0], dtype=torch.int64)
        dist.broadcast(size, 0)
        buf = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8)
            if data is not None
            else torch.empty(int(size), dtype=torch.uint8)
        )
        dist.broadcast(buf, 0)
        return buf.numpy().tobytes()

    def settle(self, step: Callable[[], T]) -> T:
        """Run ``step`` on every process; if it raised a :class:`ZooError` anywhere, every process raises.

        The process that failed raises its own error; the others raise :class:`PeerFailed`. An error
        that rank 0 did not share (a corpus missing on one machine) is marked to be reported by its
        own process (``exc.report_rank``); the same error on every process is reported by rank 0 alone.
        """
        error: ZooError | None = None
        result: Any = None
        try:
            result = step()
        except ZooError as exc:
            error = exc
        if self.size > 1:
            failed = torch.zeros(self.size, dtype=torch.int64)  # each process's exit code, 0 when it succeeded
            failed[self.rank] = error.exit_code if error is not None else 0
            dist.all_reduce(failed)
            if error is None and bool(failed.any()):
                time.sleep(_REPORT_SECONDS)  # let the process that failed report before the launcher ends the others
                raise PeerFailed(int(failed[failed.nonzero()[0]]))
            if error is not None and self.rank > 0 and not failed[0]:
                _own(error, self.rank)
        if error is not None:
            raise error
        return result

    def close(self, synchronize: bool = False) -> None:
        """Leave the process group if :func:`join` created it; with ``synchronize``, once every process is done."""
        if self.owns_group and dist.is_initialized():
            gc.collect()  # free the DDP wrapper (it sits in reference cycles) while its group still exists
            if synchronize:
                dist.barrier()  # no process tears its connections down while another still uses them
            dist.destroy_process_group()


def _die_with_parent() -> None:
    """Linux: be killed when the launcher dies (its workers run in sessions of their own, out of the terminal's
    reach)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def env_rank() -> int:
    """This process's rank as the launcher's environment gives it (0 outside a distributed run)."""
    return int(os.environ.get("RANK", "0")) if int(os.environ.get("WORLD_SIZE", "1")) > 1 else 0


def join() -> World:
    """This process's :class:`World`: a lone process, or a member of the group ``torchrun`` described in the
    environment."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if os.environ.get(LAUNCHED) and sys.platform.startswith("linux"):
        _die_with_parent()
    if not dist.is_available():
        raise _own(UsageError("this build of torch has no torch.distributed; run without --nproc or torchrun"), rank)
    if dist.is_initialized():  # the caller's own group (zoo.run inside a distributed program): used, left to its owner
        return World(rank, size)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    try:
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")
    except (RuntimeError, ValueError) as exc:
        raise _own(
            UsageError(
                f"cannot join the distributed run (rank {rank} of {size}, MASTER_ADDR={os.environ.get('MASTER_ADDR')}, "
                f"MASTER_PORT={os.environ.get('MASTER_PORT')}): {' '.join(str(exc).split())}"
            ),
            rank,
        ) from None
    return World(rank, size, owns_group=True)


def _own(error: ZooError, rank: int) -> ZooError:
    """Mark ``error`` as this process's own, to be reported by it whatever its rank."""
    error.report_rank = rank  # type: ignore[attr-defined]
    return error


@contextlib.contextmanager
def joined() -> Iterator[World]:
    """:func:`join` for the length of a run; the group is left together after success and after a stop every process
    agreed on (Ctrl-C, SIGTERM: all stop at one batch), at once after a failure. A process that tore its connections
    down while a peer still used them could abort in gloo's threads ("terminate called without an active exception")."""
    world = join()
    try:
        yield world
    except Interrupted:
        with contextlib.suppress(RuntimeError):  # a peer already gone: leave at once
            world.close(synchronize=True)
        raise
    except BaseException:
        world.close()
        raise
    world.close(synchronize=True)


def check_distributable(backend: Any, sampler: Any, recipe: Any, size: int) -> None:
    """Refuse, in one line, a recipe that cannot train on ``size`` processes: the trainer, the backend and the sampler
    must each declare that they can (see :class:`zoo.interfaces.Trainer`, :class:`~zoo.interfaces.Backend` and
    :class:`~zoo.interfaces.Sampler`)."""
    if size <= 1:
        return
    if not recipe.trainer.cls.distributed:
        raise UsageError(
            f"trainer: {recipe.trainer.name} does not run distributed (--nproc or torchrun); "
            "use trainer: bptt, or train on one process"
        )
    if not backend.distributed:
        raise UsageError(
            f"backend: {recipe.backend.name} does not run distributed (--nproc or torchrun); "
            "use backend: torch (gloo, CPU) or cuda (NCCL), or train on one process"
        )
    if not sampler.shards_by_rows:
        raise UsageError(
            f"sampler: {recipe.sampler.name} cannot split its minibatches across processes; "
            "use sampler: sequential or random, or train on one process"
        )
    batch = sampler.options.batch_size
    if batch % size:
        raise UsageError(
            f"sampler.batch_size: {batch} rows cannot be split evenly across {size} processes; "
            f"choose a multiple of {size}"
        )


class ShardedSampler:
    """A sampler's global minibatches cut to this process's rows; everything else is the sampler's own.

    The sequential sampler's rows are whole rows of its (batch, steps) grid, so each process
    carries the hidden state of its own rows; the random sampler's rows are examples of one
    shuffled order, drawn from the same seed on every process.
    """

    def __init__(self, sampler: Any, world: World):
        self.sampler, self.world = sampler, world

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sampler, name)

    def batches(self, corpus: Any, rng: np.random.Generator) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The sampler's batches, rows :meth:`World.rows` of each."""
        for X, Y in self.sampler.batches(corpus, rng):
            rows = self.world.rows(X.shape[0])
            yield X[rows], Y[rows]
