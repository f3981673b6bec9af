"""Validation while training: held-out scores in the metrics, ``eval_every``, ``keep``, ``early_stop``, the learning
rate a schedule sets, and the options that need a validation split refused without one.

The corpus is 800 characters drawn at random (seeded) with skewed frequencies: a small GRU first learns the
frequencies, so the validation loss falls, then memorises the training split, so it rises again, which gives
``keep: best`` and ``early_stop`` something to do within a few epochs.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from clitools import assert_one_line_error, error_lines, in_process
from safetensors import safe_open
from safetensors.torch import load_file
from test_schedules import nanogpt_lr

import zoo
from zoo.errors import RecipeError, UsageError
from zoo.nn.evaluate import score

LR = 0.02
TIMING = ("tokens_per_s", "seconds", "valid_seconds")  # differ from one run to the next


@pytest.fixture
def corpus(tmp_path) -> Path:
    """800 seeded random characters from 'abcdefgh', 'a' the most frequent."""
    rng = random.Random(0)
    path = tmp_path / "corpus.txt"
    path.write_text("".join(rng.choices("abcdefgh", weights=[8, 4, 2, 1, 1, 1, 1, 1], k=800)), encoding="utf-8")
    return path


def recipe(corpus: Path, valid_fraction: float = 0.2, backend: str = "torch", **trainer) -> dict:
    """A small GRU trained with Adam on ``corpus`` (15 batches an epoch), 20% of it held out unless told otherwise."""
    return {
        "name": "valid",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus), "valid_fraction": valid_fraction},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
        "model": {"cell": "gru", "impl": "nn" if backend == "torch" else "scratch", "hidden_size": 32},
        "backend": backend,
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": LR, "epochs": 3, **trainer},
        "predict": {"prefixes": ["a"], "length": 3, "every": 0},
    }


def metadata_metrics(run_dir: Path) -> dict:
    """The ``zoo.metrics`` of the run's weights, read with safetensors alone."""
    with safe_open(str(run_dir / "model.safetensors"), framework="pt") as f:
        return json.loads(f.metadata()["zoo.metrics"])


