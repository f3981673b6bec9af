"""``zoo run --nproc N``: start N worker processes on this machine through torch's own launcher.

The workers are ``python -m zoo run ...`` with the same arguments, started by the elastic
agent that ``torchrun --standalone`` uses (a rendezvous on localhost, no restarts). Ctrl-C
reaches the agent, which passes it on to every worker once; the workers agree on the batch
to stop after, rank 0 writes a checkpoint, and they exit 130; so does the agent, at once.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import uuid
from typing import NoReturn

from zoo.errors import Reported, RunError
from zoo.train.distributed import LAUNCHED

__all__ = ["launch"]

#: Seconds the agent lets its workers finish their batch and checkpoint after a signal, before SIGKILL.
SHUTDOWN_SECONDS = 300


def launch(nproc: int, args: list[str], run_dir: str) -> None:
    """Run ``zoo run ARGS`` as ``nproc`` processes and wait; raise a one-line error when they do not all succeed.

    :param args: the arguments of ``zoo run`` for every worker (without ``--nproc``).
    :param run_dir: the run directory, for the message after a worker is killed.
    """
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    for name in list(
        logging.root.manager.loggerDict
    ):  # the agent's warnings ("Sending process ... SIGINT"): the workers speak for themselves
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    env = {LAUNCHED: "1"}
    if "OMP_NUM_THREADS" not in os.environ:  # share the cores instead of every worker spinning on all of them
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    os.environ.update(env)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=f"zoo-{uuid.uuid4().hex[:8]}",
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",
        max_restarts=0,
        shutdown_timeout=SHUTDOWN_SECONDS,
    )
    try:
        elastic_launch(config, entrypoint=sys.executable)("-m", "zoo", "run", *args)
    except SignalException:  # the workers stopped at an agreed batch, and rank 0 said where to continue
        _exit_now(130)
    except ChildFailedError as exc:
        raise _failure(exc.failures, run_dir, nproc) from None


def _exit_now(code: int) -> NoReturn:
    """End this process at once with ``code``, its output flushed. After a signal, the agent's rendezvous store keeps a
    C++ thread that the interpreter's shutdown can meet still running, which aborts the process (``terminate called
    without an active exception``, exit -6: seen once under load); the workers have already written their checkpoint
    and said where to continue, so nothing is left to do here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _failure(failures: dict, run_dir: str, nproc: int) -> Exception:
    """What to tell the user when workers failed, from torch's ``{rank: ProcessFailure}``.

    A worker killed by a signal said nothing, and the others then failed because it was gone: it
    comes first. A worker that exited with an error printed its own line (a peer that only saw the
    failure exits 1, below a usage error's 2). The agent ends the survivors of a failure with
    SIGTERM (a SIGTERM from anyone else makes a worker checkpoint and exit 130): those come last.
    """

    def order(item: tuple) -> tuple:
        rank, failure = item
        code = failure.exitcode
        killed, ended = code < 0 and code != -signal.SIGTERM, code == -signal.SIGTERM
        return (not killed, ended, -code, failure.timestamp, rank)

    rank, first = min(failures.items(), key=order)
    if first.exitcode > 0:
        return Reported(first.exitcode, f"worker rank {rank} failed")
    return RunError(
        f"worker rank {rank} was killed by {signal.Signals(-first.exitcode).name}; if the run had written a "
        f"checkpoint, continue with  zoo run --resume {run_dir} --nproc {nproc}"
    )
