"""The command line, called in this process: exit codes, one-line errors with no traceback, and a short run end to
end."""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import assert_one_line_error, in_process

ROOT = Path(__file__).resolve().parents[2]
JAY = str(ROOT / "recipes" / "jay_gru.yaml")


def test_misspelt_cell_exits_2_naming_the_path_and_the_fix():
    proc = in_process("run", JAY, "--set", "model.cell=gur")
    line = assert_one_line_error(proc, 2, "model.cell", "did you mean 'gru'")
    assert line.startswith("Error: ")


@pytest.mark.parametrize(
    "override, needles",
    [
        ("model.hidden=3", ("model.hidden", "unknown key", "hidden_size")),
        ("trainer.lr=fast", ("trainer.lr", "expected float", "'fast'")),
        ("model.layers=0", ("model.layers", "at least 1")),
        ("dataset.name=jaychou", ("dataset.name", "jaychou_lyrics")),
    ],
)
def test_bad_values_exit_2_with_one_line(override, needles):
    assert_one_line_error(in_process("run", JAY, "--set", override), 2, *needles)


def test_missing_recipe_and_malformed_override_exit_2(tmp_path):
    assert_one_line_error(in_process("run", str(tmp_path / "nope.yaml")), 2, "nope.yaml")
    assert_one_line_error(in_process("run", JAY, "--set", "trainer.lr"), 2, "--set expects KEY=VALUE")


def test_missing_data_file_exits_2(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\ndataset: {name: text, path: %s}\nmodel: {cell: gru}\n" % (tmp_path / "absent.txt"))
    assert_one_line_error(in_process("run", str(recipe), "--out", str(tmp_path / "out")), 2, "absent.txt")
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_validate_lists_every_problem_and_runs_nothing():
    proc = in_process("validate", JAY, "--set", "model.cell=gur", "--set", "trainer.lr=x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model.cell: unknown cell 'gur'" in proc.stderr and "trainer.lr: expected float" in proc.stderr
    ok = in_process("validate", JAY, "--show")
    assert ok.returncode == 0 and "hidden_size: 256" in ok.stdout


def test_plugins_lists_components_providers_and_options():
    proc = in_process("plugins", "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "cells:" in proc.stdout and "gru" in proc.stdout and "[rnn-zoo]" in proc.stdout
    assert "clip_norm: float or null (default None)" in proc.stdout
    assert in_process("plugins", "gr*").stdout.count("\n") == 2  # the heading and gru


def test_predict_with_unknown_model_is_one_line():
    assert_one_line_error(
        in_process("predict", "no_such_model_xyz", "--prefix", "a"), 2, "unknown model 'no_such_model_xyz'"
    )


def test_short_run_then_predict(data_dir, tmp_path, monkeypatch):
    out = tmp_path / "jay"
    monkeypatch.setenv("ZOO_DATA", str(data_dir))
    proc = in_process("run", JAY, "--set", "trainer.epochs=1", "--set", "model.hidden_size=32", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "epoch 1/1" in proc.stderr and "tokens/s" in proc.stderr  # plain progress lines off a terminal
    assert f"run saved to {out}" in proc.stdout
    pred = in_process("predict", str(out), "--prefix", "分开", "-n", "10", "--perplexity")
    assert pred.returncode == 0, pred.stderr
    first = pred.stdout.splitlines()[0]
    assert first.startswith("分开") and len(first) == 12
    assert "perplexity('分开')" in pred.stdout


def test_a_diverging_run_stops_with_exit_1_naming_epoch_and_batch(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog\n" * 40)
    recipe = tmp_path / "nan.yaml"
    recipe.write_text(
        f"name: nan\ndataset: {{name: text, path: {corpus}}}\n"
        "sampler: {name: sequential, batch_size: 4, num_steps: 10}\n"
        "model: {cell: rnn, impl: scratch, hidden_size: 8, nonlinearity: relu, init: normal, init_std: 5.0}\n"
        "backend: torch\n"
        "trainer: {name: bptt, optimizer: sgd, lr: 1.0e+30, epochs: 3}\n"
    )
    line = assert_one_line_error(
        in_process("run", str(recipe), "--out", str(tmp_path / "out"), "-q"),
        1,
        "loss became",
        "at epoch 1, batch",
        "trainer.lr",
    )
    assert not (tmp_path / "out" / "model.safetensors").exists(), line
