"""Bad input through the ``zoo`` command line: one line on stderr saying what, where and what to do.

Every case runs ``zoo`` (in this process: the start-up of a fresh one would dominate each) and checks the exit code
(2 for bad input), that no traceback reaches stderr, and the words of the one error line. Each table of cases runs
once in a module-scoped fixture; every case stays its own test.
"""

from __future__ import annotations

import copy
import json
import re
import struct
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from clitools import assert_one_line_error, in_process
from safetensors.torch import load, save

import zoo as zoo_api
from zoo.errors import UsageError

CORPUS = "the quick brown fox jumps over the lazy dog. " * 20  # 28 symbols: ' ', '.' and a-z
TINY = {
    "name": "tiny",
    "dataset": {"name": "text", "path": "corpus.txt"},
    "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
    "model": {"cell": "gru", "hidden_size": 8},
    "backend": "torch",
    "trainer": {"epochs": 1},
}
UNSEEN = "Zoë!"  # '!', 'Z' and 'ë' are not in CORPUS
UNSEEN_LISTED = "3 token(s) the vocabulary has never seen: '!', 'Z', 'ë'"

# case -> (changes to TINY by dotted key, words of the error line); run as  zoo run CASE.yaml -q --out out/CASE
RECIPE_CASES = {
    "hidden_size-word": ({"model.hidden_size": "big"}, ("model.hidden_size", "expected int", "'big'")),
    "epochs-fraction": ({"trainer.epochs": 1.5}, ("trainer.epochs", "expected int", "got 1.5")),
    "sampler-list": ({"sampler": [1, 2]}, ("sampler:", "expected a mapping (or a component name)", "[1, 2]")),
    "unknown-key": ({"model.hiden_size": 8}, ("model.hiden_size", "unknown key", "did you mean 'hidden_size'?")),
    "unknown-section": ({"trainr": {"epochs": 1}}, ("trainr", "unknown top-level key", "did you mean 'trainer'?")),
    "hidden_size-0": ({"model.hidden_size": 0}, ("model.hidden_size", "must be at least 1", "got 0")),
    "hidden_size-negative": ({"model.hidden_size": -3}, ("model.hidden_size", "must be at least 1", "got -3")),
    "layers-0": ({"model.layers": 0}, ("model.layers", "must be at least 1", "got 0")),
    "batch_size-0": ({"sampler.batch_size": 0}, ("sampler.batch_size", "must be at least 1", "got 0")),
    "num_steps-negative": ({"sampler.num_steps": -1}, ("sampler.num_steps", "must be at least 1", "got -1")),
    "embedding_size-0": (
        {"model.encoder": "embedding", "model.embedding_size": 0},
        ("model.embedding_size", "must be at least 1", "got 0"),
    ),
    "length-negative": ({"predict.length": -1}, ("predict.length", "must be zero or more", "got -1")),
    "epochs-0": ({"trainer.epochs": 0}, ("trainer.epochs", "must be at least 1", "got 0")),
    "lr-negative": ({"trainer.lr": -0.1}, ("trainer.lr", "must be positive", "got -0.1")),
    "data-missing": ({"dataset.path": "absent.txt"}, ("dataset text", "absent.txt not found", "check the path")),
    "data-not-utf8": (
        {"dataset.path": "latin1.txt"},
        ("dataset text", "latin1.txt is not UTF-8 text", "convert it to UTF-8"),
    ),
    "corpus-too-short": (
        {"dataset.path": "short.txt"},
        (
            "(12 training tokens) is shorter than one batch",
            "sampler.batch_size=4, sampler.num_steps=10",
            "lower them or use a longer corpus",
        ),
    ),
    "prefix-unseen": (
        {"predict.prefixes": ["the", UNSEEN]},
        (f"predict.prefixes[1]: {UNSEEN!r}", UNSEEN_LISTED, "use only tokens"),
    ),
    "lr-nan": ({"trainer.lr": float("nan")}, ("trainer.lr", "must be a finite number", "got nan")),
    "temperature-inf": (
        {"predict.temperature": float("inf")},
        ("predict.temperature", "must be a finite number", "got inf"),
    ),
    "seed-too-large": ({"seed": 2**40}, ("seed", "expected an integer from 0 to 2**32 - 1", str(2**40))),
    "model-too-large": (
        {"model.hidden_size": 10**8},
        ("model: not enough memory", "hidden_size 100000000", "choose a smaller model.hidden_size"),
    ),
}

