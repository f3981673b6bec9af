"""Tests of held-out splits and vocabularies: fractions, split files, a training-only vocabulary, ``<unk>``, ``<eos>``,
Tiny Shakespeare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import zoo_plugins.datasets as datasets
from safetensors.torch import save_file

from zoo.errors import UsageError
from zoo.hub.weights import read_weights, save_weights
from zoo.options import bind, describe
from zoo.registry import Registry
from zoo.vocab import Vocab


def one_line(exc: pytest.ExceptionInfo) -> str:
    """The error's message, checked to be a single line."""
    msg = str(exc.value)
    assert "\n" not in msg, msg
    return msg


def text_corpus(path: Path | str, **values):
    """Load the ``text`` dataset with options bound as a recipe would bind them."""
    opts, problems = bind(datasets.TextFile.Options, {"path": str(path), **values}, "dataset")
    assert problems == [], problems
    return datasets.TextFile(opts).load(None)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# -- fractions ------------------------------------------------------------------


def test_test_is_last_valid_before_it_train_first(tmp_path):
    corpus = text_corpus(write(tmp_path, "a.txt", "abcdabcbca"), valid_fraction=0.2, test_fraction=0.1)
    v = corpus.vocab
    assert (v.decode(corpus.train), v.decode(corpus.valid), v.decode(corpus.test)) == ("abcdabc", "bc", "a")
    assert v.tokens == list("abcd")


def test_fractions_are_read_as_the_decimals_written(tmp_path):
    path = write(tmp_path, "a.txt", "x" * 10000)
    corpus = text_corpus(path, valid_fraction=0.1)
    assert (len(corpus.train), len(corpus.valid), corpus.test) == (
        9000,
        1000,
        None,
    )  # not 8999 from 1 - 0.1's binary value
    corpus = text_corpus(path, test_fraction=0.3, valid_fraction=0.3)
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (4000, 3000, 3000)


def test_no_held_out_split_gives_todays_corpus(tmp_path):
    path = write(tmp_path, "a.txt", "the cat\nsat on the mat\n")
    corpus = text_corpus(path)
    assert corpus.valid is None and corpus.test is None
    assert corpus.vocab == Vocab.build("the cat\nsat on the mat\n") and corpus.vocab.unk is None
    assert corpus.train == corpus.vocab.encode("the cat\nsat on the mat\n")


def test_frequency_order_counts_the_training_split_only(tmp_path):
    path = write(tmp_path, "w.txt", "b a b c\nc c c c")
    corpus = text_corpus(path, level="word", vocab_order="frequency", valid_fraction=0.5, unk=True)
    assert corpus.vocab.tokens == [
        "<unk>",
        "b",
        "a",
        "c",
    ]  # in training: b twice, a and c once (the tie broken by the token)
    assert corpus.vocab.decode(corpus.valid) == "c c c c"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {"valid_fraction": 0.01, "test_fraction": 0.05},
            "dataset.valid_fraction: 0.01 of 10 tokens holds out none; raise it or use a longer",
        ),
        (
            {"valid_fraction": 0.5, "test_fraction": 0.45},
            "dataset: valid_fraction and test_fraction leave none of the 10 tokens for training",
        ),
    ],
)
def test_a_split_left_empty_is_one_line(tmp_path, values, expected):
    # a held-out split has ⌈n·fraction⌉ tokens when alone (nanoGPT's cut), so only one between two can be empty
    with pytest.raises(UsageError) as exc:
        text_corpus(write(tmp_path, "a.txt", "abcdefghij"), **values)
    assert one_line(exc).startswith(expected)


# -- split files ----------------------------------------------------------------


def test_valid_and_test_paths_are_tokenised_as_path_is(tmp_path):
    train = write(tmp_path, "train.txt", "The cat sat\non the mat\n")
    valid = write(tmp_path, "valid.txt", "THE MAT\n")
    test = write(tmp_path, "test.txt", "on the cat\nsat\n")
    corpus = text_corpus(
        train, valid_path=str(valid), test_path=str(test), level="word", lowercase=True, newlines="eos"
    )
    v = corpus.vocab
    assert v.tokens == ["<eos>", "cat", "mat", "on", "sat", "the"]
    assert (v.decode(corpus.valid), v.decode(corpus.test)) == ("the mat <eos>", "on the cat <eos> sat <eos>")


