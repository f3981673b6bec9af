"""The ``zoo`` command line: a thin layer that parses, calls the core and formats.

Each command imports the core it calls inside its function, so that ``zoo --help``, completion and the commands that
need no model start without importing torch.
"""

from __future__ import annotations

import os
import sys
import warnings

import click

from zoo.cli.cache import cache_command
from zoo.cli.completion import completion_command
from zoo.cli.data import data_command
from zoo.cli.evaluate import eval_command
from zoo.cli.hub import models_command, pull_command, ship_command, verify_command
from zoo.cli.info import info_command
from zoo.cli.plugins import plugins_command
from zoo.cli.predict import predict_command
from zoo.cli.prune import prune_command
from zoo.cli.recipes import recipes_command
from zoo.cli.run import run_command
from zoo.cli.runs import compare_command, runs_command
from zoo.cli.sweep import sweep_command
from zoo.cli.validate import validate_command
from zoo.errors import Interrupted, Reported, ZooError, printable
from zoo.registry import get_registry
from zoo.train.allocator import keep_freed_memory
from zoo.version import __version__

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zoo")
def cli() -> None:
    """zoo: train, compare and share recurrent language models.

    \b
    Train the d2l GRU on the Jay Chou lyrics (a catalog name, or a recipe file):
        zoo run jay_gru
    Then continue a prefix with it:
        zoo predict runs/jay_gru --prefix 分开 -n 50
    What else there is:
        zoo models          the catalog of named models
        zoo recipes         the recipes this installation carries
        zoo plugins -v      every component and every recipe key
    """


cli.add_command(run_command)
cli.add_command(validate_command)
cli.add_command(plugins_command)
cli.add_command(predict_command)
cli.add_command(eval_command)
cli.add_command(info_command)
cli.add_command(recipes_command)
cli.add_command(runs_command)
cli.add_command(compare_command)
cli.add_command(sweep_command)
for _command in (models_command, pull_command, verify_command, ship_command):
    cli.add_command(_command)
for _command in (data_command, cache_command, prune_command, completion_command):
    cli.add_command(_command)


def _distributed() -> bool:
    """Whether this process is one of a distributed run's (``torchrun`` and ``--nproc`` set ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _rank() -> int:
    """This process's rank: 0 outside a distributed run, which is then spared importing torch to learn it."""
    if not _distributed():
        return 0
    from zoo.train.distributed import env_rank

    return env_rank()


def _lost_peer(exc: Exception) -> bool:
    """Whether ``exc`` is a distributed run's collective failing because another process died: the one that
    failed reports why (or, killed, the launcher or torchrun reports it), so this one stays silent."""
    if not _distributed():
        return False
    import torch.distributed

    return isinstance(exc, torch.distributed.DistNetworkError) or (
        isinstance(exc, RuntimeError)
        and any(s in str(exc) for s in ("Connection closed by peer", "Connection reset by peer"))
    )


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
    130 stopped by Ctrl-C or SIGTERM (reported as a stop, with no ``Error:`` prefix). Bare ``zoo`` prints
    its help, as ``zoo --help`` does (exit 0, as pip does); a group without its command (``zoo cache``) prints
    the group's help on stderr and exits 2, as git (129) and pip (1) treat a missing subcommand as bad usage. A plugin
    whose ``register_commands`` fails loses its commands, not the CLI. ``ZOO_DEBUG=1`` shows
    tracebacks of unexpected errors. In a distributed run, rank 0 reports what every process
    shares (the same recipe, the same agreed losses); another rank speaks only of a failure of its own.
    """
    rank = _rank()
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"
    keep_freed_memory()  # a training loop reuses its large buffers instead of faulting them in every batch
    try:
        get_registry().add_commands(cli)
        cli.main(args=argv, prog_name="zoo", standalone_mode=False)
    except click.exceptions.Abort:  # click's word for Ctrl-C (or the end of input) during a command
        _fail("stopped", 130, stop=True)
    except click.exceptions.NoArgsIsHelpError as exc:  # a group run without its command: its help, not an error line
        root = exc.ctx.parent is None
        click.echo(exc.ctx.get_help(), err=not root, color=exc.ctx.color)
        sys.exit(0 if root else exc.exit_code)
    except click.ClickException as exc:  # bad arguments: one line, pointing at the command's help
        message = " ".join(exc.format_message().split()).rstrip(".")
        if message.startswith("No such command"):  # perhaps one a broken plugin would have added
            message += get_registry().broken_note("register_commands")
        ctx = getattr(exc, "ctx", None)
        _fail(f"{message} (see {ctx.command_path} --help)" if ctx else message, exc.exit_code)
    except Reported as exc:
        sys.exit(exc.exit_code)
    except ZooError as exc:
        _fail(
            str(exc),
            exc.exit_code,
            rank,
            rank == 0 or getattr(exc, "report_rank", None) == rank,
            stop=isinstance(exc, Interrupted),
        )
    except KeyboardInterrupt:
        _fail("stopped by Ctrl-C", 130, rank, rank == 0, stop=True)
    except Exception as exc:  # the last line of defence: no traceback for users
        if os.environ.get("ZOO_DEBUG"):
            raise
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (set ZOO_DEBUG=1 for the traceback, and please report it)",
            1,
            rank,
            not _lost_peer(exc),
        )
