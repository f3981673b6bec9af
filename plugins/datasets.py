"""Built-in datasets: d2l's Jay Chou lyrics and *The Time Machine*, the dinosaur names, Tiny Shakespeare, any local text
file.

Each corpus file is found by :func:`zoo.hub.data.fetch` (the data folder, then the
cache, then a download checked against the sha256 below); vocabularies are built
with :meth:`zoo.vocab.Vocab.build`, so they are the same in every process.

Every dataset splits its tokens the same way: ``test_fraction`` is taken from the
very end, ``valid_fraction`` from just before it, and the training split is the
rest, at the start. The vocabulary is built from the training split alone; with
``unk: true`` it begins with ``<unk>`` (id 0), to which rare, cut and unseen
tokens map, and without it a held-out token the training split never has is one
error naming it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import zipfile
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from zoo.plugin import Corpus, UsageError, Vocab, fetch, hookimpl, option, read_text

__all__ = ["JayChouLyrics", "TimeMachine", "Dinos", "TinyShakespeare", "TextFile", "UNK", "EOS"]

# Canonical addresses (../shared/data/SOURCES.md) and sha256 values (../shared/data/SHA256SUMS).
JAYCHOU_FILE = "jaychou_lyrics.txt.zip"
JAYCHOU_MEMBER = "jaychou_lyrics.txt"
JAYCHOU_URL = "https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/jaychou_lyrics.txt.zip"
JAYCHOU_SHA256 = "3cfedd7d174111cdad5a27eaffaa6a2432a2842cf2590a03dd8a97610ea07043"

TIMEMACHINE_FILE = "timemachine.txt"
TIMEMACHINE_URL = "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt"
TIMEMACHINE_SHA256 = "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516"

DINOS_FILE = "dinos.txt"
DINOS_URL = "https://raw.githubusercontent.com/vbvsharma/text-generation-with-an-rnn/master/dinos.txt"
DINOS_SHA256 = "0704eb65c34137226ad13023cfaa77edf70222aaaf3e2a926b9b791a25b025f6"

TINYSHAKESPEARE_FILE = "tinyshakespeare.txt"
TINYSHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"

UNK = "<unk>"  # id 0 of a vocabulary built with ``unk: true`` (d2l's and PTB's spelling)
EOS = "<eos>"  # a line end at word level with ``newlines: eos`` (PTB's convention)


# -- shared helpers ----------------------------------------------------------


def _at_least_one(name: str, value: int | None) -> list[str]:
    """A problem line when an optional count is given and below 1."""
    if value is not None and value < 1:
        return [f"{name}: must be at least 1 (or null for all), got {value}"]
    return []


def _valid_fraction(default: float = 0.0):
    """The first of the split and vocabulary options every built-in dataset declares last in its ``Options``."""
    return option(
        default,
        "fraction of the tokens held out as the validation split, from the end (before any test split); 0 for none",
    )


def _test_fraction():
    """The test split's fraction, taken from the very end."""
    return option(0.0, "fraction of the tokens held out as the test split, taken from the very end; 0 for none")


def _unk():
    """Whether the vocabulary gets ``<unk>``."""
    return option(
        False,
        "add '<unk>' (id 0) to the vocabulary: rare, cut and never-seen tokens map to it, in training and held out",
    )


def _min_count():
    """With ``unk``: the fewest occurrences a kept token has."""
    return option(1, "with unk: tokens seen fewer times in the training split map to '<unk>'")


def _max_vocab():
    """With ``unk``: the largest vocabulary."""
    return option(
        None, "with unk: keep at most N tokens, '<unk>' included, the most frequent first (ties by token); null for all"
    )