# case -> (the recipe file's bytes, words of the error line); run as  zoo run CASE.yaml -q --out out/CASE
FILE_CASES = {
    "not-a-mapping": (
        b"- name: tiny\n- model: {cell: gru}\n",
        ("not-a-mapping.yaml", "a recipe must be a YAML mapping"),
    ),
    "not-yaml": (
        b"name: tiny\nmodel: {cell: gru\n",
        ("not-yaml.yaml at line 3, column 1", "expected ',' or '}'", "fix the YAML syntax"),
    ),
    "empty": (b"", ("empty.yaml", "a recipe must be a YAML mapping")),
    "not-utf8": (
        "name: café\n".encode("latin-1"),
        ("not-utf8.yaml is not UTF-8 text", "invalid continuation byte at byte 9", "save it as UTF-8"),
    ),
}

# case -> (arguments of zoo run before -q --out out/CASE, words of the error line)
MISUSE_CASES = {
    "seed-negative": (("tiny.yaml", "--seed", "-1"), ("'--seed'", "-1 is not in the range 0<=x<=4294967295")),
    "set-without-equals": (
        ("tiny.yaml", "--set", "trainer.epochs"),
        ("--set expects KEY=VALUE", "got 'trainer.epochs'"),
    ),
    "recipe-is-a-folder": (("a_folder",), ("'[RECIPE]'", "'a_folder' is a directory", "zoo run --help")),
}


def changed(recipe: dict, changes: dict) -> dict:
    """A copy of ``recipe`` with dotted keys (``model.hidden_size``) set, sections created as needed."""
    out = copy.deepcopy(recipe)
    for key, value in changes.items():
        *sections, last = key.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value
    return out