def jsonl(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def valid_ids(result: zoo.RunResult) -> list[int]:
    """The validation split of the run's corpus, loaded again from its resolved recipe."""
    d = result.recipe.dataset
    return list(d.build().load(None).valid)


def saved_score(result: zoo.RunResult) -> float:
    """The saved model's validation loss, scored by hand on the backend it was trained on."""
    model = zoo.load(result.run_dir)
    return score(model.runner, valid_ids(result), len(model.vocab)).loss


def untimed(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in records]


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


# -- held-out scores in the metrics ------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_every_epoch_scores_the_validation_split(tmp_path, corpus, backend):
    result = zoo.run(recipe(corpus, backend=backend), out=tmp_path / "run")
    recs = result.metrics
    assert [r["epoch"] for r in recs] == [1, 2, 3]
    for r in recs:
        assert "batch" not in r and r["steps"] == 15 * r["epoch"]
        assert r["valid_perplexity"] == pytest.approx(math.exp(r["valid_loss"]), rel=1e-12)
        assert 0.5 < r["valid_loss"] < math.log(8) + 0.5  # nats per character over 8 symbols
    assert jsonl(result.run_dir) == recs
    # the last epoch's score is the saved model's, scored by hand with the held-out protocol
    assert saved_score(result) == pytest.approx(recs[-1]["valid_loss"], abs=1e-6)
    meta = metadata_metrics(result.run_dir)
    assert meta == {k: recs[-1][k] for k in ("epoch", "loss", "perplexity", "valid_loss", "valid_perplexity")}


def test_a_short_split_is_scored_in_one_row_from_a_zero_state(tmp_path, corpus):
    result = zoo.run(recipe(corpus, epochs=1), out=tmp_path / "run")
    ids = torch.tensor(valid_ids(result))
    assert len(ids) == 160  # fewer than zoo.nn.evaluate.MIN_ROW: one row, so the whole split with the state carried
    model = zoo.load(result.run_dir)
    with torch.no_grad():
        logits, _ = model.module(ids[None, :-1], None)
    plain = F.cross_entropy(logits[0].double(), ids[1:]).item()
    assert result.metrics[-1]["valid_loss"] == pytest.approx(plain, abs=1e-6)


def test_without_a_validation_split_the_records_are_as_before(tmp_path, corpus):
    result = zoo.run(recipe(corpus, valid_fraction=0.0, epochs=2), out=tmp_path / "run")
    assert [set(r) for r in result.metrics] == [
        {"epoch", "loss", "perplexity", "tokens_per_s", "seconds", "steps", "lr"}
    ] * 2
    assert result.metrics[-1]["steps"] == 2 * 19  # the whole corpus is trained on: 799 pairs in rows of 4 × 10
    assert set(metadata_metrics(result.run_dir)) == {"epoch", "loss", "perplexity"}
    assert (result.run_dir / "perplexity.png").read_bytes().startswith(b"\x89PNG")


def test_progress_shows_the_validation_loss(tmp_path, corpus, capsys):
    result = zoo.run(recipe(corpus, epochs=2, eval_every=10), out=tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    for r in result.metrics:
        where = (
            f"epoch {r['epoch']}/2, batch {r['batch']}  "
            if "batch" in r
            else f"epoch {r['epoch']}/2  loss {r['loss']:.4f}"
        )
        assert where in err, err
        line = next(line for line in err.splitlines() if line.startswith(where))
        assert f"valid loss {r['valid_loss']:.4f}  perplexity {r['valid_perplexity']:.3f}" in line, line


# -- eval_every ------------------------------------------------------------------------


def test_eval_every_adds_records_with_batch_and_no_loss(tmp_path, corpus):
    result = zoo.run(recipe(corpus, epochs=2, eval_every=4), out=tmp_path / "run")
    recs = result.metrics
    # every 4th optimizer step over the run, except an epoch's last batch, which the epoch's own record scores
    expected = [(e, b) for e in (1, 2) for b in range(1, 16) if ((e - 1) * 15 + b) % 4 == 0 and b < 15]
    assert expected == [(1, 4), (1, 8), (1, 12), (2, 1), (2, 5), (2, 9), (2, 13)]
    passes = [r for r in recs if "batch" in r]
    assert [(r["epoch"], r["batch"]) for r in passes] == expected
    for r in passes:
        assert set(r) == {"epoch", "batch", "steps", "valid_loss", "valid_perplexity", "valid_seconds", "lr"}
        assert r["steps"] == (r["epoch"] - 1) * 15 + r["batch"] and r["lr"] == LR
        assert r["valid_perplexity"] == pytest.approx(math.exp(r["valid_loss"]), rel=1e-12)
    # in order: an epoch's passes, then its record
    assert [(r["epoch"], r.get("batch")) for r in recs] == [
        (1, 4),
        (1, 8),
        (1, 12),
        (1, None),
        (2, 1),
        (2, 5),
        (2, 9),
        (2, 13),
        (2, None),
    ]
    assert jsonl(result.run_dir) == recs
    assert (result.run_dir / "perplexity.png").read_bytes().startswith(b"\x89PNG")

    # scoring does not change training: the same epochs, bit for bit, as a run that never scores mid-epoch
    plain = zoo.run(recipe(corpus, epochs=2), out=tmp_path / "plain")
    assert untimed([r for r in recs if "loss" in r]) == untimed(plain.metrics)
    a, b = load_file(str(result.run_dir / "model.safetensors")), load_file(str(plain.run_dir / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    # a pass scores the weights of its step: a run stopped there ends with the same score
    stopped = zoo.run(recipe(corpus, epochs=2, max_steps=8), out=tmp_path / "stopped")
    assert stopped.metrics[-1]["valid_loss"] == pytest.approx(passes[1]["valid_loss"], abs=1e-12)


def test_the_plot_draws_train_and_valid_with_the_best_marked(tmp_path, corpus, monkeypatch):
    from matplotlib import pyplot

    figures = []
    monkeypatch.setattr(pyplot, "close", figures.append)  # keep the figure the run draws, to read its lines
    recs = zoo.run(recipe(corpus, epochs=3, eval_every=6), out=tmp_path / "run").metrics
    assert (tmp_path / "run" / "perplexity.png").read_bytes().startswith(b"\x89PNG")
    (ax,) = figures[0].axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    epochs, scored = [r for r in recs if "loss" in r], [r for r in recs if "valid_loss" in r]
    best = min(scored, key=lambda r: r["valid_loss"])
    at = f"epoch {best['epoch']}" + (f", batch {best['batch']}" if "batch" in best else "")
    assert set(lines) == {"train", "valid", f"best: {best['valid_perplexity']:.3f} at {at}"}
    assert list(lines["train"].get_xdata()) == [1, 2, 3]
    assert list(lines["train"].get_ydata()) == [r["perplexity"] for r in epochs]
    # a pass within an epoch sits at its fraction of the epoch's 15 steps
    x = [r["epoch"] - 1 + r["batch"] / 15 if "batch" in r else r["epoch"] for r in scored]
    assert list(lines["valid"].get_xdata()) == pytest.approx(x, rel=1e-12)
    assert list(lines["valid"].get_ydata()) == [r["valid_perplexity"] for r in scored]
    mark = lines[f"best: {best['valid_perplexity']:.3f} at {at}"]
    assert (list(mark.get_xdata()), list(mark.get_ydata())) == ([x[scored.index(best)]], [best["valid_perplexity"]])


def test_a_pass_due_at_an_epochs_last_batch_is_the_epochs_own(tmp_path, corpus):
    recs = zoo.run(
        recipe(corpus, epochs=2, eval_every=5), out=tmp_path / "run"
    ).metrics  # steps 15 and 30 end the epochs
    assert [(r["epoch"], r.get("batch")) for r in recs] == [(1, 5), (1, 10), (1, None), (2, 5), (2, 10), (2, None)]
    assert all("valid_loss" in r for r in recs)


def test_a_pass_at_the_last_step_is_not_repeated_by_the_epoch(tmp_path, corpus):
    recs = zoo.run(recipe(corpus, epochs=2, eval_every=4, max_steps=12), out=tmp_path / "run").metrics
    assert [(r["epoch"], r.get("batch")) for r in recs] == [(1, 4), (1, 8), (1, 12), (1, None)]
    assert recs[-1]["steps"] == 12 and recs[-1]["valid_loss"] == recs[-2]["valid_loss"]


# -- keep: best | last -------------------------------------------------------------------


@pytest.mark.parametrize("eval_every", [None, 5])
def test_keep_best_saves_the_weights_of_the_lowest_validation_loss(tmp_path, corpus, eval_every):
    best_run = zoo.run(recipe(corpus, epochs=6, keep="best", eval_every=eval_every), out=tmp_path / "best")
    last_run = zoo.run(recipe(corpus, epochs=6, keep="last", eval_every=eval_every), out=tmp_path / "last")
    recs = best_run.metrics
    assert untimed(recs) == untimed(last_run.metrics)  # keeping changes what is saved, not the training
    scored = [r for r in recs if "valid_loss" in r]
    best = min(scored, key=lambda r: r["valid_loss"])
    assert best is not scored[-1] and best["valid_loss"] < scored[-1]["valid_loss"] - 0.01  # else keep could not matter
    assert saved_score(best_run) == pytest.approx(best["valid_loss"], abs=1e-6)
    assert saved_score(last_run) == pytest.approx(recs[-1]["valid_loss"], abs=1e-6)
    meta = metadata_metrics(best_run.run_dir)
    assert (meta["epoch"], meta.get("batch"), meta["valid_loss"]) == (
        best["epoch"],
        best.get("batch"),
        best["valid_loss"],
    )
    assert meta["valid_perplexity"] == best["valid_perplexity"]
    if "loss" in best:
        assert meta["loss"] == best["loss"]
    last = metadata_metrics(last_run.run_dir)
    assert (last["epoch"], last["valid_loss"], last["loss"]) == (6, recs[-1]["valid_loss"], recs[-1]["loss"])


def test_keep_best_with_a_mid_epoch_best_names_its_batch(tmp_path, corpus):
    result = zoo.run(recipe(corpus, epochs=3, keep="best", eval_every=3), out=tmp_path / "run")
    best = min((r for r in result.metrics if "valid_loss" in r), key=lambda r: r["valid_loss"])
    assert "batch" in best, result.metrics  # this corpus is best mid-epoch (at epoch 3, batch 6)
    meta = metadata_metrics(result.run_dir)
    assert meta == {k: best[k] for k in ("epoch", "batch", "valid_loss", "valid_perplexity")}
    assert saved_score(result) == pytest.approx(best["valid_loss"], abs=1e-6)


# -- early_stop ------------------------------------------------------------------------------


def stops_at(losses: list[float], patience: int, min_delta: float) -> int | None:
    """The index of the evaluation after which ``early_stop`` stops, or ``None``."""
    mark, stale = None, 0
    for i, loss in enumerate(losses):
        if mark is None or loss < mark - min_delta:
            mark, stale = loss, 0
        else:
            stale += 1
            if stale >= patience:
                return i
    return None


def test_early_stop_stops_once_the_loss_stalls(tmp_path, corpus, capsys):
    result = zoo.run(recipe(corpus, epochs=12, early_stop={"patience": 2}), out=tmp_path / "run", progress=True)
    losses = [r["valid_loss"] for r in result.metrics]
    assert len(losses) < 12 and stops_at(losses, 2, 0.0) == len(losses) - 1
    best = min(result.metrics, key=lambda r: r["valid_loss"])
    lines = [line for line in capsys.readouterr().err.splitlines() if "early stop" in line]
    assert lines == [
        f"early stop after 2 evaluations without the validation loss improving by 0 "
        f"(best {best['valid_loss']:.4f} at epoch {best['epoch']})"
    ]
    assert metadata_metrics(result.run_dir)["epoch"] == len(losses)  # keep: last
    assert (result.run_dir / "model.safetensors").is_file()


def test_early_stop_mid_epoch_counts_every_evaluation(tmp_path, corpus):
    # no improvement can reach min_delta: the first pass sets the mark, the next four (epoch 1's end among them) stall
    recs = zoo.run(
        recipe(corpus, epochs=4, eval_every=4, early_stop={"patience": 4, "min_delta": 100.0}), out=tmp_path / "run"
    ).metrics
    assert [(r["epoch"], r.get("batch")) for r in recs] == [(1, 4), (1, 8), (1, 12), (1, None), (2, 1), (2, None)]
    assert recs[-1]["valid_loss"] == recs[-2]["valid_loss"]  # the epoch ends where it stopped, with that pass's score


def write_recipe(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "valid.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_early_stop_through_the_cli(tmp_path, corpus):
    path = write_recipe(tmp_path, recipe(corpus, epochs=10))
    out = tmp_path / "run"
    proc = in_process(
        "run",
        str(path),
        "--out",
        str(out),
        "--set",
        "trainer.early_stop.patience=2",
        "--set",
        "trainer.early_stop.min_delta=100",
    )
    assert proc.returncode == 0, proc.stderr
    recs = jsonl(out)
    assert [r["epoch"] for r in recs] == [1, 2, 3]  # one evaluation sets the mark, two stall
    best = min(recs, key=lambda r: r["valid_loss"])
    stops = [line for line in error_lines(proc.stderr) if "early stop" in line]
    assert stops == [
        f"early stop after 2 evaluations without the validation loss improving by 100 "
        f"(best {best['valid_loss']:.4f} at epoch {best['epoch']})"
    ]
    for r in recs:
        assert f"valid loss {r['valid_loss']:.4f}  perplexity {r['valid_perplexity']:.3f}" in proc.stderr
    assert "after epoch 3" in proc.stdout
    assert yaml.safe_load((out / "recipe.yaml").read_text())["trainer"]["early_stop"] == {
        "patience": 2,
        "min_delta": 100.0,
    }


def test_early_stop_patience_zero_is_refused_naming_the_key(tmp_path, corpus):
    path = write_recipe(tmp_path, recipe(corpus))
    proc = in_process("run", str(path), "--out", str(tmp_path / "run"), "--set", "trainer.early_stop.patience=0")
    assert_one_line_error(proc, 2, "trainer.early_stop.patience", "at least 1", "got 0")
    with pytest.raises(RecipeError) as exc:
        zoo.run(recipe(corpus, early_stop={"patience": 0, "min_delta": -1}), out=tmp_path / "api")
    assert exc.value.problems == [
        "trainer.early_stop.patience: must be at least 1, got 0",
        "trainer.early_stop.min_delta: must be zero or more, got -1.0",
    ]
    with pytest.raises(RecipeError) as exc:
        zoo.run(recipe(corpus, early_stop={"patiense": 2}), out=tmp_path / "api")
    assert one_line(exc).startswith("trainer.early_stop.patiense: unknown key 'patiense'; did you mean 'patience'?")
    with pytest.raises(RecipeError) as exc:
        zoo.run(recipe(corpus, early_stop=3), out=tmp_path / "api")
    assert one_line(exc) == "trainer.early_stop: expected {patience: int, min_delta: float} or null, got 3"


# -- the learning rate a schedule sets ---------------------------------------------------------


def test_step_schedule_lr_in_the_records(tmp_path, corpus):
    recs = zoo.run(
        {**recipe(corpus, epochs=5, eval_every=7), "schedule": {"name": "step", "factor": 0.5, "every": 2, "start": 1}},
        out=tmp_path / "run",
    ).metrics
    for r in recs:  # epoch 1 keeps trainer.lr, then one halving every two epochs
        assert r["lr"] == LR * 0.5 ** math.ceil(max(0, r["epoch"] - 1) / 2), r
    assert [r["lr"] for r in recs if "loss" in r] == [LR, LR / 2, LR / 2, LR / 4, LR / 4]


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_cosine_schedule_lr_in_the_records(tmp_path, corpus, backend):
    recs = zoo.run(
        {**recipe(corpus, backend=backend, epochs=2, eval_every=2), "schedule": {"name": "cosine", "warmup": 5}},
        out=tmp_path / "run",
    ).metrics
    assert len(recs) == 2 + 7 + 7
    for r in recs:  # the rate of the record's last optimizer step, over a run of 30
        assert r["lr"] == pytest.approx(nanogpt_lr(r["steps"] - 1, LR, 5, 30, 0.1 * LR), rel=1e-12), r
    assert recs[0]["lr"] == pytest.approx(LR * 2 / 6, rel=1e-12)  # step 1 of the warm-up


def test_plateau_schedule_drops_after_a_stalled_evaluation(tmp_path, corpus):
    # with min_delta 100 no evaluation after the first improves: each one decays the rate for the epoch after it
    recs = zoo.run(
        {**recipe(corpus, epochs=4), "schedule": {"name": "plateau", "factor": 0.5, "min_delta": 100.0}},
        out=tmp_path / "run",
    ).metrics
    assert [r["lr"] for r in recs] == [LR, LR, LR / 2, LR / 4]


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_a_schedules_rate_reaches_the_engine(tmp_path, corpus, backend):
    halved = zoo.run(
        {**recipe(corpus, backend=backend, epochs=1), "schedule": {"name": "step", "factor": 0.5, "start": 0}},
        out=tmp_path / "halved",
    )
    plain = zoo.run(recipe(corpus, backend=backend, epochs=1), {"trainer.lr": LR / 2}, out=tmp_path / "plain")
    assert untimed(halved.metrics) == untimed(plain.metrics)
    a, b = load_file(str(halved.run_dir / "model.safetensors")), load_file(str(plain.run_dir / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- options that need a validation split -------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"trainer.keep": "best"}, "trainer.keep: best"),
        ({"trainer.early_stop": {"patience": 1}}, "trainer.early_stop"),
        ({"trainer.eval_every": 5}, "trainer.eval_every"),
        ({"schedule": "plateau"}, "schedule: plateau"),
        ({"trainer.keep": "best", "trainer.eval_every": 5}, "trainer.keep: best, trainer.eval_every"),
    ],
)
def test_options_needing_a_validation_split_are_refused_without_one(tmp_path, corpus, override, named):
    with pytest.raises(UsageError) as exc:
        zoo.run(recipe(corpus, valid_fraction=0.0), override, out=tmp_path / "run")
    assert one_line(exc) == (
        f"{named} needs a validation split, and dataset 'text' has none; "
        "set dataset.valid_fraction (e.g. 0.1), or valid_path for a text dataset"
    )
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_the_refusal_is_one_line_and_exit_code_2_at_the_cli(tmp_path, corpus):
    path = write_recipe(tmp_path, recipe(corpus, valid_fraction=0.0))
    proc = in_process("run", str(path), "--out", str(tmp_path / "run"), "--set", "trainer.keep=best")
    assert_one_line_error(proc, 2, "trainer.keep: best needs a validation split", "dataset.valid_fraction")


def test_stop_after_ends_the_run_early_without_shortening_the_schedule(tmp_path, corpus):
    # zoo verify checks early epochs this way: a cosine schedule over 3 epochs must give the same first epoch
    cosine = {"schedule": {"name": "cosine", "warmup": 3}}
    full = zoo.run({**recipe(corpus, epochs=3), **cosine}, out=tmp_path / "full")
    early = zoo.run({**recipe(corpus, epochs=3, stop_after=1), **cosine}, out=tmp_path / "early")
    assert untimed(early.metrics) == [r for r in untimed(full.metrics) if r["epoch"] == 1]
    shortened = zoo.run({**recipe(corpus, epochs=1), **cosine}, out=tmp_path / "shortened")
    assert untimed(shortened.metrics) != untimed(early.metrics)  # what overriding trainer.epochs would have checked
