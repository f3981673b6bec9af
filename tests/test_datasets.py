"""The built-in corpora: d2l preprocessing, deterministic vocabularies, clear errors."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from zoo.errors import UsageError
from zoo_plugins.datasets import Dinos, JayChouLyrics, JayChouOptions, TextFile, TextOptions, TimeMachine, TimeMachineOptions


def test_jaychou_matches_d2l(data_dir):
    corpus = JayChouLyrics().load(data_dir)
    assert len(corpus.train) == 10000 and len(corpus.vocab) == 1027
    assert "\n" not in corpus.vocab.tokens and corpus.valid is None
    full = JayChouLyrics(JayChouOptions(max_chars=None)).load(data_dir)
    assert len(full.train) > 60000


def test_jaychou_vocab_is_the_same_in_every_process(data_dir):
    code = "from zoo_plugins.datasets import JayChouLyrics; import sys; v = JayChouLyrics().load(sys.argv[1]).vocab; print(hash(tuple(v.tokens)) and v.to_json())"
    outs = {subprocess.run([sys.executable, "-c", code, str(data_dir)], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outs) == 1


def test_valid_fraction_holds_out_the_end(data_dir):
    corpus = JayChouLyrics(JayChouOptions(valid_fraction=0.1)).load(data_dir)
    assert len(corpus.train) == 9000 and len(corpus.valid) == 1000


def test_timemachine_char_and_word(data_dir):
    chars = TimeMachine().load(data_dir)
    assert len(chars.vocab) == 27 and chars.vocab.tokens[0] == " "
    words = TimeMachine(TimeMachineOptions(level="word", max_tokens=500)).load(data_dir)
    assert len(words.train) == 500 and words.vocab.level == "word"


def test_dinos_has_27_symbols_with_newline_first(data_dir):
    corpus = Dinos().load(data_dir)
    assert len(corpus.vocab) == 27 and corpus.vocab.tokens[0] == "\n"
    text = corpus.vocab.decode(corpus.train)
    assert len(text.split("\n")) == 1543 and text.endswith("zuul")


def test_text_dataset_char_and_word(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("the cat\nthe dog\n", encoding="utf-8")
    chars = TextFile(TextOptions(path=str(f))).load(None)
    assert chars.vocab.decode(chars.train) == "the cat\nthe dog\n"
    words = TextFile(TextOptions(path=str(f), level="word", vocab_order="frequency")).load(None)
    assert words.vocab.tokens == ["the", "cat", "dog"] and words.vocab.decode(words.train) == "the cat the dog"
    spaced = TextFile(TextOptions(path=str(f), newlines="space")).load(None)
    assert "\n" not in spaced.vocab.tokens


def test_text_dataset_errors_are_one_line(tmp_path):
    with pytest.raises(UsageError, match="corpus file .*absent.txt not found"):
        TextFile(TextOptions(path=str(tmp_path / "absent.txt"))).load(None)
    binary = tmp_path / "b.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        TextFile(TextOptions(path=str(binary))).load(None)
    empty = tmp_path / "e.txt"
    empty.write_text("")
    with pytest.raises(UsageError, match="holds no tokens"):
        TextFile(TextOptions(path=str(empty))).load(None)


def test_corrupt_zip_is_refused_with_advice(tmp_path):
    (tmp_path / "jaychou_lyrics.txt.zip").write_bytes(b"not a zip")
    with pytest.raises(UsageError, match="not the expected zip.*delete it"):
        JayChouLyrics().load(tmp_path)