def test_a_split_file_and_a_fraction_of_another_split_combine(tmp_path):
    train = write(tmp_path, "train.txt", "abcdefgabz")
    corpus = text_corpus(train, valid_path=str(write(tmp_path, "valid.txt", "ba")), test_fraction=0.2, max_tokens=9)
    v = corpus.vocab
    assert (v.decode(corpus.train), v.decode(corpus.valid), v.decode(corpus.test)) == ("abcdefg", "ba", "ab")


def test_a_missing_or_empty_split_file_is_one_line(tmp_path):
    train = write(tmp_path, "train.txt", "abc")
    with pytest.raises(UsageError) as exc:
        text_corpus(train, valid_path=str(tmp_path / "nowhere.txt"))
    assert one_line(exc).startswith(f"dataset valid text: file {tmp_path / 'nowhere.txt'} not found")
    with pytest.raises(UsageError) as exc:
        text_corpus(train, level="word", test_path=str(write(tmp_path, "blank.txt", " \n")))
    assert (
        one_line(exc)
        == f"dataset test text: {tmp_path / 'blank.txt'} holds no tokens; give a file with some text in it"
    )


# -- unseen tokens and <unk> -------------------------------------------------------


def test_unseen_held_out_tokens_without_unk_are_one_line_naming_them(tmp_path):
    with pytest.raises(UsageError) as exc:
        text_corpus(write(tmp_path, "a.txt", "aabbaazyx"), valid_fraction=0.3)
    assert one_line(exc) == (
        "dataset valid split has 3 token(s) the vocabulary has never seen: 'x', 'y', 'z'; "
        "the vocabulary holds the training split's tokens only: set dataset.unk: true to map others to '<unk>'"
    )
    train, test = write(tmp_path, "train.txt", "the cat"), write(tmp_path, "test.txt", "the dog")
    with pytest.raises(UsageError) as exc:
        text_corpus(train, level="word", test_path=str(test))
    assert one_line(exc).startswith("dataset test split has 1 token(s) the vocabulary has never seen: 'dog';")


def test_unseen_held_out_tokens_with_unk_map_to_id_0(tmp_path):
    corpus = text_corpus(write(tmp_path, "a.txt", "aabbaazyx"), valid_fraction=0.3, unk=True)
    assert corpus.vocab.tokens == ["<unk>", "a", "b"] and corpus.vocab.unk == "<unk>"
    assert corpus.valid == [0, 0, 0]


def test_min_count_and_max_vocab_map_rare_tokens_to_unk(tmp_path):
    path = write(tmp_path, "w.txt", "a a a b b c c d e e e e")
    corpus = text_corpus(path, level="word", unk=True, min_count=2)
    assert corpus.vocab.tokens == ["<unk>", "a", "b", "c", "e"]
    assert corpus.vocab.decode(corpus.train) == "a a a b b c c <unk> e e e e"
    capped = text_corpus(path, level="word", unk=True, max_vocab=3)  # '<unk>' and the two most frequent: e (4), a (3)
    assert capped.vocab.tokens == ["<unk>", "a", "e"]
    tie = text_corpus(path, level="word", unk=True, max_vocab=4, vocab_order="frequency")  # b and c tie at 2: b wins
    assert tie.vocab.tokens == ["<unk>", "e", "a", "b"]
    assert tie.vocab.decode(tie.train) == "a a a b b <unk> <unk> <unk> e e e e"


def test_unk_at_char_level_and_in_evaluation_text(tmp_path):
    corpus = text_corpus(write(tmp_path, "a.txt", "hello world\n"), unk=True, min_count=2)
    vocab = corpus.vocab
    assert vocab.tokens == ["<unk>", "l", "o"]
    assert vocab.encode("lo, Zoë") == [1, 2, 0, 0, 0, 2, 0]  # evaluation text: unseen characters map to '<unk>' too
    plain = text_corpus(write(tmp_path, "b.txt", "hello world\n")).vocab
    with pytest.raises(UsageError) as exc:
        plain.encode("lo, Zoë")
    assert one_line(exc) == (
        "text has 3 token(s) the vocabulary has never seen: ',', 'Z', 'ë'; use only tokens from the training corpus"
    )  # today's error, unchanged


