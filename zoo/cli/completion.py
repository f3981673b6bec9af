"""``zoo completion``: print the script that teaches a shell to complete zoo's command line."""

from __future__ import annotations

import click
from click.shell_completion import BashComplete, FishComplete, ShellComplete, ZshComplete

__all__ = ["completion_command", "script", "SHELLS", "COMPLETE_VAR"]

COMPLETE_VAR = "_ZOO_COMPLETE"  # click's protocol: the script calls `_ZOO_COMPLETE=bash_complete zoo` on every TAB


def _patched(template: str, *edits: tuple[str, str]) -> str:
    """``template`` with each ``(old, new)`` edit made once; unchanged (click's own script) when an ``old`` is missing,
    as another version of click may word its script otherwise."""
    if not all(old in template for old, _ in edits):
        return template
    for old, new in edits:
        template = template.replace(old, new, 1)
    return template


class _Bash(BashComplete):
    """click's bash script, except that a candidate ending in ``=`` (a ``--set`` key) is not followed by a space."""

    source_template = _patched(
        BashComplete.source_template,
        ("COMPREPLY+=($value)", "COMPREPLY+=($value)\n            [[ $value == *= ]] && compopt -o nospace"),
    )


class _Zsh(ZshComplete):
    """click's zsh script, except that a candidate ending in ``=`` (a ``--set`` key) is not followed by a space."""

    source_template = _patched(
        ZshComplete.source_template,
        ("    local -a response\n", "    local -a response\n    local -a keys\n"),
        (
            '                completions+=("$key")',
            '                if [[ "$key" == *= ]]; then keys+=("$key"); else completions+=("$key"); fi',
        ),
        (
            '    if [ -n "$completions" ]; then',
            "    if [ -n \"$keys\" ]; then\n        compadd -U -V unsorted -S '' -a keys\n    fi\n\n"
            '    if [ -n "$completions" ]; then',
        ),
    )


SHELLS: dict[str, type[ShellComplete]] = {"bash": _Bash, "zsh": _Zsh, "fish": FishComplete}


def script(cli: click.Command, shell: str) -> str:
    """The completion script of ``shell`` for the command ``zoo`` (whose root is ``cli``)."""
    return SHELLS[shell](cli, {}, "zoo", COMPLETE_VAR).source()


@click.command("completion", short_help="Print the shell completion script (bash, zsh, fish).")
@click.argument("shell", type=click.Choice(list(SHELLS)))
def completion_command(shell: str) -> None:
    """Print the completion script of SHELL (bash, zsh or fish): TAB then completes zoo's commands and options,
    catalog names, run directories under runs/ and recipe keys after --set (trainer.l<TAB> gives trainer.lr=).

    \b
    Install it once, then open a new shell:
        bash:  zoo completion bash > ~/.local/share/bash-completion/completions/zoo
               (or add  eval "$(zoo completion bash)"  to ~/.bashrc)
        zsh:   zoo completion zsh > ~/.zfunc/_zoo   with  fpath+=~/.zfunc  before compinit in ~/.zshrc
               (or add  eval "$(zoo completion zsh)"  to ~/.zshrc, after compinit)
        fish:  zoo completion fish > ~/.config/fish/completions/zoo.fish
    A saved script starts no Python when the shell starts; eval runs zoo every time one does.
    """
    click.echo(script(click.get_current_context().find_root().command, shell), nl=False)
