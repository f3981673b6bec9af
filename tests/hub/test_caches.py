"""``zoo cache list|clear`` (the weights and corpora caches, their sizes; only zoo's files removed) and
``zoo data pull`` (a dataset's corpus fetched into the cache ahead of time: from the loopback server, or copied from a
data folder)."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import sys
import types
from pathlib import Path

import pytest
from clitools import assert_one_line_error, in_process
from zoo_plugins import datasets

import zoo
from zoo.errors import UsageError
from zoo.hub.corpora import pull
from zoo.hub.data import cache_dir, fetch
from zoo.interfaces import Corpus
from zoo.registry import Registry
from zoo.units import human_size
from zoo.vocab import Vocab

WEIGHTS = b"\x01" * 3000
CORPUS = b"aachenosaurus\nzuul\n" * 50
PTB = b"no it was n't black monday\n" * 10
SHA = hashlib.sha256(CORPUS).hexdigest()


@pytest.fixture
def filled(tmp_path) -> dict[str, Path]:
    """Both caches with files in them, a link out of the data cache, and a download's temporary file, not locked."""
    root = cache_dir()
    files = {
        "models": root / "models" / "0123456789abcdef" / "m.safetensors",
        "dinos": root / "dinos.txt",
        "ptb": root / "ptb" / "ptb.valid.txt",
        "tmp": root / ".dinos.txt.abcd1234.tmp",
    }
    for key, body in (("models", WEIGHTS), ("dinos", CORPUS), ("ptb", PTB), ("tmp", b"half")):
        files[key].parent.mkdir(parents=True, exist_ok=True)
        files[key].write_bytes(body)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not zoo's")
    (root / "linked").symlink_to(outside)
    return files


def test_list_shows_each_cache_its_files_and_their_sizes(filled):
    proc = in_process("cache", "list")
    assert proc.returncode == 0, proc.stderr
    data_size = len(CORPUS) + len(PTB) + len(b"half")
    assert proc.stdout.splitlines() == [
        f"models cache, {cache_dir() / 'models'}: 1 file, {human_size(len(WEIGHTS))}",
        f"  {human_size(len(WEIGHTS)):>9}  0123456789abcdef/m.safetensors",
        f"data cache, {cache_dir()}: 3 files, {human_size(data_size)}",
        f"  {human_size(4):>9}  .dinos.txt.abcd1234.tmp",
        f"  {human_size(len(CORPUS)):>9}  dinos.txt",
        f"  {human_size(len(PTB)):>9}  ptb/ptb.valid.txt",
    ]


def test_list_json_gives_bytes(filled):
    proc = in_process("cache", "list", "--json")
    assert json.loads(proc.stdout) == [
        {
            "cache": "models",
            "path": str(cache_dir() / "models"),
            "bytes": len(WEIGHTS),
            "files": [{"path": "0123456789abcdef/m.safetensors", "bytes": len(WEIGHTS)}],
        },
        {
            "cache": "data",
            "path": str(cache_dir()),
            "bytes": len(CORPUS) + len(PTB) + 4,
            "files": [
                {"path": ".dinos.txt.abcd1234.tmp", "bytes": 4},
                {"path": "dinos.txt", "bytes": len(CORPUS)},
                {"path": "ptb/ptb.valid.txt", "bytes": len(PTB)},
            ],
        },
    ]
    assert [c["cache"] for c in json.loads(in_process("cache", "list", "--data", "--json").stdout)] == ["data"]


def test_an_empty_cache_says_so():
    assert in_process("cache", "list", "--models").stdout == f"models cache, {cache_dir() / 'models'}: empty\n"
    assert in_process("cache", "clear", "--yes").stdout == "nothing to remove: the caches are empty\n"


def test_clear_data_removes_zoos_files_only(filled, tmp_path):
    proc = in_process("cache", "clear", "--data", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        f"data cache, {cache_dir()}: removed 3 files ({human_size(len(CORPUS) + len(PTB) + 4)})",
        "  kept linked: a symbolic link zoo did not make",
    ]
    assert not filled["dinos"].exists() and not filled["tmp"].exists() and not (cache_dir() / "ptb").exists()
    assert filled["models"].read_bytes() == WEIGHTS  # the other cache
    assert (cache_dir() / "linked").is_symlink() and (tmp_path / "outside" / "keep.txt").read_text() == "not zoo's"


