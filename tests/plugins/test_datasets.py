"""Tests of the built-in datasets (``zoo_plugins.datasets``) and of finding and downloading corpus files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import zoo_plugins.datasets as datasets

from zoo.errors import UsageError
from zoo.hub.data import fetch
from zoo.interfaces import Dataset
from zoo.options import bind
from zoo.registry import Registry


def corpus_folder(relpath: str) -> Path:
    """The ``ZOO_DATA`` folder when it holds ``relpath``; otherwise skip the test, saying why."""
    value = os.environ.get("ZOO_DATA")
    if not value:
        pytest.skip(f"needs the corpus file {relpath}: set ZOO_DATA to a folder holding it (e.g. ../shared/data)")
    if not (Path(value) / relpath).is_file():
        pytest.skip(f"needs the corpus file {relpath}, which is not in ZOO_DATA={value}")
    return Path(value)


def one_line(exc: pytest.ExceptionInfo) -> str:
    """The error's message, checked to be a single line."""
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


# -- registration and options -------------------------------------------------


def test_registers_every_dataset():
    reg = Registry.from_plugins(datasets)
    assert reg.names("dataset") == ["dinos", "jaychou_lyrics", "text", "timemachine", "tinyshakespeare"]
    assert reg.get("dataset", "jaychou_lyrics") is datasets.JayChouLyrics
    assert reg.get("dataset", "text") is datasets.TextFile
    assert reg.names("sampler") == []


@pytest.mark.parametrize(
    "cls", [datasets.JayChouLyrics, datasets.TimeMachine, datasets.Dinos, datasets.TinyShakespeare]
)
def test_follows_the_dataset_interface(cls):
    assert isinstance(cls(), Dataset)
    assert isinstance(cls(cls.Options()), Dataset)


@pytest.mark.parametrize(
    ("cls", "values", "problem"),
    [
        (datasets.JayChouLyrics, {"max_chars": 0}, "dataset.max_chars: must be at least 1 (or null for all), got 0"),
        (datasets.JayChouLyrics, {"valid_fraction": 1.0}, "dataset.valid_fraction: must be in [0, 1), got 1.0"),
        (datasets.TimeMachine, {"max_tokens": -3}, "dataset.max_tokens: must be at least 1 (or null for all), got -3"),
        (datasets.TimeMachine, {"level": "byte"}, "dataset.level: expected char|word, got 'byte'"),
        (datasets.Dinos, {"max_names": 0}, "dataset.max_names: must be at least 1 (or null for all), got 0"),
        (datasets.TextFile, {}, "dataset.path: required option is missing"),
        (datasets.TextFile, {"path": " "}, "dataset.path: must name a file, got an empty string"),
        (
            datasets.TextFile,
            {"path": "a.txt", "vocab_order": "random"},
            "dataset.vocab_order: expected sorted|frequency",
        ),
    ],
)
def test_bad_options_are_one_line_each(cls, values, problem):
    opts, problems = bind(cls.Options, values, "dataset")
    assert opts is None
    assert len(problems) == 1 and problems[0].startswith(problem), problems


def test_defaults_bind():
    opts, problems = bind(datasets.JayChouLyrics.Options, {}, "dataset")
    assert problems == [] and opts.max_chars == 10000 and opts.valid_fraction == 0.0
    opts, problems = bind(datasets.TextFile.Options, {"path": "x.txt", "max_tokens": None}, "dataset")
    assert problems == [] and (opts.level, opts.newlines, opts.vocab_order) == ("char", "keep", "sorted")


# -- the shipped corpora ---------------------------------------------------------


def test_jaychou_matches_d2l():
    folder = corpus_folder(datasets.JAYCHOU_FILE)
    corpus = datasets.JayChouLyrics().load(folder)
    assert len(corpus.vocab) == 1027
    assert len(corpus.train) == 10000
    assert corpus.valid is None
    assert corpus.vocab.tokens == sorted(corpus.vocab.tokens)
    text = corpus.vocab.decode(corpus.train)
    assert "\n" not in text and "\r" not in text
    assert text.startswith("想要有直升机 想要和你飞到宇宙去")


def test_jaychou_max_chars_and_valid_split():
    folder = corpus_folder(datasets.JAYCHOU_FILE)
    whole = datasets.JayChouLyrics(datasets.JayChouOptions(max_chars=None)).load(folder)
    assert len(whole.train) > 60000 and len(whole.vocab) > 1027
    split = datasets.JayChouLyrics(datasets.JayChouOptions(valid_fraction=0.1, unk=True)).load(folder)
    assert (len(split.train), len(split.valid)) == (9000, 1000)
    assert (
        len(split.vocab) == 969 and split.vocab.tokens[0] == "<unk>"
    )  # '<unk>' and the training split's 968 characters
    plain = datasets.JayChouLyrics().load(folder)
    assert split.vocab.decode(split.train) == plain.vocab.decode(plain.train[:9000])
    assert split.valid.count(0) == 204  # the validation characters the first 9,000 never have


