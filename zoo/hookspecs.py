"""Hook specifications of the ``zoo`` project: every hook a plugin may implement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

__all__ = ["hookspec", "hookimpl", "Register"]

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")

#: ``register(name, component, aliases=())`` records one component under its kind.
Register = Callable[..., None]


# -- components -------------------------------------------------------------
# Called once per process when the registry is first built, in plugin load
# order. Each receives a ``register`` callback bound to one kind; a name
# claimed twice (by two plugins, or an alias clashing with a name) is an error
# naming both plugins.
#
# ``name`` is a non-empty string, ``aliases`` a list or tuple of them, and the
# component a class with an ``Options`` dataclass (a cell: a subclass of
# ``zoo.nn.cell.Cell``); ``register`` raises ``zoo.errors.PluginError`` otherwise.
# A hook that raises, or passes ``register`` something else, leaves the plugin
# listed as broken for that hook by ``zoo plugins``, and nothing it registered
# in that call is kept; its other hooks and every other plugin still work.


@hookspec
def register_datasets(register: Register) -> None:
    """Called when the registry is built, to add datasets.

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Dataset` and has an ``Options`` dataclass.
    :returns: nothing; results go through ``register``.
    """


@hookspec
def register_samplers(register: Register) -> None:
    """Called when the registry is built, to add minibatch samplers.

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Sampler`.
    :returns: nothing.
    """


@hookspec
def register_cells(register: Register) -> None:
    """Called when the registry is built, to add recurrent cells.

    :param register: ``register(name, cls, aliases=())``; ``cls`` subclasses
        :class:`zoo.nn.cell.Cell`. Deep and bidirectional stacks of it come free.
    :returns: nothing.
    """


@hookspec
def register_backends(register: Register) -> None:
    """Called when the registry is built, to add backends (where arrays live).

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Backend`.
    :returns: nothing.
    """


@hookspec
def register_trainers(register: Register) -> None:
    """Called when the registry is built, to add training loops.

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Trainer`.
    :returns: nothing.
    """


@hookspec
def register_predictors(register: Register) -> None:
    """Called when the registry is built, to add predictors (generation, perplexity).

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Predictor`.
    :returns: nothing.
    """


@hookspec
def register_schedules(register: Register) -> None:
    """Called when the registry is built, to add learning-rate schedules (the recipe's ``schedule`` section).

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Schedule`.
    :returns: nothing.
    """


@hookspec
def register_loggers(register: Register) -> None:
    """Called when the registry is built, to add loggers (the recipe's ``loggers``: TensorBoard, MLflow, ...).

    :param register: ``register(name, cls, aliases=())``; ``cls`` follows
        :class:`zoo.interfaces.Logger`.
    :returns: nothing.
    """


# -- command line -----------------------------------------------------------


@hookspec
def register_commands(cli: Any) -> None:
    """Called when the ``zoo`` command starts, to add subcommands.

    :param cli: the root ``click.Group``; add commands with ``@cli.command()``.
    :returns: nothing. If it raises, the commands it added are removed again and
        ``zoo plugins`` lists the plugin as broken; every other command still works.
    """
