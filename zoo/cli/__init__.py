"""The ``zoo`` command line: a thin layer that parses, calls the core and formats."""

from __future__ import annotations

import os
import sys
import warnings

import click
import torch.distributed

from ..allocator import keep_freed_memory
from ..distributed import env_rank
from ..errors import Interrupted, Reported, ZooError, printable
from ..registry import get_registry
from .evaluate import eval_command
from .hub import models_command, pull_command, ship_command, verify_command
from .plugins import plugins_command
from .predict import predict_command
from .run import run_command
from .validate import validate_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="rnn-zoo", prog_name="zoo")
def cli() -> None:
    """zoo: train, compare and share recurrent language models.

    \b
    Train the d2l GRU on the Jay Chou lyrics:
        zoo run recipes/jay_gru.yaml
    Then continue a prefix with it:
        zoo predict runs/jay_gru --prefix 分开 -n 50
    """


cli.add_command(run_command)
cli.add_command(validate_command)
cli.add_command(plugins_command)
cli.add_command(predict_command)
cli.add_command(eval_command)
for _command in (models_command, pull_command, verify_command, ship_command):
    cli.add_command(_command)


def _lost_peer(exc: Exception) -> bool:
    """Whether ``exc`` is a distributed run's collective failing because another process died: the one that
    failed reports why (or, killed, the launcher or torchrun reports it), so this one stays silent."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and (isinstance(exc, torch.distributed.DistNetworkError) or (
        isinstance(exc, RuntimeError) and any(s in str(exc) for s in ("Connection closed by peer", "Connection reset by peer"))))


def _fail(message: str, code: int, rank: int = 0, report: bool = True, stop: bool = False) -> None:
    """Print one line (unless ``report`` is false) and exit; other ranks than 0 name themselves.

    :param stop: the user stopped the command (Ctrl-C, SIGTERM): say so plainly, with no ``Error:`` prefix.
    """
    if report:
        click.echo(f"{'' if stop else 'Error: '}{f'rank {rank}: ' if rank else ''}{printable(message)}", err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``zoo`` script: every error ends as one line on stderr and an exit code.

    Exit codes: 0 success; 2 bad recipe, arguments or files; 1 failure during a run;
    130 stopped by Ctrl-C or SIGTERM (reported as a stop, with no ``Error:`` prefix). A plugin
    whose ``register_commands`` fails loses its commands, not the CLI. ``ZOO_DEBUG=1`` shows
    tracebacks of unexpected errors. In a distributed run, rank 0 reports what every process
    shares (the same recipe, the same agreed losses); another rank speaks only of a failure of its own.
    """
    rank = env_rank()
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    keep_freed_memory()  # a training loop reuses its large buffers instead of faulting them in every batch
    try:
        get_registry().add_commands(cli)
        cli.main(args=argv, prog_name="zoo", standalone_mode=False)
    except click.exceptions.Abort:  # click's word for Ctrl-C (or the end of input) during a command
        _fail("stopped", 130, stop=True)
    except click.ClickException as exc:  # bad arguments: one line, pointing at the command's help
        message = " ".join(exc.format_message().split()).rstrip(".")
        if message.startswith("No such command"):  # perhaps one a broken plugin would have added
            message += get_registry().broken_note("register_commands")
        ctx = getattr(exc, "ctx", None)
        _fail(f"{message} (see {ctx.command_path} --help)" if ctx else message, exc.exit_code)
    except Reported as exc:
        sys.exit(exc.exit_code)
    except ZooError as exc:
        _fail(str(exc), exc.exit_code, rank, rank == 0 or getattr(exc, "report_rank", None) == rank, stop=isinstance(exc, Interrupted))
    except KeyboardInterrupt:
        _fail("stopped by Ctrl-C", 130, rank, rank == 0, stop=True)
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("ZOO_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {exc} (set ZOO_DEBUG=1 for the traceback, and please report it)", 1, rank,
              not _lost_peer(exc))