def test_clear_keeps_a_file_being_downloaded(filled):
    with open(filled["tmp"], "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as zoo.hub.download holds its temporary file while it writes
        proc = in_process("cache", "clear", "--data", "--yes")
    assert "  kept .dinos.txt.abcd1234.tmp: a download is writing it right now" in proc.stdout.splitlines()
    assert filled["tmp"].read_bytes() == b"half" and not filled["dinos"].exists()


class _Terminal(io.StringIO):
    """Standard input typed at a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer, removed", [("n\n", False), ("y\n", True)])
def test_clear_asks_first_on_a_terminal(filled, monkeypatch, answer, removed):
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    proc = in_process("cache", "clear", "--models")
    assert f"Remove 1 file ({human_size(len(WEIGHTS))}) from the models cache? [y/N]" in proc.stdout
    assert filled["models"].exists() != removed
    assert proc.stdout.endswith(f"removed 1 file ({human_size(len(WEIGHTS))})\n" if removed else "nothing removed\n")


# -- zoo data pull ------------------------------------------------------------------------------------------------


@pytest.fixture
def dinos(server, monkeypatch):
    """The dinos corpus served by the loopback server, and no data folder."""
    server.files["/dinos.txt"] = CORPUS
    monkeypatch.setattr(datasets, "DINOS_URL", f"{server.url}/dinos.txt")
    monkeypatch.setattr(datasets, "DINOS_SHA256", SHA)
    monkeypatch.delenv("ZOO_DATA", raising=False)
    return server


def test_pull_downloads_into_the_cache_then_reuses_it(dinos):
    cached = cache_dir() / "dinos.txt"
    proc = in_process("data", "pull", "dinos")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"dinos: dinos.txt downloaded to {cached} ({human_size(len(CORPUS))})\n"
    assert cached.read_bytes() == CORPUS and dinos.hits == ["/dinos.txt"]
    again = in_process("data", "pull", "dinos")
    assert (
        again.stdout
        == f"dinos: dinos.txt already cached at {cached} ({human_size(len(CORPUS))}); --refresh fetches it again\n"
    )
    assert dinos.hits == ["/dinos.txt"]
    assert in_process("data", "pull", "dinos", "--refresh").stdout.startswith("dinos: dinos.txt downloaded to")
    assert dinos.hits == ["/dinos.txt"] * 2


@pytest.fixture
def offline(monkeypatch):
    """The dinos corpus at an address that cannot be reached (a .invalid name never resolves), and no data folder."""
    monkeypatch.setattr(datasets, "DINOS_URL", "http://corpus.invalid/dinos.txt")
    monkeypatch.setattr(datasets, "DINOS_SHA256", SHA)
    monkeypatch.delenv("ZOO_DATA", raising=False)


@pytest.mark.parametrize("how", ["--data-dir", "ZOO_DATA"])
def test_pull_copies_a_verified_file_from_the_data_folder(offline, tmp_path, monkeypatch, how):
    (tmp_path / "dinos.txt").write_bytes(CORPUS)
    if how == "ZOO_DATA":
        monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    proc = in_process("data", "pull", "dinos", *(["--data-dir", str(tmp_path)] if how == "--data-dir" else []))
    cached = cache_dir() / "dinos.txt"
    assert (proc.returncode, proc.stderr) == (0, "")
    assert (
        proc.stdout
        == f"dinos: dinos.txt copied from {tmp_path / 'dinos.txt'} to {cached} ({human_size(len(CORPUS))})\n"
    )
    assert cached.read_bytes() == CORPUS and sorted(cache_dir().iterdir()) == [cached]  # no temporary file left
    monkeypatch.delenv("ZOO_DATA", raising=False)
    assert fetch(datasets.DINOS_FILE, None, SHA) == cached  # found offline, without the folder
    (found,) = pull("dinos", refresh=True, data_dir=tmp_path)
    assert (found.path, found.bytes, found.downloaded, found.copied_from) == (
        cached,
        len(CORPUS),
        False,
        tmp_path / "dinos.txt",
    )


def test_a_local_copy_whose_sha256_differs_is_refused(offline, tmp_path):
    edited = CORPUS + b"edited\n"
    (tmp_path / "dinos.txt").write_bytes(edited)
    proc = in_process("data", "pull", "dinos", "--data-dir", str(tmp_path))
    assert_one_line_error(
        proc,
        2,
        f"dataset 'dinos': {tmp_path / 'dinos.txt'} has sha256 {hashlib.sha256(edited).hexdigest()}",
        f"expected {SHA}; refused, nothing cached",
    )
    assert not cache_dir().exists() or not any(p.is_file() for p in cache_dir().rglob("*"))


def test_offline_the_error_says_to_pass_a_data_folder_and_that_advice_works(offline, tmp_path):
    line = assert_one_line_error(
        in_process("data", "pull", "dinos"),
        2,
        "dataset 'dinos': could not download http://corpus.invalid/dinos.txt",
        "put dinos.txt in a folder and pass --data-dir FOLDER: zoo data pull then copies it into the cache",
    )
    assert "ZOO_DATA" not in line
    (tmp_path / "dinos.txt").write_bytes(CORPUS)
    assert in_process("data", "pull", "dinos", "--data-dir", str(tmp_path)).stdout.startswith(
        "dinos: dinos.txt copied from"
    )
    assert (cache_dir() / "dinos.txt").read_bytes() == CORPUS


def test_a_data_folder_that_does_not_exist_is_one_line(tmp_path):
    assert_one_line_error(
        in_process("data", "pull", "dinos", "--data-dir", str(tmp_path / "nowhere")), 2, "--data-dir", "does not exist"
    )


def test_a_download_that_fails_its_check_is_one_line_and_caches_nothing(dinos):
    dinos.files["/dinos.txt"] = CORPUS + b"tampered"
    assert_one_line_error(in_process("data", "pull", "dinos"), 2, "sha256", "refused")
    assert not (cache_dir() / "dinos.txt").exists()


def test_a_dataset_of_local_files_has_nothing_to_download(tmp_path):
    (tmp_path / "mine.txt").write_text("some text of mine\n")
    proc = in_process("data", "pull", "text", "--set", f"path={tmp_path / 'mine.txt'}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "text: nothing to download (the dataset fetches no corpus file: it reads local files)\n"


def test_pull_refusals_are_one_line():
    assert_one_line_error(in_process("data", "pull", "dinoz"), 2, "unknown dataset 'dinoz'", "did you mean 'dinos'")
    assert_one_line_error(in_process("data", "pull", "text"), 2, "dataset.path: required option is missing", "--set")
    assert_one_line_error(
        in_process("data", "pull", "dinos", "--set", "max_names=many"), 2, "dataset.max_names", "--set"
    )


@dataclasses.dataclass
class _NoOptions:
    """A dataset without options."""


class _Unaddressed:
    """A dataset whose file has no download address: it is read from a data folder, or not at all."""

    Options = _NoOptions

    def __init__(self, options: _NoOptions):
        self.options = options

    def load(self, data_dir: Path | None) -> Corpus:
        text = fetch("own.txt", None, None, data_dir).read_text()
        vocab = Vocab.build(text)
        return Corpus(train=vocab.encode(text), vocab=vocab)


def test_a_file_without_an_address_has_nothing_to_pull(tmp_path, monkeypatch):
    plugin = types.SimpleNamespace(
        __name__="unaddressed", register_datasets=zoo.hookimpl(lambda register: register("unaddressed", _Unaddressed))
    )
    registry = Registry.from_plugins(plugin)
    monkeypatch.delenv("ZOO_DATA", raising=False)
    with pytest.raises(
        UsageError, match="^dataset 'unaddressed': corpus file own.txt has no download address, so there is nothing"
    ):
        pull("unaddressed", registry=registry)
    (tmp_path / "own.txt").write_text("abc " * 40)
    monkeypatch.setenv("ZOO_DATA", str(tmp_path))
    (found,) = pull("unaddressed", registry=registry)
    assert (found.relpath, found.url, found.path) == ("own.txt", None, None)
    assert not (cache_dir() / "own.txt").exists()
