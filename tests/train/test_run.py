"""End to end on the Jay Chou corpus: a run directory, its weights, and zoo.load."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import zoo

ROOT = Path(__file__).resolve().parents[2]
JAY = ROOT / "recipes" / "jay_gru.yaml"
SHORT = {"trainer.epochs": 2, "predict.every": 1, "predict.length": 5}


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """One two-epoch run of the Jay GRU recipe at its full size, shared by the tests below."""
    import os

    data = os.environ.get("ZOO_DATA")
    if not data or not (Path(data) / "jaychou_lyrics.txt.zip").is_file():
        pytest.skip("corpus files not found: set ZOO_DATA to a folder holding jaychou_lyrics.txt.zip")
    return zoo.run(JAY, SHORT, out=tmp_path_factory.mktemp("run") / "jay_gru")


def test_run_directory_holds_every_artifact(short_run):
    d = short_run.run_dir
    for name in ("recipe.yaml", "model.safetensors", "metrics.jsonl", "samples.txt", "perplexity.png"):
        assert (d / name).is_file() and (d / name).stat().st_size > 0, name
    lines = [json.loads(line) for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2]
    assert set(lines[0]) >= {"epoch", "loss", "perplexity", "tokens_per_s", "seconds"}
    assert math.isclose(lines[-1]["perplexity"], math.exp(lines[-1]["loss"]))
    samples = (d / "samples.txt").read_text(encoding="utf-8")
    assert "epoch 1" in samples and "分开" in samples and "不分开" in samples
    assert (d / "perplexity.png").read_bytes().startswith(b"\x89PNG")
    assert not list(d.glob(".*.tmp")), "temporary files left behind"


def test_resolved_recipe_reruns_to_the_same_weights(short_run, tmp_path):
    again = zoo.run(short_run.run_dir / "recipe.yaml", out=tmp_path / "again")
    a = load_file(str(short_run.run_dir / "model.safetensors"))
    b = load_file(str(again.run_dir / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (short_run.run_dir / "model.safetensors").read_bytes() == (again.run_dir / "model.safetensors").read_bytes()


def test_weights_file_layout_and_metadata(short_run):
    path = short_run.run_dir / "model.safetensors"
    with safe_open(str(path), framework="pt") as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (safe_open is not iterable)
        meta = f.metadata()
    assert shapes == {
        "rnn.weight_ih_l0": (768, 1027),
        "rnn.weight_hh_l0": (768, 256),
        "rnn.bias_ih_l0": (768,),
        "rnn.bias_hh_l0": (768,),
        "dense.weight": (1027, 256),
        "dense.bias": (1027,),
    }
    assert meta["format"] == "pt"
    assert len(json.loads(meta["zoo.vocab"])) == 1027
    assert json.loads(meta["zoo.recipe"])["model"]["cell"] == "gru"
    assert json.loads(meta["zoo.metrics"])["epoch"] == 2
    assert "zoo.zoo_version" in meta and "zoo.torch_version" in meta


def test_plain_torch_without_zoo_gives_the_same_logits(short_run):
    path = short_run.run_dir / "model.safetensors"
    tensors = load_file(str(path))
    with safe_open(str(path), framework="pt") as f:
        tokens = json.loads(f.metadata()["zoo.vocab"])
    index = {t: i for i, t in enumerate(tokens)}
    gru = torch.nn.GRU(len(tokens), 256, batch_first=True)
    gru.load_state_dict({k[len("rnn.") :]: v for k, v in tensors.items() if k.startswith("rnn.")})
    dense = torch.nn.Linear(256, len(tokens))
    dense.load_state_dict({"weight": tensors["dense.weight"], "bias": tensors["dense.bias"]})
    text = "分开 我想要你"
    ids = torch.tensor([[index[c] for c in text]])
    with torch.no_grad():
        out, _ = gru(torch.nn.functional.one_hot(ids, len(tokens)).float())
        plain = dense(out)
        model = zoo.load(short_run.run_dir)
        ours, _ = model.module(ids)
    torch.testing.assert_close(ours, plain, atol=1e-5, rtol=0)


def test_load_generates_and_scores(short_run):
    model = zoo.load(short_run.run_dir)
    text = model.generate("分开", 10)
    assert len(text) == 12 and text.startswith("分开")
    assert model.generate("分开", 10) == text, "greedy generation is deterministic"
    sampled = model.generate("分开", 10, strategy="sample", temperature=0.8, top_k=5, seed=3)
    assert sampled == model.generate("分开", 10, strategy="sample", temperature=0.8, top_k=5, seed=3)
    ppl = model.perplexity("我想要你")
    assert isinstance(ppl, float) and 1.0 <= ppl < len(model.vocab) * 10
    assert model.vocab.decode(model.vocab.encode("分开")) == "分开"
    assert isinstance(model.module, torch.nn.Module)


def test_perplexity_is_exp_of_mean_cross_entropy_from_a_zero_state(short_run):
    model = zoo.load(short_run.run_dir)
    text = "不分开 我想"
    ids = torch.tensor([model.vocab.encode(text)])
    with torch.no_grad():
        logits, _ = model.module(ids[:, :-1])
        expected = math.exp(float(torch.nn.functional.cross_entropy(logits[0].double(), ids[0, 1:])))
    assert math.isclose(model.perplexity(text), expected, rel_tol=1e-9)


def test_scratch_impl_loads_nn_weights_with_the_same_logits(short_run, tmp_path):
    from zoo.hub.weights import read_weights
    from zoo.nn.build import build_model
    from zoo.recipe import apply_overrides, resolve
    from zoo.registry import get_registry

    wf = read_weights(short_run.run_dir / "model.safetensors")
    r = resolve(apply_overrides(wf.recipe, {"model.impl": "scratch"}), get_registry())
    scratch = build_model(r, len(wf.vocab))
    scratch.load_state_dict(wf.tensors)
    nn_model = zoo.load(short_run.run_dir).module
    ids = torch.tensor([wf.vocab.encode("分开 我想要你")])
    with torch.no_grad():
        torch.testing.assert_close(scratch(ids)[0], nn_model(ids)[0], atol=1e-5, rtol=0)


def test_catalog_name_loads_the_local_run(short_run, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(short_run.run_dir, tmp_path / "runs" / "jay_gru")
    monkeypatch.chdir(tmp_path)
    model = zoo.load("jay_gru")
    assert model.recipe.name == "jay_gru" and model.generate("分开", 3).startswith("分开")