def write_yaml(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def zoo_all(calls: dict, cwd: Path) -> dict[str, subprocess.CompletedProcess]:
    """Run ``zoo`` with each entry's arguments in turn, in ``cwd`` and with a cache of their own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        patch.setenv("XDG_CACHE_HOME", str(cwd / "cache"))
        return {case: in_process(*args) for case, args in calls.items()}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A folder with the tiny recipe, its corpus, a short and a Latin-1 corpus, and a broken Jay Chou zip."""
    folder = tmp_path_factory.mktemp("bad_input")
    (folder / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    (folder / "short.txt").write_text("the lazy dog", encoding="utf-8")
    (folder / "latin1.txt").write_bytes("the café, the café".encode("latin-1"))
    (folder / "broken").mkdir()
    (folder / "broken" / "jaychou_lyrics.txt.zip").write_bytes(b"PK\x03\x04 a zip cut short")
    (folder / "a_folder").mkdir()
    write_yaml(folder / "tiny.yaml", TINY)
    write_yaml(folder / "jay.yaml", {**TINY, "dataset": {"name": "jaychou_lyrics"}})
    return folder


@pytest.fixture(scope="module")
def outcomes(workdir) -> dict[str, subprocess.CompletedProcess]:
    """Every recipe, recipe-file and misuse case, and the Jay Chou recipe on a broken zip, run."""
    for case, (changes, _) in RECIPE_CASES.items():
        write_yaml(workdir / f"{case}.yaml", changed(TINY, changes))
    for case, (blob, _) in FILE_CASES.items():
        (workdir / f"{case}.yaml").write_bytes(blob)
    args = {case: (f"{case}.yaml",) for case in [*RECIPE_CASES, *FILE_CASES]}
    args |= {case: case_args for case, (case_args, _) in MISUSE_CASES.items()}
    args["broken-zip"] = ("jay.yaml", "--data-dir", "broken")
    return zoo_all({case: ("run", *a, "-q", "--out", f"out/{case}") for case, a in args.items()}, workdir)


@pytest.mark.parametrize("case", list(RECIPE_CASES))
def test_bad_recipe_value_is_refused_before_the_run_starts(case, outcomes, workdir):
    assert_one_line_error(outcomes[case], 2, *RECIPE_CASES[case][1])
    assert not (workdir / "out" / case).exists()  # no run directory, so no weights


@pytest.mark.parametrize("case", list(FILE_CASES))
def test_bad_recipe_file_names_the_file(case, outcomes, workdir):
    assert_one_line_error(outcomes[case], 2, *FILE_CASES[case][1])
    assert not (workdir / "out" / case).exists()


@pytest.mark.parametrize("case", list(MISUSE_CASES))
def test_command_line_misuse(case, outcomes, workdir):
    assert_one_line_error(outcomes[case], 2, *MISUSE_CASES[case][1])
    assert not (workdir / "out" / case).exists()


def test_a_broken_jay_chou_zip_in_the_data_dir_says_to_download_it_again(outcomes):
    assert_one_line_error(
        outcomes["broken-zip"],
        2,
        "broken/jaychou_lyrics.txt.zip is not a valid zip holding jaychou_lyrics.txt",
        "delete it and download it again from https://",
    )


# -- a trained tiny run, then damaged weights ----------------------------------


@pytest.fixture(scope="module")
def trained(workdir) -> Path:
    """A tiny GRU trained for one epoch on CORPUS (in this process: no start-up to pay)."""
    recipe = changed(TINY, {"dataset.path": str(workdir / "corpus.txt")})
    return zoo_api.run(recipe, out=workdir / "trained").run_dir


def metadata(blob: bytes) -> dict[str, str]:
    """The metadata in the JSON header of a safetensors file's bytes."""
    (length,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + length])["__metadata__"]


def truncated(blob: bytes) -> bytes:
    return blob[:-7]


def length_flipped(blob: bytes) -> bytes:
    return bytes(b ^ 0xFF for b in blob[:8]) + blob[8:]


def header_flipped(blob: bytes) -> bytes:
    return blob[:8] + b"[" + blob[9:]  # the '{' that opens the JSON header


def metadata_flipped(blob: bytes) -> bytes:
    start = blob.index(b'"zoo.recipe":"{') + len(b'"zoo.recipe":"')
    return blob[:start] + b"(" + blob[start + 1 :]  # the header stays valid JSON, the recipe in it does not


def wrong_shape(blob: bytes) -> bytes:
    tensors = {**load(blob), "rnn.weight_hh_l0": torch.zeros(24, 9)}  # the recipe's GRU needs (3 * 8, 8)
    return save(tensors, metadata=metadata(blob))


def short_vocab(blob: bytes) -> bytes:
    meta = metadata(blob)
    tokens = json.loads(meta["zoo.vocab"])
    return save(load(blob), metadata={**meta, "zoo.vocab": json.dumps(tokens[:-3])})


NOT_READABLE = ("not a readable safetensors file", "it may be truncated or corrupt: re-download or re-train it")

# case -> (damage to the trained weights, words of the error line); run as  zoo predict CASE.safetensors --prefix the
WEIGHTS_CASES = {
    "truncated": (truncated, ("truncated.safetensors", *NOT_READABLE)),
    "length-flipped": (length_flipped, ("length-flipped.safetensors", *NOT_READABLE)),
    "header-flipped": (header_flipped, ("header-flipped.safetensors", *NOT_READABLE)),
    "metadata-flipped": (
        metadata_flipped,
        ("metadata-flipped.safetensors", "metadata 'zoo.recipe' is not valid JSON", "re-download or re-train"),
    ),
    "wrong-shape": (
        wrong_shape,
        (
            "wrong-shape.safetensors",
            "tensor rnn.weight_hh_l0 has shape (24, 9), the recipe needs (24, 8)",
            "do not belong to this recipe",
            "re-download or re-train them",
        ),
    ),
    "short-vocab": (
        short_vocab,
        (
            "short-vocab.safetensors",
            "tensor dense.bias has shape (28,), the recipe needs (25,)",
            "the 25 tokens of the vocabulary in its metadata",
            "re-download or re-train them",
        ),
    ),
}


@pytest.fixture(scope="module")
def predictions(trained, workdir) -> dict[str, subprocess.CompletedProcess]:
    """``zoo predict`` on every damaged copy of the trained weights, and on the run with an unseen prefix."""
    blob = (trained / "model.safetensors").read_bytes()
    calls = {}
    for case, (damage, _) in WEIGHTS_CASES.items():
        (workdir / f"{case}.safetensors").write_bytes(damage(blob))
        calls[case] = ("predict", f"{case}.safetensors", "--prefix", "the")
    calls["prefix-unseen"] = ("predict", str(trained), "--prefix", UNSEEN)
    return zoo_all(calls, workdir)


@pytest.mark.parametrize("case", list(WEIGHTS_CASES))
def test_damaged_weights_name_the_file_and_the_fix(case, predictions):
    assert_one_line_error(predictions[case], 2, *WEIGHTS_CASES[case][1])


def test_predict_lists_the_unseen_characters_of_a_prefix(predictions):
    assert_one_line_error(predictions["prefix-unseen"], 2, UNSEEN_LISTED, "use only tokens from the training corpus")


def test_generate_from_python_lists_the_unseen_characters(trained):
    with pytest.raises(UsageError, match=re.escape(UNSEEN_LISTED)):
        zoo_api.load(trained).generate(UNSEEN)
