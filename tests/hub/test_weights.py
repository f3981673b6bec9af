"""Weights files: canonical bytes, metadata, and one-line errors for broken files."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from zoo.errors import UsageError
from zoo.hub.weights import read_weights, save_weights
from zoo.vocab import Vocab

WRITE = """
import sys, torch
from zoo.hub.weights import save_weights
from zoo.vocab import Vocab
g = torch.Generator().manual_seed(0)
save_weights(sys.argv[1], {"rnn.weight_ih_l0": torch.randn(6, 3, generator=g),
                           "dense.bias": torch.randn(3, generator=g)},
             vocab=Vocab(list("abc")), recipe={"name": "t", "seed": 0, "model": {"cell": "gru"}},
             metrics={"epoch": 1, "loss": 0.5}, versions={"zoo": "x", "torch": "y"})
"""


def write(path):
    subprocess.run([sys.executable, "-c", WRITE, str(path)], check=True)


def test_equal_weights_give_equal_bytes_across_processes(tmp_path):
    write(tmp_path / "a.safetensors")
    write(tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


def test_round_trip_keeps_tensors_and_metadata(tmp_path):
    write(tmp_path / "a.safetensors")
    wf = read_weights(tmp_path / "a.safetensors")
    assert set(wf.tensors) == {"rnn.weight_ih_l0", "dense.bias"}
    assert (
        wf.vocab == Vocab(list("abc"))
        and wf.recipe["model"]["cell"] == "gru"
        and wf.metrics == {"epoch": 1, "loss": 0.5}
    )
    assert wf.metadata["format"] == "pt" and wf.metadata["zoo.torch_version"] == "y"


def test_truncated_and_tampered_files_are_one_line(tmp_path):
    write(tmp_path / "a.safetensors")
    blob = (tmp_path / "a.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(blob[: len(blob) - 7])
    with pytest.raises(
        UsageError, match="cut.safetensors is not a readable safetensors file .*re-download or re-train"
    ):
        read_weights(tmp_path / "cut.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 3)
    with pytest.raises(UsageError, match="not a readable safetensors file"):
        read_weights(tmp_path / "junk.safetensors")
    with pytest.raises(UsageError, match="not found"):
        read_weights(tmp_path / "absent.safetensors")


def test_a_file_without_zoo_metadata_says_so(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(UsageError, match="not written by zoo"):
        read_weights(tmp_path / "plain.safetensors").recipe  # noqa: B018 (reading the property is what raises)


def test_a_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    write(tmp_path / "a.safetensors")
    before = (tmp_path / "a.safetensors").read_bytes()
    import zoo.atomic

    def crash(*args):
        raise OSError("killed before the rename")

    monkeypatch.setattr(zoo.atomic.os, "replace", crash)
    with pytest.raises(OSError, match="before the rename"):
        save_weights(
            tmp_path / "a.safetensors", {"x": torch.zeros(1)}, vocab=Vocab(["a"]), recipe={}, metrics={}, versions={}
        )
    assert (tmp_path / "a.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.safetensors"]