def test_a_literal_unk_in_the_corpus_is_the_unknown_token(tmp_path):
    corpus = text_corpus(write(tmp_path, "w.txt", "the <unk> sat\n"), level="word", unk=True)
    assert corpus.vocab.tokens == ["<unk>", "sat", "the"] and corpus.train == [2, 0, 1]


def test_a_vocab_with_unk_round_trips_through_weights(tmp_path):
    vocab = Vocab.build("abcab", unk="<unk>")
    state = {"dense.bias": torch.zeros(len(vocab))}
    meta = {"recipe": {"seed": 0}, "metrics": {}, "versions": {"zoo": "test"}}
    read = read_weights(save_weights(tmp_path / "unk.safetensors", state, vocab=vocab, **meta))
    assert read.vocab == vocab and read.vocab.unk == "<unk>" and read.metadata["zoo.vocab_unk"] == "<unk>"
    assert json.loads(read.metadata["zoo.vocab"]) == ["<unk>", "a", "b", "c"]
    plain = read_weights(save_weights(tmp_path / "plain.safetensors", state, vocab=Vocab.build("abcab"), **meta))
    assert "zoo.vocab_unk" not in plain.metadata and plain.vocab.unk is None  # files without one are written as before


def test_an_unknown_token_missing_from_the_vocab_is_one_line(tmp_path):
    path = tmp_path / "bad.safetensors"
    save_file(
        {"dense.bias": torch.zeros(2)},
        path,
        metadata={"format": "pt", "zoo.vocab": '["a", "b"]', "zoo.vocab_unk": "<u>"},
    )
    with pytest.raises(UsageError) as exc:
        read_weights(path).vocab  # noqa: B018 (reading the property is what raises)
    assert "metadata 'zoo.vocab' is invalid (Vocab: unknown-token '<u>' is not among the tokens)" in one_line(exc)


# -- line ends ------------------------------------------------------------------------


def test_eos_ends_every_line_at_word_level(tmp_path):
    corpus = text_corpus(write(tmp_path, "w.txt", "a b\n\nc"), level="word", newlines="eos")
    assert (
        corpus.vocab.decode(corpus.train) == "a b <eos> <eos> c <eos>"
    )  # an empty line is a lone <eos>, as PTB reads it
    ended = text_corpus(write(tmp_path, "x.txt", "a b\nc\n"), level="word", newlines="eos")
    assert ended.vocab.decode(ended.train) == "a b <eos> c <eos>"  # the final line break adds no empty line
    assert text_corpus(tmp_path / "x.txt", level="word").vocab.tokens == [
        "a",
        "b",
        "c",
    ]  # keep: a line end is whitespace


def test_ptb_splits_with_eos_and_unk(data_dir):
    ptb = data_dir / "ptb"
    if not (ptb / "ptb.valid.txt").is_file() or not (ptb / "ptb.test.txt").is_file():
        pytest.skip(f"needs ptb/ptb.valid.txt and ptb/ptb.test.txt in ZOO_DATA={data_dir}")
    corpus = text_corpus(
        ptb / "ptb.valid.txt", test_path=str(ptb / "ptb.test.txt"), level="word", newlines="eos", unk=True
    )
    assert (len(corpus.train), len(corpus.test)) == (73760, 82430)  # PTB's token counts, <eos> included
    assert corpus.vocab.tokens[0] == "<unk>" and "<eos>" in corpus.vocab.index
    assert (
        corpus.test.count(0) > corpus.train.count(0) > 0
    )  # PTB's own '<unk>' words, and in test the words valid never has


