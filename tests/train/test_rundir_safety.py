"""A run writes only files zoo made, and every operating-system failure around its directory is one line (issue 13,
items 1 and 11)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from clitools import in_process
from zoo_plugins import torch_engine

from zoo.atomic import sweep_temporaries

TEXT = "the quick brown fox jumps over the lazy dog\n" * 12


@pytest.fixture
def recipe(tmp_path) -> Path:
    """A tiny recipe (a few seconds at most) over its own corpus, checkpointing every batch."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(TEXT, encoding="utf-8")
    data = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 2, "num_steps": 5},
        "model": {"cell": "gru", "hidden_size": 8},
        "backend": "torch",
        "trainer": {"name": "bptt", "epochs": 1, "max_steps": 4, "checkpoint_every": 1, "checkpoint_unit": "batches"},
        "predict": {"prefixes": ["th"], "length": 3},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return path


def zoo(*argv: str) -> tuple[int, str]:
    """Run ``zoo run ARGV -q`` in this process; return its exit code and stderr."""
    proc = in_process("run", *argv, "-q")
    return proc.returncode, proc.stderr


def one_line(result: tuple[int, str], code: int, *needles: str) -> str:
    """The run exited with ``code`` and said why in one ``Error:`` line holding every needle (no traceback, no
    internal error)."""
    got, stderr = result
    lines = [line for line in stderr.splitlines() if not line.startswith("warning: ")]
    assert got == code and len(lines) == 1 and lines[0].startswith("Error: "), stderr
    assert "internal error" not in lines[0] and "Traceback" not in stderr, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (``None`` for a folder)."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def no_temporaries(folder: Path) -> bool:
    return not list(folder.rglob(".*.tmp"))


# -- item 1: files zoo did not make are never touched ------------------------------------------------------------


def test_a_folder_zoo_did_not_make_is_refused_and_left_as_it_was(tmp_path, recipe):
    proj = tmp_path / "proj"
    (proj / "checkpoint").mkdir(parents=True)
    (proj / "checkpoint" / "NOTES.md").write_text("keep")
    (proj / "recipe.yaml").write_text("keep")  # a user's own recipe.yaml: the name is zoo's, the file is not
    (proj / ".notes.tmp").write_text("keep")
    before = snapshot(proj)
    for extra in ((), ("--overwrite",)):
        line = one_line(zoo(str(recipe), "--out", str(proj), *extra), 2, str(proj), "not made by zoo", "--out")
        assert any(str(proj / name) in line for name in ("checkpoint/NOTES.md", "recipe.yaml", ".notes.tmp")), line
        assert snapshot(proj) == before  # nothing written, replaced or removed: not even a lock file
    one_line(zoo("--resume", str(proj)), 2, str(proj), "not made by zoo")
    assert snapshot(proj) == before  # --resume refuses it before taking a lock there


def test_a_users_recipe_yaml_alone_is_not_taken_for_a_run(tmp_path, recipe):
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "recipe.yaml").write_text("name: mine\n")
    one_line(zoo(str(recipe), "--out", str(proj), "--overwrite"), 2, str(proj / "recipe.yaml"), "not made by zoo")
    assert (proj / "recipe.yaml").read_text() == "name: mine\n" and sorted(os.listdir(proj)) == ["recipe.yaml"]


def test_overwrite_replaces_a_zoo_run_and_leaves_a_strangers_files_in_it_alone(tmp_path, recipe):
    run = tmp_path / "run"
    assert zoo(str(recipe), "--out", str(run)) == (0, "")
    strangers = {
        "NOTES.md": "mine",
        "checkpoint/NOTES.md": "mine too",
        ".notes.tmp": "draft",
        ".metrics.jsonl.txt": "not a temporary",
    }
    for name, text in strangers.items():
        (run / name).write_text(text)
    (run / ".metrics.jsonl.abc_1234.tmp").write_text("half")  # what a killed zoo left: swept
    (run / "checkpoint" / ".state-000009.safetensors.zz99zz99.tmp").write_text("half")
    old = (run / "model.safetensors").read_bytes()
    one_line(zoo(str(recipe), "--out", str(run)), 2, "already holds a finished run", "--overwrite")
    assert zoo(str(recipe), "--out", str(run), "--overwrite") == (0, "")
    assert {name: (run / name).read_text() for name in strangers} == strangers
    assert no_temporaries(run / "checkpoint") and sorted(p.name for p in run.glob(".*.tmp")) == [".notes.tmp"]
    assert (run / "model.safetensors").read_bytes() == old  # the same recipe again: the same weights, rewritten


def test_an_empty_folder_and_a_run_of_an_older_zoo_work_as_before(tmp_path, recipe):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert zoo(str(recipe), "--out", str(empty)) == (0, "")
    assert (empty / ".zoo-run").is_file() and (empty / "model.safetensors").is_file()
    (empty / ".zoo-run").unlink()  # as an older zoo left it: known by its files alone
    one_line(zoo(str(recipe), "--out", str(empty)), 2, "already holds a finished run")
    assert zoo(str(recipe), "--out", str(empty), "--overwrite") == (0, "")
    assert (empty / ".zoo-run").is_file()


