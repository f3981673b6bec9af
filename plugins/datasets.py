"""Built-in corpora: the d2l Jay Chou lyrics and time machine, the dinosaur names, and any local text file."""

from __future__ import annotations

import dataclasses
import re
import zipfile
from pathlib import Path
from typing import Literal

import zoo
from zoo.data import fetch
from zoo.errors import UsageError
from zoo.interfaces import Corpus
from zoo.options import option
from zoo.vocab import Vocab

JAYCHOU = ("jaychou_lyrics.txt.zip", "https://raw.githubusercontent.com/ShusenTang/Dive-into-DL-PyTorch/master/data/jaychou_lyrics.txt.zip",
           "3cfedd7d174111cdad5a27eaffaa6a2432a2842cf2590a03dd8a97610ea07043")
TIMEMACHINE = ("timemachine.txt", "http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt",
               "8424dbd9532ac81f7e5f0b6add90e6952baea29158309d7d1bf3884f4e12c516")
DINOS = ("dinos.txt", "https://raw.githubusercontent.com/vbvsharma/text-generation-with-an-rnn/master/dinos.txt",
         "0704eb65c34137226ad13023cfaa77edf70222aaaf3e2a926b9b791a25b025f6")


@dataclasses.dataclass
class SplitOptions:
    """Options every built-in dataset shares."""

    valid_fraction: float = option(0.0, "fraction of the ids, taken from the end, held out as the validation split")

    def validate(self) -> list[str]:
        """The fraction must leave a training split."""
        if not 0.0 <= self.valid_fraction < 1.0:
            return [f"valid_fraction: must be in [0, 1), got {self.valid_fraction}"]
        return []


def corpus_of(tokens: list[str], vocab: Vocab, valid_fraction: float) -> Corpus:
    """Encode tokens and split off the last ``valid_fraction`` of them as the validation ids."""
    ids = vocab.encode(tokens)
    cut = len(ids) - int(len(ids) * valid_fraction)
    return Corpus(train=ids[:cut], vocab=vocab, valid=ids[cut:] if cut < len(ids) else None)


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; an unreadable one is one clear error."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"corpus file {path} not found; check dataset.path") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"corpus file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); convert it to UTF-8") from None
    except OSError as exc:
        raise UsageError(f"cannot read corpus file {path}: {exc.strerror}") from None


@dataclasses.dataclass
class JayChouOptions(SplitOptions):
    """Options of ``jaychou_lyrics``."""

    max_chars: int | None = option(10000, "keep the first N characters (d2l: 10000); null keeps all")

    def validate(self) -> list[str]:
        """``max_chars`` must be positive."""
        problems = super().validate()
        if self.max_chars is not None and self.max_chars < 1:
            problems.append(f"max_chars: must be at least 1 (or null for all), got {self.max_chars}")
        return problems


class JayChouLyrics:
    """Jay Chou's lyrics, as d2l (Chinese edition) prepares them: newlines become spaces, first ``max_chars`` chars.

    With the defaults: 10,000 characters and a vocabulary of 1,027.
    """

    Options = JayChouOptions

    def __init__(self, options: JayChouOptions | None = None):
        self.options = options or JayChouOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Read the zip's single member and tokenise it by character."""
        path = fetch(*JAYCHOU, data_dir=data_dir)
        try:
            with zipfile.ZipFile(path) as zf, zf.open("jaychou_lyrics.txt") as f:
                text = f.read().decode("utf-8")
        except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
            raise UsageError(f"{path} is not the expected zip of jaychou_lyrics.txt ({exc}); delete it so zoo fetches a fresh copy") from None
        text = text.replace("\n", " ").replace("\r", " ")[: self.options.max_chars]
        vocab = Vocab.build(text, level="char")
        return corpus_of(list(text), vocab, self.options.valid_fraction)


@dataclasses.dataclass
class TimeMachineOptions(SplitOptions):
    """Options of ``timemachine``."""

    level: Literal["char", "word"] = option("char", "tokens are characters or words")
    max_tokens: int | None = option(None, "keep the first N tokens; null keeps all")


class TimeMachine:
    """H. G. Wells' *The Time Machine* as d2l §8.2 prepares it.

    Each line keeps letters only (other runs become one space), stripped and
    lower-cased; character level concatenates the lines as d2l does (no separator
    between lines), giving 26 letters and the space.
    """

    Options = TimeMachineOptions

    def __init__(self, options: TimeMachineOptions | None = None):
        self.options = options or TimeMachineOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Read, clean and tokenise the book."""
        lines = read_text(fetch(*TIMEMACHINE, data_dir=data_dir)).splitlines()
        lines = [re.sub("[^A-Za-z]+", " ", line).strip().lower() for line in lines]
        if self.options.level == "char":
            tokens = [c for line in lines for c in line]
        else:
            tokens = [w for line in lines for w in line.split()]
        tokens = tokens[: self.options.max_tokens]
        return corpus_of(tokens, Vocab.build(tokens, level=self.options.level), self.options.valid_fraction)


class Dinos:
    """The 1,543 dinosaur names of the Coursera exercise, lower-cased, one per line.

    The ids run through the whole file, names separated by ``'\\n'``; the vocabulary
    is the 26 letters and ``'\\n'`` (sorted, so ``'\\n'`` is id 0 as in the exercise).
    """

    Options = SplitOptions

    def __init__(self, options: SplitOptions | None = None):
        self.options = options or SplitOptions()

    def load(self, data_dir: Path | None) -> Corpus:
        """Read and lower-case the names."""
        text = read_text(fetch(*DINOS, data_dir=data_dir)).lower()
        return corpus_of(list(text), Vocab.build(text, level="char"), self.options.valid_fraction)


@dataclasses.dataclass(kw_only=True)
class TextOptions(SplitOptions):
    """Options of ``text``."""

    path: str = option(help="the UTF-8 text file to read (relative to the current directory)")
    level: Literal["char", "word"] = option("char", "tokens are characters or whitespace-separated words")
    lowercase: bool = option(False, "lower-case the text first")
    newlines: Literal["keep", "space"] = option("keep", "keep newlines as tokens, or turn them into spaces (char level)")
    max_tokens: int | None = option(None, "keep the first N tokens; null keeps all")
    vocab_order: Literal["sorted", "frequency"] = option("sorted", "vocabulary order: sorted tokens, or by frequency (ties by token)")


class TextFile:
    """Any local UTF-8 text file, at character or word level."""

    Options = TextOptions

    def __init__(self, options: TextOptions):
        self.options = options

    def load(self, data_dir: Path | None) -> Corpus:
        """Read and tokenise the file named by ``path``."""
        o = self.options
        text = read_text(Path(o.path))
        if o.lowercase:
            text = text.lower()
        if o.newlines == "space":
            text = text.replace("\r", " ").replace("\n", " ")
        tokens = list(text) if o.level == "char" else text.split()
        tokens = tokens[: o.max_tokens]
        if not tokens:
            raise UsageError(f"corpus file {o.path} holds no tokens; give a non-empty text file")
        vocab = Vocab.build(tokens, level=o.level, order=o.vocab_order)
        return corpus_of(tokens, vocab, o.valid_fraction)


@zoo.hookimpl
def register_datasets(register):
    """Register ``jaychou_lyrics``, ``timemachine``, ``dinos`` and ``text``."""
    register("jaychou_lyrics", JayChouLyrics, aliases=("jay",))
    register("timemachine", TimeMachine, aliases=("time_machine",))
    register("dinos", Dinos)
    register("text", TextFile)