def _check_splits(o: Any) -> list[str]:
    """Problem lines for the split and vocabulary options every built-in dataset shares (``o`` holds them)."""
    problems = [
        f"{name}: must be in [0, 1), got {getattr(o, name)}"
        for name in ("valid_fraction", "test_fraction")
        if not 0.0 <= getattr(o, name) < 1.0
    ]
    if not problems and o.valid_fraction + o.test_fraction >= 1.0:
        problems.append(
            f"test_fraction: valid_fraction + test_fraction must be below 1 so that a training split remains, "
            f"got {o.valid_fraction} + {o.test_fraction}"
        )
    if o.min_count < 1:
        problems.append(f"min_count: must be at least 1, got {o.min_count}")
    if o.max_vocab is not None and o.max_vocab < 2:
        problems.append(f"max_vocab: must be at least 2 ('<unk>' and one token) or null, got {o.max_vocab}")
    if not o.unk and (o.min_count != 1 or o.max_vocab is not None):
        problems.append(
            "unk: min_count and max_vocab drop tokens from the vocabulary, which needs unk: true to map them to '<unk>'"
        )
    return problems


def _split(
    tokens: Sequence[str], valid_fraction: float, test_fraction: float
) -> tuple[Sequence[str], Sequence[str], Sequence[str]]:
    """Cut ``tokens`` into train, valid and test: the training split is the first ⌊n·(1 − valid − test)⌋ tokens and the
    test split the last n − ⌊n·(1 − test)⌋, the validation split lies between.

    The fractions are read as the decimals they are written as, so 0.9 of 1,115,394 characters is 1,003,854 exactly
    (nanoGPT's ``int(n*0.9)``) and 0.1 of 10,000 is 1,000. A fraction above 0 that holds out no token, and
    fractions that leave no training token, are each one :class:`UsageError`.
    """
    n = len(tokens)
    valid, test = Fraction(repr(valid_fraction)), Fraction(repr(test_fraction))
    train_end, valid_end = math.floor(n * (1 - valid - test)), math.floor(n * (1 - test))
    for name, fraction, size in (
        ("valid_fraction", valid, valid_end - train_end),
        ("test_fraction", test, n - valid_end),
    ):
        if fraction and not size:
            raise UsageError(
                f"dataset.{name}: {float(fraction)} of {n} tokens holds out none; raise it or use a longer corpus"
            )
    if not train_end:
        raise UsageError(
            f"dataset: valid_fraction and test_fraction leave none of the {n} tokens for training; lower them"
        )
    return tokens[:train_end], tokens[train_end:valid_end], tokens[valid_end:]


def _corpus(
    tokens: Sequence[str],
    o: Any,
    level: str = "char",
    order: str = "sorted",
    held_out: dict[str, Sequence[str]] | None = None,
) -> Corpus:
    """Split ``tokens`` by the fractions of ``o``, build the vocabulary from the training split and encode every split.

    :param o: the dataset's options (``valid_fraction``, ``test_fraction``, ``unk``, ``min_count``, ``max_vocab``).
    :param held_out: splits read from their own files (the ``text`` dataset's ``valid_path``, ``test_path``), by name.
    """
    train, valid, test = _split(tokens, o.valid_fraction, o.test_fraction)
    splits = {"valid": valid, "test": test} | (held_out or {})
    vocab = Vocab.build(
        train, level=level, order=order, unk=UNK if o.unk else None, min_count=o.min_count, max_vocab=o.max_vocab
    )
    advice = f"the vocabulary holds the training split's tokens only: set dataset.unk: true to map others to '{UNK}'"
    encoded = {
        name: vocab.encode(list(split), what=f"dataset {name} split", advice=advice)
        for name, split in splits.items()
        if split
    }
    return Corpus(train=vocab.encode(list(train)), vocab=vocab, **encoded)


# -- jaychou_lyrics ----------------------------------------------------------