def test_sweeping_removes_only_the_temporaries_of_the_names_it_is_given(tmp_path):
    names = [
        ".metrics.jsonl.abcd_123.tmp",
        ".metrics.jsonl.tmp",
        ".notes.md.abcd1234.tmp",
        ".metrics.jsonl.ABCD1234.tmp",
        "metrics.jsonl",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    sweep_temporaries(tmp_path, {"metrics.jsonl"})
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:])


# -- item 11: operating-system errors are one line naming the path and what to do ------------------------------------


def test_out_under_a_file_or_at_a_device_is_one_line(tmp_path, recipe):
    (tmp_path / "file").write_text("mine")
    one_line(zoo(str(recipe), "--out", str(tmp_path / "file" / "run")), 2, str(tmp_path / "file"), "is a file", "--out")
    one_line(zoo(str(recipe), "--out", str(tmp_path / "file")), 2, str(tmp_path / "file"), "is a file")
    one_line(zoo(str(recipe), "--out", "/dev/null"), 2, "/dev/null", "not a folder")
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("name", ["a\0b", "x" * 256])
def test_a_name_no_file_system_takes_is_one_line(tmp_path, recipe, monkeypatch, name):
    one_line(zoo(str(recipe), "--out", str(tmp_path / name)), 2, "--out", "NUL byte" if "\0" in name else "255")
    data = json.loads(recipe.read_text())
    recipe.write_text(json.dumps({**data, "name": name}))
    monkeypatch.chdir(tmp_path)  # the run would go to runs/<name>
    one_line(zoo(str(recipe)), 2, "name:", "NUL byte" if "\0" in name else "255")
    assert not (tmp_path / "runs").exists()


def test_a_read_only_run_directory_is_one_line(tmp_path, recipe):
    if os.geteuid() == 0:
        pytest.skip(
            "root writes through permission bits; test_a_run_directory_refusing_writes_is_one_line simulates it"
        )
    run = tmp_path / "run"
    run.mkdir(mode=0o555)
    try:
        one_line(zoo(str(recipe), "--out", str(run)), 2, str(run), "permission denied", "writable")
    finally:
        run.chmod(0o755)


def test_a_run_directory_refusing_writes_is_one_line(tmp_path, recipe, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    real = os.open

    def refusing(path, *args, **kwargs):  # what a read-only folder does to every file created in it
        if str(path).startswith(str(run)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    one_line(zoo(str(recipe), "--out", str(run)), 2, str(run), "permission denied", "writable")
    assert os.listdir(run) == []


def test_a_lock_that_is_a_folder_is_one_line(tmp_path, recipe):
    run = tmp_path / "run"
    assert zoo(str(recipe), "--out", str(run)) == (0, "")
    (run / ".lock").unlink()
    (run / ".lock").mkdir()
    one_line(zoo(str(recipe), "--out", str(run), "--overwrite"), 2, str(run / ".lock"), "a folder", "move it away")
    one_line(zoo("--resume", str(run)), 2, str(run / ".lock"), "a folder")
    assert (run / "model.safetensors").is_file()


def failing_fsync(monkeypatch, target: str, code: int) -> None:
    """Make the fsync of ``target``'s temporary file fail with ``code`` (a full disk, a file too large)."""
    real = os.fsync

    def fsync(fd):
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name.startswith(f".{target}."):
            raise OSError(code, os.strerror(code))
        return real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_names_the_file_and_how_to_continue(tmp_path, recipe, monkeypatch):
    run = tmp_path / "run"
    failing_fsync(monkeypatch, "model.safetensors", errno.ENOSPC)
    one_line(
        zoo(str(recipe), "--out", str(run)),
        1,
        str(run / "model.safetensors"),
        "disk is full",
        "ENOSPC",
        "free space",
        f"zoo run --resume {run}",
    )
    assert not (run / "model.safetensors").exists() and no_temporaries(run)
    monkeypatch.undo()
    assert zoo("--resume", str(run)) == (0, "")  # the advice works


def test_a_file_too_large_names_the_file(tmp_path, recipe, monkeypatch):
    run = tmp_path / "run"
    failing_fsync(monkeypatch, "state-000001.safetensors", errno.EFBIG)
    one_line(
        zoo(str(recipe), "--out", str(run)),
        1,
        str(run / "checkpoint" / "state-000001.safetensors"),
        "EFBIG",
        "--out",
        "no checkpoint yet",
    )
    assert (
        not (run / "model.safetensors").exists()
        and not (run / "checkpoint" / "checkpoint.json").exists()
        and no_temporaries(run)
    )


@pytest.mark.parametrize(
    "error", [MemoryError(), RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")]
)
def test_running_out_of_memory_mid_training_is_one_line(tmp_path, recipe, monkeypatch, error):
    run = tmp_path / "run"
    real, steps = torch_engine.TorchEngine.train_step, []

    def train_step(self, *args):
        steps.append(1)
        if len(steps) == 3:
            raise error
        return real(self, *args)

    monkeypatch.setattr(torch_engine.TorchEngine, "train_step", train_step)
    one_line(
        zoo(str(recipe), "--out", str(run)),
        1,
        "out of memory",
        str(run),
        str(run / "checkpoint"),
        "sampler.batch_size",
        "model.hidden_size",
        f"zoo run --resume {run}",
    )
    assert not (run / "model.safetensors").exists() and no_temporaries(run)
    monkeypatch.undo()
    assert zoo("--resume", str(run)) == (0, "")
