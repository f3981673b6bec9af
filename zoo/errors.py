"""Exceptions raised by zoo; the CLI turns each into one line on stderr."""

from __future__ import annotations

__all__ = [
    "printable",
    "ZooError",
    "UsageError",
    "RecipeError",
    "PluginError",
    "RunError",
    "Interrupted",
    "StopRun",
    "Reported",
]


class ZooError(Exception):
    """Base of every error meant for a user: its message is one complete line.

    ``exit_code`` is what the CLI exits with: 2 for bad input, 1 for a failure
    while running.
    """

    exit_code = 1


class UsageError(ZooError):
    """Bad input from the user (arguments, files, references): exit code 2."""

    exit_code = 2


class RecipeError(UsageError):
    """A recipe that does not validate; holds every problem found, not just the first.

    :param problems: one message per problem, each starting with its YAML path.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class PluginError(ZooError):
    """A plugin that is broken, missing, or collides with another plugin."""

    exit_code = 2


class RunError(ZooError):
    """A failure during a run (training diverged, a file could not be written)."""

    exit_code = 1


class Interrupted(RunError):
    """A run stopped by SIGINT or SIGTERM after writing a checkpoint: exit code 130.

    The CLI prints its message as a stop (``stopped by SIGINT at ...; continue with ...``), with no ``Error:`` prefix.
    """

    exit_code = 130


class StopRun(ZooError):
    """Raised by a logger to end its run early (a sweep's pruner does): the run stops at once, keeping what it wrote so
    far, its last checkpoint among them. Any other exception a logger raises only disables that logger."""


class Reported(ZooError):
    """A failure already reported in full by another process (a worker of a distributed run):
    the CLI prints nothing more and exits with ``exit_code``."""

    def __init__(self, exit_code: int, why: str = "reported by another process"):
        super().__init__(why)
        self.exit_code = exit_code


def printable(text: str) -> str:
    """``text`` with each unprintable character (newlines, separators, lone surrogates) escaped, so an error line
    quoting untrusted input (a recipe key, weights metadata) stays one line."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
