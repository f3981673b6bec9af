"""Shell completion: ``zoo completion bash|zsh|fish`` prints a script, and the script, run by the shell, offers
subcommands, options, catalog names, run directories under runs/ and recipe keys after --set."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete
from clitools import in_process

from zoo.cli import cli
from zoo.cli.completion import COMPLETE_VAR
from zoo.cli.run import run_command
from zoo.hub.catalog import read_catalog
from zoo.options import describe
from zoo.reference import recipe_keys
from zoo.registry import get_registry

# (what is typed before TAB) -> the test that names it
CASES = {
    "subcommand": ["zoo", "pr"],
    "option": ["zoo", "run", "--ov"],
    "catalog": ["zoo", "predict", "jay_g"],
    "run_dir": ["zoo", "run", "--resume", "runs/"],
    "set_key": ["zoo", "run", "jay_gru", "--set", "trainer.l"],
}


def project(tmp: Path) -> Path:
    """A folder with runs/: one finished (weights and a checkpoint), one stopped (a checkpoint only), one of neither."""
    for name, files in (
        ("done", ["model.safetensors", "checkpoint/checkpoint.json"]),
        ("stopped", ["checkpoint/checkpoint.json"]),
        ("notes", ["notes.txt"]),
    ):
        for file in files:
            (tmp / "runs" / name / file).parent.mkdir(parents=True, exist_ok=True)
            (tmp / "runs" / name / file).write_text("")
    return tmp


def script(shell: str, folder: Path) -> Path:
    proc = in_process("completion", shell)
    assert proc.returncode == 0, proc.stderr
    path = folder / f"zoo.{shell}"
    path.write_text(proc.stdout)
    return path


def shell_env(folder: Path) -> dict[str, str]:
    """PATH with a ``zoo`` that runs this Python's zoo first; HOME and the caches in ``folder``."""
    bin_dir = folder / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "zoo").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m zoo "$@"\n')
    (bin_dir / "zoo").chmod(0o755)
    return {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(folder),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "TERM": "dumb",
    }


@pytest.fixture(scope="module")
def bash_offers(tmp_path_factory) -> dict[str, list[str]]:
    """What the bash script puts in COMPREPLY for each case, in one bash process (each TAB starts zoo once, and takes
    seconds: zoo imports torch)."""
    folder = project(tmp_path_factory.mktemp("bash"))
    lines = [
        f"source {script('bash', folder)}",
        'offer() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()',
        '  _zoo_completion zoo 2>/dev/null; echo "${COMPREPLY[*]}"; }',
    ]  # compopt complains outside a real TAB
    lines += [
        f"offer {' '.join(repr(w) for w in words)} > offer{i} &" for i, words in enumerate(CASES.values())
    ]  # side by side
    lines += ["wait", "cat " + " ".join(f"offer{i}" for i in range(len(CASES)))]
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", "\n".join(lines)],
        cwd=folder,
        env=shell_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return dict(zip(CASES, [line.split() for line in proc.stdout.splitlines()]))


def test_bash_offers_subcommands(bash_offers):
    get_registry().add_commands(cli)  # as zoo does: plugins may add commands
    assert bash_offers["subcommand"] == sorted(name for name in cli.list_commands(None) if name.startswith("pr"))
    assert {"predict", "prune"} <= set(bash_offers["subcommand"])


def test_bash_offers_options(bash_offers):
    assert bash_offers["option"] == [
        o for p in run_command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("--ov")
    ]
    assert bash_offers["option"] == ["--overwrite"]


def test_bash_offers_catalog_names(bash_offers):
    assert bash_offers["catalog"] == sorted(name for name in read_catalog() if name.startswith("jay_g"))
    assert "jay_gru" in bash_offers["catalog"]


def test_bash_offers_the_runs_that_resume(bash_offers):
    assert bash_offers["run_dir"] == ["runs/stopped"]


def test_bash_offers_recipe_keys_after_set(bash_offers):
    assert bash_offers["set_key"] == [f"{key}=" for key in recipe_keys() if key.startswith("trainer.l")]
    assert "trainer.lr=" in bash_offers["set_key"]


def offered(monkeypatch, *words: str) -> list[str]:
    """What zoo answers the bash script with (``type,value`` lines) for ``words``, the last one being completed."""
    monkeypatch.setenv("COMP_WORDS", " ".join(words))
    monkeypatch.setenv("COMP_CWORD", str(len(words) - 1))
    get_registry().add_commands(cli)
    return BashComplete(cli, {}, "zoo", COMPLETE_VAR).complete().splitlines()


def test_model_refs_offer_finished_runs_and_files(monkeypatch, tmp_path):
    monkeypatch.chdir(project(tmp_path))
    assert offered(monkeypatch, "zoo", "predict", "runs/") == ["file,runs/", "plain,runs/done"]
    assert offered(monkeypatch, "zoo", "prune", "runs/") == ["dir,runs/", "plain,runs/done"]
    keys = {
        name: {o.name for o in describe(get_registry().get("dataset", name).Options)}
        for name in get_registry().names("dataset")
    }
    any_dataset = sorted(set().union(*keys.values()))
    assert offered(monkeypatch, "zoo", "eval", "runs/done", "--set", "max_") == [
        f"plain,{k}=" for k in any_dataset if k.startswith("max_")
    ]
    assert offered(monkeypatch, "zoo", "eval", "x", "--dataset", "dinos", "--set", "max_") == [
        "plain,max_names=",
        "plain,max_vocab=",
    ]
    assert offered(monkeypatch, "zoo", "data", "pull", "tiny") == ["plain,tinyshakespeare"]


def test_a_typed_value_is_left_to_the_user(monkeypatch):
    assert offered(monkeypatch, "zoo", "run", "jay_gru", "--set", "trainer.lr=0.") == []


def test_a_broken_catalog_offers_nothing_and_says_nothing(monkeypatch, tmp_path):
    (tmp_path / "broken.yaml").write_text("models: [unclosed\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "broken.yaml"))
    monkeypatch.chdir(tmp_path)  # no runs/ either
    assert offered(monkeypatch, "zoo", "predict", "jay") == ["file,jay"]  # the shell's own file completion
    assert offered(monkeypatch, "zoo", "verify", "jay") == []


def test_bash_and_zsh_scripts_add_no_space_after_a_key(tmp_path):
    assert "[[ $value == *= ]] && compopt -o nospace" in script("bash", tmp_path).read_text()
    assert "compadd -U -V unsorted -S '' -a keys" in script("zsh", tmp_path).read_text()


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_the_zsh_script_loads(tmp_path):
    proc = subprocess.run(
        [
            "zsh",
            "-f",
            "-c",
            f"autoload -Uz compinit && compinit -D && source {script('zsh', tmp_path)} && whence -w _zoo_completion",
        ],
        env=shell_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "_zoo_completion: function\n")


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_the_fish_script_completes_subcommands(tmp_path):
    proc = subprocess.run(
        ["fish", "--no-config", "-c", f"source {script('fish', tmp_path)}; complete -C 'zoo pr'"],
        env=shell_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    get_registry().add_commands(cli)
    assert [line.split("\t")[0] for line in proc.stdout.splitlines()] == sorted(
        n for n in cli.list_commands(None) if n.startswith("pr")
    )
