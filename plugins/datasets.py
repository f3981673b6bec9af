"""Built-in datasets: d2l's Jay Chou lyrics and *The Time Machine*, the dinosaur names, and any local text file.

Each corpus file is found by :func:`zoo.data.fetch` (the data folder, then the
cache, then a download checked against the sha256 below); vocabularies are built
with :meth:`zoo.vocab.Vocab.build`, so they are the same in every process.
"""

from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path
from typing import Literal, Sequence

from zoo.data import fetch
from zoo.errors import UsageError
from zoo.files import check_regular
from zoo.hookspecs import hookimpl
from zoo.interfaces import Corpus
from zoo.options import option
from zoo.vocab import Vocab

__all__ = ["JayChouLyrics", "TimeMachine", "Dinos", "TextFile"]

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


# -- shared helpers ----------------------------------------------------------


def _at_least_one(name: str, value: int | None) -> list[str]:
    """A problem line when an optional count is given and below 1."""
    if value is not None and value < 1:
        return [f"{name}: must be at least 1 (or null for all), got {value}"]
    return []


def _read_text(path: Path, what: str) -> str:
    """Read a UTF-8 text file (universal newlines); any failure is one :class:`UsageError` line.

    Only a regular file is opened: a FIFO would block the read forever and a device such as
    ``/dev/zero`` never ends, so both are refused from ``os.stat`` alone.
    """
    try:
        check_regular(path, what, "name a text file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{what}: file {path} not found; check the path (relative paths start at the current directory)") from None
    except IsADirectoryError:
        raise UsageError(f"{what}: {path} is a directory, not a text file; name a file") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what}: {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8") from None
    except OSError as exc:
        raise UsageError(f"{what}: cannot read {path} ({exc.strerror or exc}); check its permissions") from None
    except ValueError:  # a NUL byte in the name (UnicodeDecodeError, also a ValueError, is caught above)
        raise UsageError(f"{what}: {str(path)!r} holds a NUL byte, which no file name can; fix the path") from None


def _corpus(tokens: Sequence[str], vocab: Vocab, valid_fraction: float) -> Corpus:
    """Encode ``tokens`` and hold out the last ``valid_fraction`` of the ids as the validation split."""
    ids = vocab.encode(list(tokens))
    cut = len(ids) - int(len(ids) * valid_fraction)
    if cut == len(ids):
        return Corpus(train=ids, vocab=vocab)
    return Corpus(train=ids[:cut], vocab=vocab, valid=ids[cut:])


def _valid_fraction():
    """The option every built-in dataset has, declared last in its ``Options``: the held-out fraction."""
    return option(0.0, "fraction of the ids, taken from the end, held out as the validation split; 0 for none")


def _check_fraction(value: float) -> list[str]:
    """A problem line unless the fraction lies in [0, 1), so that a training split remains."""
    if not 0.0 <= value < 1.0:
        return [f"valid_fraction: must be in [0, 1), got {value}"]
    return []


# -- jaychou_lyrics ----------------------------------------------------------


@dataclasses.dataclass
class JayChouOptions:
    """Options of the ``jaychou_lyrics`` dataset."""

    max_chars: int | None = option(10000, "keep the first N characters (d2l: 10000); null keeps them all")
    valid_fraction: float = _valid_fraction()

    def validate(self) -> list[str]:
        """``max_chars`` is null or at least 1; ``valid_fraction`` lies in [0, 1)."""
        return _at_least_one("max_chars", self.max_chars) + _check_fraction(self.valid_fraction)


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
        return _corpus(text, Vocab.build(text, level="char"), self.options.valid_fraction)


# -- timemachine -------------------------------------------------------------


@dataclasses.dataclass
class TimeMachineOptions:
    """Options of the ``timemachine`` dataset."""

    level: Literal["char", "word"] = option("char", "tokens are characters or words")
    max_tokens: int | None = option(None, "keep the first N tokens; null keeps them all")
    valid_fraction: float = _valid_fraction()

    def validate(self) -> list[str]:
        """``max_tokens`` is null or at least 1; ``valid_fraction`` lies in [0, 1)."""
        return _at_least_one("max_tokens", self.max_tokens) + _check_fraction(self.valid_fraction)


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
        lines = [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in _read_text(path, "timemachine").splitlines()]
        if o.level == "char":
            tokens = [c for line in lines for c in line]
        else:
            tokens = [w for line in lines for w in line.split()]
        tokens = tokens[: o.max_tokens]
        return _corpus(tokens, Vocab.build(tokens, level=o.level), o.valid_fraction)


# -- dinos -------------------------------------------------------------------


@dataclasses.dataclass
class DinosOptions:
    """Options of the ``dinos`` dataset."""

    max_names: int | None = option(None, "keep the first N names; null keeps all 1,543")
    valid_fraction: float = _valid_fraction()

    def validate(self) -> list[str]:
        """``max_names`` is null or at least 1; ``valid_fraction`` lies in [0, 1)."""
        return _at_least_one("max_names", self.max_names) + _check_fraction(self.valid_fraction)


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
        text = _read_text(path, "dinos").lower()
        if self.options.max_names is not None:
            text = "\n".join(text.split("\n")[: self.options.max_names])
        return _corpus(text, Vocab.build(text, level="char"), self.options.valid_fraction)


# -- text --------------------------------------------------------------------


@dataclasses.dataclass
class TextOptions:
    """Options of the ``text`` dataset."""

    path: str = option(help="the UTF-8 text file to read; a relative path starts at the current directory")
    level: Literal["char", "word"] = option("char", "tokens are characters or whitespace-separated words")
    lowercase: bool = option(False, "lower-case the text first")
    newlines: Literal["keep", "space"] = option("keep", "char level: keep '\\n' as a token, or turn line breaks into spaces")
    max_tokens: int | None = option(None, "keep the first N tokens; null keeps them all")
    vocab_order: Literal["sorted", "frequency"] = option("sorted", "vocabulary order: sorted, or most frequent first (ties by token)")
    valid_fraction: float = _valid_fraction()

    def validate(self) -> list[str]:
        """``path`` is not blank, ``max_tokens`` is null or at least 1, ``valid_fraction`` lies in [0, 1)."""
        problems = ["path: must name a file, got an empty string"] if not self.path.strip() else []
        return problems + _at_least_one("max_tokens", self.max_tokens) + _check_fraction(self.valid_fraction)


class TextFile:
    """Any local UTF-8 text file, tokenised by character or by whitespace-separated word.

    Line breaks are read in universal-newlines mode, so ``'\\r\\n'`` arrives as
    ``'\\n'``. ``newlines`` matters at character level only: at word level a line
    break separates words like any other whitespace. ``data_dir`` is not used.
    """

    Options = TextOptions

    def __init__(self, options: TextOptions):
        self.options = options

    def load(self, data_dir: Path | None) -> Corpus:
        """Read the file named by ``path`` and tokenise it."""
        o = self.options
        path = Path(o.path).expanduser()
        if not path.is_absolute():
            path = Path.cwd() / path
        text = _read_text(path, "dataset text")
        if o.lowercase:
            text = text.lower()
        if o.newlines == "space":
            text = text.replace("\n", " ")
        tokens = list(text) if o.level == "char" else text.split()
        tokens = tokens[: o.max_tokens]
        if not tokens:
            raise UsageError(f"dataset text: {path} holds no tokens; give a file with some text in it")
        return _corpus(tokens, Vocab.build(tokens, level=o.level, order=o.vocab_order), o.valid_fraction)


@hookimpl
def register_datasets(register):
    """Register ``jaychou_lyrics``, ``timemachine``, ``dinos`` and ``text``."""
    register("jaychou_lyrics", JayChouLyrics)
    register("timemachine", TimeMachine)
    register("dinos", Dinos)
    register("text", TextFile)