@dataclasses.dataclass
class JayChouOptions:
    """Options of the ``jaychou_lyrics`` dataset."""

    max_chars: int | None = option(10000, "keep the first N characters (d2l: 10000); null keeps them all")
    valid_fraction: float = _valid_fraction()
    test_fraction: float = _test_fraction()
    unk: bool = _unk()
    min_count: int = _min_count()
    max_vocab: int | None = _max_vocab()

    def validate(self) -> list[str]:
        """``max_chars`` is null or at least 1; the split and vocabulary options agree (:func:`_check_splits`)."""
        return _at_least_one("max_chars", self.max_chars) + _check_splits(self)


class JayChouLyrics:
    """Jay Chou's lyrics as d2l (Chinese PyTorch edition, ``load_data_jay_lyrics``) prepares them.

    The zip's one member is decoded as UTF-8, ``'\\n'`` and ``'\\r'`` become spaces,
    and the first ``max_chars`` characters are kept; tokens are characters. With
    the defaults: 10,000 ids over a vocabulary of 1,027.
    """

    Options = JayChouOptions

    def __init__(self, options: JayChouOptions | None = None):
        self.options = options if options is not None else JayChouOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Find the zip, read its member and tokenise it by character."""
        path = fetch(JAYCHOU_FILE, JAYCHOU_URL, JAYCHOU_SHA256, data_dir)
        try:
            with zipfile.ZipFile(path) as archive, archive.open(JAYCHOU_MEMBER) as member:
                text = member.read().decode("utf-8")
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError, EOFError) as exc:
            raise UsageError(
                f"{path} is not a valid zip holding {JAYCHOU_MEMBER} ({type(exc).__name__}: {exc}); "
                f"delete it and download it again from {JAYCHOU_URL}"
            ) from None
        text = text.replace("\n", " ").replace("\r", " ")[: self.options.max_chars]
        return _corpus(text, self.options)


# -- timemachine -------------------------------------------------------------


@dataclasses.dataclass
class TimeMachineOptions:
    """Options of the ``timemachine`` dataset."""

    level: Literal["char", "word"] = option("char", "tokens are characters or words")
    max_tokens: int | None = option(None, "keep the first N tokens; null keeps them all")
    valid_fraction: float = _valid_fraction()
    test_fraction: float = _test_fraction()
    unk: bool = _unk()
    min_count: int = _min_count()
    max_vocab: int | None = _max_vocab()

    def validate(self) -> list[str]:
        """``max_tokens`` is null or at least 1; the split and vocabulary options agree (:func:`_check_splits`)."""
        return _at_least_one("max_tokens", self.max_tokens) + _check_splits(self)


class TimeMachine:
    """H. G. Wells' *The Time Machine* as d2l §8.2 (``read_time_machine``, ``tokenize``) prepares it.

    Every line keeps only letters (each other run becomes one space), is stripped
    and lower-cased. As in d2l, the lines' tokens are concatenated with nothing in
    between, at character level too (so the last word of a line runs into the
    first of the next): 170,580 characters over 27 symbols (26 letters and the
    space), or 32,775 words over 4,579. d2l's vocabulary adds ``<unk>``; this one
    does not need it.
    """

    Options = TimeMachineOptions

    def __init__(self, options: TimeMachineOptions | None = None):
        self.options = options if options is not None else TimeMachineOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Find, clean and tokenise the book."""
        o = self.options
        path = fetch(TIMEMACHINE_FILE, TIMEMACHINE_URL, TIMEMACHINE_SHA256, data_dir)
        lines = [
            re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in read_text(path, "timemachine").splitlines()
        ]
        if o.level == "char":
            tokens = [c for line in lines for c in line]
        else:
            tokens = [w for line in lines for w in line.split()]
        tokens = tokens[: o.max_tokens]
        return _corpus(tokens, o, level=o.level)


# -- dinos -------------------------------------------------------------------


@dataclasses.dataclass
class DinosOptions:
    """Options of the ``dinos`` dataset."""

    max_names: int | None = option(None, "keep the first N names; null keeps all 1,543")
    valid_fraction: float = _valid_fraction()
    test_fraction: float = _test_fraction()
    unk: bool = _unk()
    min_count: int = _min_count()
    max_vocab: int | None = _max_vocab()

    def validate(self) -> list[str]:
        """``max_names`` is null or at least 1; the split and vocabulary options agree (:func:`_check_splits`)."""
        return _at_least_one("max_names", self.max_names) + _check_splits(self)