def test_jaychou_vocab_is_the_same_in_every_process():
    folder = corpus_folder(datasets.JAYCHOU_FILE)
    script = (
        "import json, sys; from pathlib import Path; from zoo_plugins.datasets import JayChouLyrics; "
        "c = JayChouLyrics().load(Path(sys.argv[1])); "
        "print(json.dumps({'tokens': c.vocab.tokens, 'ids': c.train, 'set_order': list(set(c.vocab.tokens))}))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(folder)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2")
    ]
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    assert outs[0]["set_order"] != outs[1]["set_order"]  # the reference's list(set(...)) would differ here
    assert outs[0]["tokens"] == outs[1]["tokens"]
    assert outs[0]["ids"] == outs[1]["ids"]
    here = datasets.JayChouLyrics().load(folder)
    assert outs[0]["tokens"] == here.vocab.tokens and outs[0]["ids"] == here.train


def test_timemachine_char_level_matches_d2l():
    folder = corpus_folder(datasets.TIMEMACHINE_FILE)
    corpus = datasets.TimeMachine().load(folder)
    assert corpus.vocab.tokens == [" "] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    assert len(corpus.train) == 170580  # d2l §8.2: len(corpus) with lines concatenated
    assert corpus.vocab.decode(corpus.train[:13]) == "the time mach"


def test_timemachine_word_level_and_max_tokens():
    folder = corpus_folder(datasets.TIMEMACHINE_FILE)
    corpus = datasets.TimeMachine(datasets.TimeMachineOptions(level="word")).load(folder)
    assert corpus.vocab.level == "word"
    assert (len(corpus.train), len(corpus.vocab)) == (32775, 4579)
    assert corpus.vocab.decode(corpus.train[:5]) == "the time machine by h"
    short = datasets.TimeMachine(datasets.TimeMachineOptions(level="word", max_tokens=5)).load(folder)
    assert short.vocab.decode(short.train) == "the time machine by h"
    assert len(short.vocab) == 5


def test_dinos_has_27_symbols():
    folder = corpus_folder(datasets.DINOS_FILE)
    corpus = datasets.Dinos().load(folder)
    assert len(corpus.vocab) == 27
    assert corpus.vocab.tokens[0] == "\n" and corpus.vocab.tokens[1:] == [chr(c) for c in range(ord("a"), ord("z") + 1)]
    text = corpus.vocab.decode(corpus.train)
    assert len(text.split("\n")) == 1543
    assert text.startswith("aachenosaurus\n")
    few = datasets.Dinos(datasets.DinosOptions(max_names=3)).load(folder)
    assert few.vocab.decode(few.train).split("\n") == text.split("\n")[:3]


# -- the text dataset -----------------------------------------------------------


def text_corpus(path: Path | str, **values):
    """Load the ``text`` dataset with options bound as a recipe would bind them."""
    opts, problems = bind(datasets.TextFile.Options, {"path": str(path), **values}, "dataset")
    assert problems == []
    return datasets.TextFile(opts).load(None)


