"""``--help`` of every command in zoo's command tree: a usage line, the command's summary and an example; and a group
run without its command, which prints the group's help."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator

import click
import pytest
from clitools import in_process

from zoo.cli import cli
from zoo.registry import get_registry


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from _walk(sub, f"{path} {name}")


def _tree() -> dict[str, click.Command]:
    """Every command and subcommand of ``zoo`` by its path (``zoo cache list``), plugins' commands included."""
    get_registry().add_commands(cli)  # as main does before it parses
    return dict(_walk(cli, "zoo"))


COMMANDS = _tree()
GROUPS = [path for path, command in COMMANDS.items() if isinstance(command, click.Group)]


def _help(path: str) -> str:
    proc = in_process(*path.split()[1:], "--help")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    return proc.stdout


def _flat(text: str) -> str:
    """``text`` with its lines joined as click wrapped them (a word broken after a hyphen joins up again)."""
    return re.sub(r"-\s+", "-", " ".join(text.split()))


@pytest.mark.parametrize("path", list(COMMANDS))
def test_help_shows_usage_summary_and_an_example(path):
    out = _help(path)
    usage, rest = out.split("\n", 1)
    assert usage.startswith(f"Usage: {path} "), usage
    summary = inspect.cleandoc(COMMANDS[path].help or "").split("\n\n")[0]
    assert summary and _flat(summary) in _flat(rest), out
    description = rest.split("\nOptions:\n")[0]
    example = re.compile(
        rf"^\s*(?:\w+:\s+)?{re.escape(path)}(?: |$)", re.MULTILINE
    )  # an invocation, perhaps labelled ("bash:  zoo ...")
    assert example.search(description), f"{path} --help shows no example of {path}:\n{out}"


@pytest.mark.parametrize("group", GROUPS)
def test_a_groups_help_lists_every_command_the_walk_finds(group):
    listed = re.findall(r"^  (\S+)", _help(group).split("\nCommands:\n")[1], re.MULTILINE)
    assert listed == sorted(p.rsplit(" ", 1)[1] for p in COMMANDS if p.rsplit(" ", 1)[0] == group and p != group)


def test_the_walk_reaches_the_subcommands_of_groups():
    assert {"zoo cache list", "zoo cache clear", "zoo data pull"} <= set(COMMANDS)
    assert {"zoo", "zoo cache", "zoo data"} <= set(GROUPS)


def test_bare_zoo_prints_its_help_as_zoo_help_does():
    bare = in_process()
    assert (bare.returncode, bare.stdout, bare.stderr) == (0, _help("zoo"), "")


@pytest.mark.parametrize("group", [g for g in GROUPS if g != "zoo"])
def test_a_group_without_its_command_prints_its_help_and_exits_2(group):
    proc = in_process(*group.split()[1:])
    assert (proc.returncode, proc.stdout, proc.stderr) == (
        2,
        "",
        _help(group),
    )  # as git and pip: a usage error, not an "Error:" line