class Dinos:
    """The dinosaur names of the Coursera exercise, lower-cased, one per line.

    The ids run through the whole text, names separated by ``'\\n'``; the
    vocabulary is the 26 letters and ``'\\n'``, sorted, so ``'\\n'`` is id 0 and
    ``'a'`` id 1, as in the exercise's ``sorted(set(data))``.
    """

    Options = DinosOptions

    def __init__(self, options: DinosOptions | None = None):
        self.options = options if options is not None else DinosOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Find the names, lower-case them and tokenise by character."""
        path = fetch(DINOS_FILE, DINOS_URL, DINOS_SHA256, data_dir)
        text = read_text(path, "dinos").lower()
        if self.options.max_names is not None:
            text = "\n".join(text.split("\n")[: self.options.max_names])
        return _corpus(text, self.options)


# -- tinyshakespeare ---------------------------------------------------------


@dataclasses.dataclass
class TinyShakespeareOptions:
    """Options of the ``tinyshakespeare`` dataset: nanoGPT's ``shakespeare_char`` split by default."""

    valid_fraction: float = _valid_fraction(0.1)
    test_fraction: float = _test_fraction()
    unk: bool = _unk()
    min_count: int = _min_count()
    max_vocab: int | None = _max_vocab()

    def validate(self) -> list[str]:
        """The split and vocabulary options agree (:func:`_check_splits`)."""
        return _check_splits(self)