def test_text_char_level(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text("Abb ba\r\nab\n", encoding="utf-8", newline="")
    corpus = text_corpus(path)
    assert corpus.vocab.tokens == ["\n", " ", "A", "a", "b"]
    assert corpus.vocab.decode(corpus.train) == "Abb ba\nab\n"  # '\r\n' read as '\n'
    spaced = text_corpus(path, lowercase=True, newlines="space", vocab_order="frequency")
    assert spaced.vocab.tokens == ["b", " ", "a"]  # b: 4, then ' ' and a: 3 each, the tie broken by the token
    assert spaced.vocab.decode(spaced.train) == "abb ba ab "
    assert len(text_corpus(path, max_tokens=4).train) == 4


def test_text_word_level(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("the cat\nsat on the mat\n\nthe end", encoding="utf-8")
    corpus = text_corpus(path, level="word")
    assert corpus.vocab.level == "word"
    assert corpus.vocab.tokens == ["cat", "end", "mat", "on", "sat", "the"]
    assert corpus.vocab.decode(corpus.train) == "the cat sat on the mat the end"
    by_count = text_corpus(path, level="word", vocab_order="frequency", max_tokens=7)
    assert by_count.vocab.tokens == ["the", "cat", "mat", "on", "sat"]
    held_out = text_corpus(path, level="word", vocab_order="frequency", max_tokens=6, valid_fraction=0.5, unk=True)
    assert held_out.vocab.tokens == ["<unk>", "cat", "sat", "the"]  # from the training split only
    assert held_out.vocab.decode(held_out.train) == "the cat sat"
    assert held_out.vocab.decode(held_out.valid) == "<unk> the <unk>"


def test_text_relative_path_starts_at_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("xyz", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert text_corpus("sub/a.txt").vocab.tokens == ["x", "y", "z"]


def test_text_missing_file_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError) as exc:
        text_corpus("nowhere/lyrics.txt")
    msg = one_line(exc)
    assert str(tmp_path / "nowhere" / "lyrics.txt") in msg and "not found" in msg and "check the path" in msg


@pytest.mark.parametrize(
    ("content", "expected"), [(b"\xff\xfe\x00bad", "is not UTF-8 text"), (b"  \n \n", "holds no tokens")]
)
def test_text_unusable_file_is_one_line(tmp_path, content, expected):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError) as exc:
        text_corpus(path, level="word")
    assert expected in one_line(exc) and str(path) in str(exc.value)


# -- missing and corrupt corpus files -------------------------------------------------


def test_missing_corpus_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("ZOO_DATA", raising=False)
    monkeypatch.setattr(
        datasets, "JAYCHOU_URL", "http://127.0.0.1:9/jaychou_lyrics.txt.zip"
    )  # nothing listens on port 9
    with pytest.raises(UsageError) as exc:
        datasets.JayChouLyrics().load(tmp_path)
    msg = one_line(exc)
    assert "could not download http://127.0.0.1:9/jaychou_lyrics.txt.zip" in msg and "ZOO_DATA" in msg


def test_corrupt_zip_is_one_line_suggesting_a_fresh_copy(tmp_path):
    (tmp_path / datasets.JAYCHOU_FILE).write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(UsageError) as exc:
        datasets.JayChouLyrics().load(tmp_path)
    msg = one_line(exc)
    assert str(tmp_path / datasets.JAYCHOU_FILE) in msg and "delete it" in msg and datasets.JAYCHOU_URL in msg


def test_zip_without_the_lyrics_is_one_line(tmp_path):
    with zipfile.ZipFile(tmp_path / datasets.JAYCHOU_FILE, "w") as zf:
        zf.writestr("other.txt", "hello")
    with pytest.raises(UsageError) as exc:
        datasets.JayChouLyrics().load(tmp_path)
    assert "jaychou_lyrics.txt" in one_line(exc)


def test_data_dir_argument_comes_before_zoo_data(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA", str(tmp_path / "elsewhere"))
    with zipfile.ZipFile(tmp_path / datasets.JAYCHOU_FILE, "w") as zf:
        zf.writestr(datasets.JAYCHOU_MEMBER, "你好\r\n世界\n".encode())
    corpus = datasets.JayChouLyrics().load(tmp_path)
    assert corpus.vocab.decode(corpus.train) == "你好  世界 "


# -- downloads ----------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder (``XDG_CACHE_HOME``) and no data folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ZOO_DATA", raising=False)
    return tmp_path / "xdg" / "zoo"


def files_under(folder: Path) -> list[Path]:
    """Every file below ``folder`` (temporary ones included)."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


BODY = b"Aachenosaurus\nZuul"
BODY_SHA = hashlib.sha256(BODY).hexdigest()


def test_download_checks_and_caches(server, cache):
    server.files["/d/dinos.txt"] = BODY
    path = fetch("dinos.txt", server.url + "/d/dinos.txt", BODY_SHA)
    assert path == cache / "dinos.txt" and path.read_bytes() == BODY
    assert fetch("dinos.txt", server.url + "/d/dinos.txt", BODY_SHA) == path
    assert server.hits == ["/d/dinos.txt"]  # the second fetch came from the cache
    assert files_under(cache) == [path]


def test_download_with_the_wrong_sha_leaves_nothing(server, cache):
    server.files["/dinos.txt"] = BODY
    with pytest.raises(UsageError) as exc:
        fetch("dinos.txt", server.url + "/dinos.txt", "0" * 64)
    assert "sha256" in one_line(exc) and BODY_SHA in str(exc.value)
    assert files_under(cache) == []


def test_download_cut_short_leaves_no_partial_file(server, cache):
    server.files["/dinos.txt"] = BODY
    server.short.add("/dinos.txt")
    with pytest.raises(UsageError) as exc:
        fetch("dinos.txt", server.url + "/dinos.txt", None)
    assert f"stopped after {len(BODY)} of {len(BODY) + 1000} bytes" in one_line(exc)
    assert files_under(cache) == []


def test_download_not_found_is_one_line(server, cache):
    with pytest.raises(UsageError) as exc:
        fetch("dinos.txt", server.url + "/missing.txt", BODY_SHA)
    assert "Not Found" in one_line(exc) and files_under(cache) == []


def test_dataset_downloads_on_first_use(server, cache, monkeypatch):
    server.files["/dinos.txt"] = BODY
    monkeypatch.setattr(datasets, "DINOS_URL", server.url + "/dinos.txt")
    monkeypatch.setattr(datasets, "DINOS_SHA256", BODY_SHA)
    corpus = datasets.Dinos().load(None)
    assert corpus.vocab.decode(corpus.train) == "aachenosaurus\nzuul"
    assert datasets.Dinos().load(None).train == corpus.train
    assert server.hits == ["/dinos.txt"] and (cache / "dinos.txt").read_bytes() == BODY