# -- bad combinations -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cls", "values", "problem"),
    [
        (datasets.JayChouLyrics, {"test_fraction": -0.1}, "dataset.test_fraction: must be in [0, 1), got -0.1"),
        (
            datasets.Dinos,
            {"valid_fraction": 0.6, "test_fraction": 0.4},
            "dataset.test_fraction: valid_fraction + test_fraction must be below 1 so that a training split remains, "
            "got 0.6 + 0.4",
        ),
        (
            datasets.TimeMachine,
            {"min_count": 2},
            "dataset.unk: min_count and max_vocab drop tokens from the vocabulary, which needs unk: true",
        ),
        (datasets.TinyShakespeare, {"max_vocab": 50}, "dataset.unk: min_count and max_vocab drop tokens"),
        (datasets.TimeMachine, {"unk": True, "min_count": 0}, "dataset.min_count: must be at least 1, got 0"),
        (
            datasets.JayChouLyrics,
            {"unk": True, "max_vocab": 1},
            "dataset.max_vocab: must be at least 2 ('<unk>' and one token) or null, got 1",
        ),
        (
            datasets.TextFile,
            {"path": "a.txt", "newlines": "eos"},
            "dataset.newlines: eos adds a word '<eos>' and needs level: word",
        ),
        (datasets.TextFile, {"path": "a.txt", "newlines": "lf"}, "dataset.newlines: expected keep|space|eos, got 'lf'"),
        (
            datasets.TextFile,
            {"path": "a.txt", "valid_path": "v.txt", "valid_fraction": 0.1},
            "dataset.valid_path: the valid split comes from valid_path or from valid_fraction, not both; "
            "set valid_fraction: 0 or drop",
        ),
        (
            datasets.TextFile,
            {"path": "a.txt", "test_path": "t.txt", "test_fraction": 0.1},
            "dataset.test_path: the test split comes from",
        ),
        (
            datasets.TextFile,
            {"path": "a.txt", "test_path": ""},
            "dataset.test_path: must name a file, got an empty string",
        ),
    ],
)
def test_bad_combinations_are_one_line_each(cls, values, problem):
    opts, problems = bind(cls.Options, values, "dataset")
    assert opts is None
    assert len(problems) == 1 and problems[0].startswith(problem) and "\n" not in problems[0], problems


@pytest.mark.parametrize(
    "cls", [datasets.JayChouLyrics, datasets.TimeMachine, datasets.Dinos, datasets.TinyShakespeare, datasets.TextFile]
)
def test_every_dataset_declares_the_split_and_vocabulary_keys_with_help(cls):
    options = {o.name: o for o in describe(cls.Options)}
    for key in ("valid_fraction", "test_fraction", "unk", "min_count", "max_vocab"):
        assert options[key].help and "\n" not in options[key].help
    assert (
        options["unk"].default,
        options["min_count"].default,
        options["max_vocab"].default,
        options["test_fraction"].default,
    ) == (False, 1, None, 0.0)


# -- tinyshakespeare ----------------------------------------------------------------


def test_tinyshakespeare_is_registered_with_nanogpts_split():
    reg = Registry.from_plugins(datasets)
    assert reg.get("dataset", "tinyshakespeare") is datasets.TinyShakespeare
    assert datasets.TinyShakespeareOptions().valid_fraction == 0.1


def test_tinyshakespeare_splits_as_nanogpt(data_dir):
    if not (data_dir / datasets.TINYSHAKESPEARE_FILE).is_file():
        pytest.skip(f"needs {datasets.TINYSHAKESPEARE_FILE} in ZOO_DATA={data_dir}")
    corpus = datasets.TinyShakespeare().load(data_dir)
    text = (data_dir / datasets.TINYSHAKESPEARE_FILE).read_text(encoding="utf-8")
    assert len(text) == 1115394
    assert (len(corpus.train), len(corpus.valid), corpus.test) == (
        1003854,
        111540,
        None,
    )  # nanoGPT: data[:int(n*0.9)], data[int(n*0.9):]
    assert len(corpus.valid) - 1 == 111539  # next-character predictions the validation split scores
    assert (
        corpus.vocab.tokens == sorted(set(text)) and len(corpus.vocab) == 65
    )  # nanoGPT's vocabulary: all 65 occur in training
    assert corpus.vocab.decode(corpus.train) + corpus.vocab.decode(corpus.valid) == text
    assert corpus.vocab.decode(corpus.train[:14]) == "First Citizen:"
