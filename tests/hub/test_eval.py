"""``zoo eval`` and ``Model.evaluate``: the trainer's validation numbers, texts and files, unknown tokens, other
datasets, refusals."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import zoo_plugins.datasets as datasets
from clitools import assert_one_line_error, in_process

import zoo
from zoo.errors import UsageError
from zoo.train.runner import BidirectionalWarning

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "and",
    "then",
    "ran",
    "off",
    "to",
    "see",
    "the",
    "dog",
    "who",
    "was",
    "not",
    "there",
]  # no b, j, x or z
N = 6000  # characters of the char-level corpus: 4,800 train, 600 valid, 600 test


def corpus_text(seed: int, chars: int) -> str:
    """Lines of eight words drawn from WORDS, cut to ``chars`` characters."""
    rng = random.Random(seed)
    lines = (" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(chars // 20 + 1))
    return "\n".join(lines)[:chars]


def train(folder: Path, name: str, dataset: dict, **model) -> Path:
    """A tiny run on the ``text`` dataset (keep: last), returned as its run directory."""
    recipe = {
        "name": name,
        "seed": 0,
        "dataset": {"name": "text", **dataset},
        "sampler": {"name": "sequential", "batch_size": 8, "num_steps": 16},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 16, **model},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.01, "epochs": 3, "keep": "last"},
    }
    return zoo.run(recipe, out=folder / name).run_dir


@pytest.fixture(scope="module")
def char_run(tmp_path_factory) -> Path:
    """A char-level run without <unk>, with valid and test splits."""
    folder = tmp_path_factory.mktemp("char")
    (folder / "corpus.txt").write_text(corpus_text(0, N), encoding="utf-8")
    return train(folder, "chars", {"path": str(folder / "corpus.txt"), "valid_fraction": 0.1, "test_fraction": 0.1})


@pytest.fixture(scope="module")
def word_run(tmp_path_factory) -> Path:
    """A word-level run with <unk> (words seen once map to it), a valid split and no test split."""
    folder = tmp_path_factory.mktemp("word")
    (folder / "corpus.txt").write_text(corpus_text(1, 8000) + " zebra", encoding="utf-8")
    return train(
        folder,
        "words",
        {"path": str(folder / "corpus.txt"), "level": "word", "unk": True, "min_count": 2, "valid_fraction": 0.1},
    )


def last_valid_loss(run_dir: Path) -> float:
    """The trainer's last validation loss, from metrics.jsonl."""
    return json.loads((run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[-1])["valid_loss"]


def reference_loss(model: zoo.Model, ids: list[int]) -> float:
    """Mean cross-entropy of ids[1:] after ids[:-1] in one pass from a zero state (what the protocol is for a text
    shorter than two rows of zoo.nn.evaluate.MIN_ROW)."""
    with torch.no_grad():
        logits, _ = model.module(torch.tensor([ids[:-1]]))
    return float(F.cross_entropy(logits[0].double(), torch.tensor(ids[1:])))


def eval_json(*args: str) -> list[dict]:
    proc = in_process("eval", *args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


# -- the trainer's numbers ---------------------------------------------------------


def test_cli_and_python_give_the_trainers_last_validation_loss(char_run):
    expected = last_valid_loss(char_run)
    [row] = eval_json(str(char_run), "--split", "valid")
    assert row["name"] == "text:valid"
    assert row["tokens"] == (N * 9 // 10 - N * 8 // 10) - 1  # the 600 held-out characters score 599 predictions
    assert row["loss"] == pytest.approx(expected, abs=1e-6)
    assert row["bits"] == pytest.approx(expected / math.log(2), abs=1e-6)
    assert row["perplexity"] == pytest.approx(math.exp(expected), rel=1e-6)
    s = zoo.load(char_run).evaluate(split="valid")
    assert (s.tokens, s.loss) == pytest.approx((row["tokens"], expected), abs=1e-6)


def test_with_nothing_to_score_named_it_scores_the_valid_split(char_run):
    assert eval_json(str(char_run)) == eval_json(str(char_run), "--split", "valid")


def test_the_table_aligns_one_row_per_text_and_states_the_protocol(char_run, tmp_path):
    (tmp_path / "t.txt").write_text(corpus_text(5, 300), encoding="utf-8")
    rows = eval_json(str(char_run), "--split", "test", "--text", str(tmp_path / "t.txt"))
    proc = in_process("eval", str(char_run), "--split", "test", "--text", str(tmp_path / "t.txt"))
    assert proc.returncode == 0, proc.stderr
    header, *lines, protocol = proc.stdout.splitlines()
    assert header.split() == ["text", "tokens", "loss", "bits/char", "perplexity"]
    assert [line.split() for line in lines] == [
        [r["name"], f"{r['tokens']:,}", f"{r['loss']:.4f}", f"{r['bits']:.4f}", f"{r['perplexity']:.4f}"] for r in rows
    ]
    assert len({len(line) for line in [header, *lines]}) == 1  # right-aligned numbers: every line as wide as the header
    assert "zero state" in protocol and "nats per token" in protocol


# -- texts and files -------------------------------------------------------------------


def test_a_text_scores_the_same_given_as_text_as_a_file_or_through_the_cli(char_run, tmp_path):
    text = corpus_text(7, 5000)  # longer than two rows of 512: read in several rows
    path = tmp_path / "t.txt"
    path.write_text(text, encoding="utf-8")
    model = zoo.load(char_run)
    by_text, by_path = model.evaluate(text=text), model.evaluate(path=path)
    assert by_text == by_path and by_text.tokens == 4999
    [row] = eval_json(str(char_run), "--text", str(path))
    assert (row["name"], row["tokens"]) == (str(path), 4999)
    assert row["loss"] == pytest.approx(by_path.loss, abs=1e-12)


def test_a_short_text_is_one_pass_from_a_zero_state(char_run):
    model = zoo.load(char_run)
    text = "the dog sat on the mat\nand ran off"
    assert model.evaluate(text=text).loss == pytest.approx(reference_loss(model, model.vocab.encode(text)), abs=1e-9)


def test_a_megabyte_of_text_is_scored_in_batched_rows(char_run, tmp_path):
    path = tmp_path / "big.txt"
    path.write_text(corpus_text(3, 1_000_000), encoding="utf-8")
    s = zoo.load(char_run).evaluate(path=path)  # about 1.5 s on one CPU thread (see the report of issue 14)
    assert s.tokens == 999_999 and math.isfinite(s.loss)


# -- unknown tokens ---------------------------------------------------------------------


def test_unknown_tokens_without_unk_are_one_line_naming_them(char_run, tmp_path):
    model = zoo.load(char_run)
    with pytest.raises(
        UsageError,
        match=r"^text has 2 token\(s\) the vocabulary has never seen: 'j', 'z'; model 'chars' has no '<unk>'",
    ):
        model.evaluate(text="a jazz")
    (tmp_path / "q.txt").write_text("the jazz", encoding="utf-8")
    assert_one_line_error(
        in_process("eval", str(char_run), "--text", str(tmp_path / "q.txt")),
        2,
        f"text file {tmp_path / 'q.txt'} has 2 token(s) the vocabulary has never seen: 'j', 'z'",
        "dataset.unk: true",
    )


def test_unknown_tokens_with_unk_are_scored_as_unk(word_run):
    model = zoo.load(word_run)
    assert model.vocab.unk == "<unk>" and "zebra" not in model.vocab.index and "quokka" not in model.vocab.index
    text = "the cat sat on a quokka and then the zebra ran off to see the dog"
    ids = [model.vocab.index.get(w, model.vocab.index["<unk>"]) for w in text.split()]
    s = model.evaluate(text=text)
    assert s.tokens == 15 and s.loss == pytest.approx(reference_loss(model, ids), abs=1e-9)
    assert s.loss == pytest.approx(
        model.evaluate(text=text.replace("quokka", "<unk>").replace("zebra", "axolotl")).loss, abs=1e-12
    )


def test_a_word_level_run_gives_its_validation_loss_too(word_run):
    assert zoo.load(word_run).evaluate(split="valid").loss == pytest.approx(last_valid_loss(word_run), abs=1e-6)
    assert eval_json(str(word_run))[0]["loss"] == pytest.approx(last_valid_loss(word_run), abs=1e-6)


# -- another dataset's split, mapped token by token -------------------------------------------


def test_another_datasets_split_is_mapped_to_the_models_vocabulary(char_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("ran to the dog\nno cat on a mat\n" * 20, encoding="utf-8")  # fewer characters: its own ids differ
    model = zoo.load(char_run)
    mapped = model.evaluate(split="train", dataset={"name": "text", "path": str(other)})
    assert mapped == model.evaluate(path=other)
    [row] = eval_json(str(char_run), "--dataset", "text", "--set", f"path={other}", "--split", "train")
    assert (row["name"], row["tokens"]) == ("text:train", mapped.tokens)
    assert row["loss"] == pytest.approx(mapped.loss, abs=1e-12)
    [row] = eval_json(
        str(char_run), "--dataset", "text", "--set", f"path={other}", "--set", "valid_fraction=0.25"
    )  # valid by default
    text = other.read_text(encoding="utf-8")
    assert row["loss"] == pytest.approx(model.evaluate(text=text[len(text) * 3 // 4 :]).loss, abs=1e-12)  # the last 25%


def test_words_are_mapped_as_tokens_and_unseen_ones_become_unk(word_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("The cat sat on a wombat\nthen the dog ran off\n", encoding="utf-8")
    model = zoo.load(word_run)
    section = {"name": "text", "path": str(other), "level": "word", "lowercase": True, "newlines": "eos"}
    expected = "the cat sat on a wombat <eos> then the dog ran off <eos>"  # '<eos>' and 'wombat' are unknown: <unk>
    assert model.evaluate(split="train", dataset=section) == model.evaluate(text=expected)


def test_another_dataset_refuses_unknown_tokens_a_missing_split_and_another_level(char_run, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("a box ran\n" * 10, encoding="utf-8")
    run = str(char_run)
    assert_one_line_error(
        in_process("eval", run, "--dataset", "text", "--set", f"path={other}", "--split", "train"),
        2,
        "dataset 'text' train split has 2 token(s) the vocabulary has never seen: 'b', 'x'",
    )
    assert_one_line_error(
        in_process("eval", run, "--dataset", "text", "--set", f"path={other}"),
        2,
        "dataset 'text' has no valid split",
        "--set valid_fraction=0.1",
    )
    assert_one_line_error(
        in_process(
            "eval", run, "--dataset", "text", "--set", f"path={other}", "--set", "level=word", "--split", "train"
        ),
        2,
        "its tokens are words and model 'chars' reads chars",
        "--set level=char",
    )
    assert_one_line_error(
        in_process("eval", run, "--dataset", "text", "--split", "train"), 2, "dataset.path: required option is missing"
    )
    assert_one_line_error(in_process("eval", run, "--set", f"path={other}"), 2, "--set gives options of --dataset")


# -- refusals ------------------------------------------------------------------------------


def test_each_refusal_is_one_line(char_run, word_run, tmp_path):
    (tmp_path / "one.txt").write_text("a", encoding="utf-8")
    cases = [
        (("nosuchmodel",), "unknown model 'nosuchmodel'"),
        (
            (str(char_run), "--text", str(tmp_path / "missing.txt")),
            f"text to score: file {tmp_path / 'missing.txt'} not found",
        ),
        (
            (str(char_run), "--text", str(tmp_path / "one.txt")),
            f"text file {tmp_path / 'one.txt'} has 1 token(s); scoring needs at least 2",
        ),
        ((str(word_run), "--split", "test"), "model 'words' was trained without a test split"),
        (
            ("hello_ohlol_rnn", "--text", str(tmp_path / "one.txt")),
            "model 'hello_ohlol_rnn' labels sequences (trained on pairs)",
        ),
    ]
    for args, needle in cases:
        assert_one_line_error(in_process("eval", *args), 2, needle)
    line = assert_one_line_error(in_process("eval", str(word_run), "--split", "test"), 2)
    assert "dataset.test_fraction" in line and "test_path" in line


def test_a_bidirectional_model_is_refused(tmp_path):
    (tmp_path / "c.txt").write_text(corpus_text(2, 600), encoding="utf-8")
    with pytest.warns(BidirectionalWarning):
        run = train(tmp_path, "bi", {"path": str(tmp_path / "c.txt")}, bidirectional=True)
    assert_one_line_error(
        in_process("eval", str(run), "--split", "train"), 2, "model 'bi' is bidirectional", "would not be honest"
    )


def test_a_corpus_changed_since_training_is_one_line(tmp_path):
    corpus = tmp_path / "c.txt"
    corpus.write_text(corpus_text(2, 600), encoding="utf-8")
    run = train(tmp_path, "changed", {"path": str(corpus), "valid_fraction": 0.2})
    corpus.write_text("xyz" + corpus_text(2, 600), encoding="utf-8")
    with pytest.raises(
        UsageError,
        match=r"^dataset 'text' no longer gives the vocabulary model 'changed' was trained with \(\d+ tokens against",
    ):
        zoo.load(run).evaluate(split="valid")


def test_a_shipped_model_without_its_corpus_names_the_corpus_to_fetch(tmp_path, monkeypatch, server):
    monkeypatch.delenv("ZOO_DATA", raising=False)
    monkeypatch.setattr(
        datasets, "JAYCHOU_URL", f"{server.url}/jaychou_lyrics.txt.zip"
    )  # answers 404: no network needed
    line = assert_one_line_error(
        in_process("eval", "jay_gru", "--split", "valid", "--data-dir", str(tmp_path)),
        2,
        "scoring the valid split of model 'jay_gru' needs the corpus it was trained on, dataset 'jaychou_lyrics'",
    )
    assert "jaychou_lyrics.txt.zip" in line and "--data-dir" in line


def test_a_shipped_model_trained_without_held_out_data_says_so(data_dir):
    with pytest.raises(UsageError, match="^model 'jay_gru' was trained without a valid split .*dataset.valid_fraction"):
        zoo.load("jay_gru").evaluate(split="valid", data_dir=data_dir)


def test_evaluate_takes_exactly_one_source(char_run):
    model = zoo.load(char_run)
    with pytest.raises(UsageError, match="^evaluate takes exactly one of text, path and split, got text, split$"):
        model.evaluate(text="the cat", split="valid")
    with pytest.raises(UsageError, match="got none"):
        model.evaluate()
    with pytest.raises(UsageError, match="^split must be one of valid, test, train, got 'dev'$"):
        model.evaluate(split="dev")