class TinyShakespeare:
    """Karpathy's char-rnn corpus (``tinyshakespeare/input.txt``), split as nanoGPT's ``shakespeare_char``.

    Tokens are the file's 1,115,394 characters (ASCII, 65 distinct, ``'\n'``
    included). With the default ``valid_fraction: 0.1`` the first 90%,
    ``int(n*0.9)`` = 1,003,854 characters, train and the last 111,540 are the
    validation split (111,539 next-character predictions), exactly nanoGPT's
    ``data[:int(n*0.9)]`` and ``data[int(n*0.9):]``. nanoGPT's vocabulary is
    ``sorted(set(all text))``; zoo's comes from the training split alone, and
    all 65 characters occur in the first 90%, so the two are the same (``'\n'``
    id 0, ``' '`` id 1, ...) and the validation split has no unseen character.
    """

    Options = TinyShakespeareOptions

    def __init__(self, options: TinyShakespeareOptions | None = None):
        self.options = options if options is not None else TinyShakespeareOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Find the file and tokenise it by character."""
        path = fetch(TINYSHAKESPEARE_FILE, TINYSHAKESPEARE_URL, TINYSHAKESPEARE_SHA256, data_dir)
        return _corpus(read_text(path, "tinyshakespeare"), self.options)


# -- text --------------------------------------------------------------------


@dataclasses.dataclass
class TextOptions:
    """Options of the ``text`` dataset."""

    path: str = option(help="the UTF-8 text file to read; a relative path starts at the current directory")
    level: Literal["char", "word"] = option("char", "tokens are characters or whitespace-separated words")
    lowercase: bool = option(False, "lower-case the text first")
    newlines: Literal["keep", "space", "eos"] = option(
        "keep",
        "char level: keep '\\n' as a token, or turn line breaks into spaces; word level: eos ends every line with "
        "'<eos>' (PTB)",
    )
    max_tokens: int | None = option(
        None, "keep the first N tokens of path (not of valid_path or test_path); null keeps them all"
    )
    vocab_order: Literal["sorted", "frequency"] = option(
        "sorted", "vocabulary order: sorted, or most frequent first (ties by token)"
    )
    valid_path: str | None = option(
        None, "a file read as the validation split, tokenised as path is (PTB's ptb.valid.txt); null for none"
    )
    test_path: str | None = option(
        None, "a file read as the test split, tokenised as path is (PTB's ptb.test.txt); null for none"
    )
    valid_fraction: float = _valid_fraction()
    test_fraction: float = _test_fraction()
    unk: bool = _unk()
    min_count: int = _min_count()
    max_vocab: int | None = _max_vocab()

    def validate(self) -> list[str]:
        """Paths are not blank, ``max_tokens`` is null or at least 1, ``newlines: eos`` is at word level, a split comes
        from a fraction or a file but not both, and the split and vocabulary options agree (:func:`_check_splits`)."""
        problems = [
            f"{key}: must name a file, got an empty string"
            for key in ("path", "valid_path", "test_path")
            if getattr(self, key) is not None and not getattr(self, key).strip()
        ]
        if self.newlines == "eos" and self.level != "word":
            problems.append(
                "newlines: eos adds a word '<eos>' and needs level: word; at char level, keep keeps '\\n' as a token"
            )
        problems += [
            f"{split}_path: the {split} split comes from {split}_path or from {split}_fraction, not both; "
            f"set {split}_fraction: 0 or drop {split}_path"
            for split in ("valid", "test")
            if getattr(self, f"{split}_path") is not None and getattr(self, f"{split}_fraction")
        ]
        return problems + _at_least_one("max_tokens", self.max_tokens) + _check_splits(self)


class TextFile:
    """Any local UTF-8 text file, tokenised by character or by whitespace-separated word.

    Line breaks are read in universal-newlines mode, so ``'\\r\\n'`` arrives as
    ``'\\n'``. At character level ``newlines`` keeps them as ``'\\n'`` or turns
    them into spaces; at word level a line break separates words like any other
    whitespace, unless ``newlines: eos`` ends every line (an empty one too) with
    the word ``<eos>``, as PTB's language models read ``ptb.*.txt``. Corpora that
    come split name their held-out files in ``valid_path`` and ``test_path``,
    tokenised as ``path`` is; the vocabulary comes from ``path`` alone.
    ``data_dir`` is not used.
    """

    Options = TextOptions

    def __init__(self, options: TextOptions):
        self.options = options

    def load(self, data_dir: Path | None) -> Corpus:
        """Read the file named by ``path`` (and ``valid_path``, ``test_path``) and tokenise it."""
        o = self.options
        held_out = {
            split: self._tokens(name, f"dataset {split} text")
            for split, name in (("valid", o.valid_path), ("test", o.test_path))
            if name is not None
        }
        return _corpus(
            self._tokens(o.path, "dataset text")[: o.max_tokens],
            o,
            level=o.level,
            order=o.vocab_order,
            held_out=held_out,
        )

    def _tokens(self, name: str, what: str) -> list[str]:
        """The tokens of one file; a file without any is one :class:`UsageError`."""
        o = self.options
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        text = read_text(path, what)
        if o.lowercase:
            text = text.lower()
        if o.newlines == "space":
            text = text.replace("\n", " ")
        if o.level == "char":
            tokens = list(text)
        elif o.newlines == "eos":
            lines = text.split("\n")
            if lines[-1] == "":  # the final line break ends the last line; it does not start an empty one
                lines.pop()
            tokens = [w for line in lines for w in line.split() + [EOS]]
        else:
            tokens = text.split()
        if not tokens:
            raise UsageError(f"{what}: {path} holds no tokens; give a file with some text in it")
        return tokens


@hookimpl
def register_datasets(register):
    """Register ``jaychou_lyrics``, ``timemachine``, ``dinos``, ``tinyshakespeare`` and ``text``."""
    register("jaychou_lyrics", JayChouLyrics)
    register("timemachine", TimeMachine)
    register("dinos", Dinos)
    register("tinyshakespeare", TinyShakespeare)
    register("text", TextFile)
