"""What a run shows while it trains: on a terminal, a bar over the epoch's batches with the epoch's running loss and one
line per finished epoch kept above it (also after a resume mid-epoch and on a pty that reports no size); and the
plot's axes: ticks on whole epochs, perplexities as plain numbers."""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import pytest
import yaml
from zoo_plugins.torch_engine import TorchEngine

import zoo
from zoo.errors import Interrupted
from zoo.train.runner import _figure

BAR = re.compile(r"epoch (\d+)/(\d+)  (\d+)/(\d+) batches \|.{10}\| (?:loss (\S+)  ppl (\S+))?")
LINE = re.compile(r"epoch (\d+)/(\d+)  loss (\S+)  perplexity (\S+)")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, keeping what was written to it."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(
        "".join(random.Random(0).choices("abcdefgh", weights=[8, 4, 2, 1, 1, 1, 1, 1], k=800)), encoding="utf-8"
    )
    return path


def recipe(corpus: Path, **trainer) -> dict:
    """A small GRU on ``corpus``: 15 batches an epoch, 20% held out."""
    return {
        "name": "progress",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus), "valid_fraction": 0.2},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 10},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 16},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.02, "epochs": 3, **trainer},
        "predict": {"prefixes": ["a"], "length": 3, "every": 0},
    }


@pytest.fixture
def terminal(monkeypatch) -> Terminal:
    """A stand-in for stderr of 200 columns (wide enough that no bar is cut): use it with ``redirect_stderr``."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LINES", "40")
    return Terminal()


def frames(text: str) -> list[str]:
    """Every line the terminal showed, in order: each bar redrawn after a carriage return, and each finished line."""
    return [f for line in text.split("\n") for f in line.split("\r") if f.strip()]


def check_screen(
    shown: list[str], metrics: list[dict], epochs: int, batches: dict[int, int], first: dict[int, int] | None = None
) -> None:
    """Each epoch's bars count its own batches up to ``batches[epoch]`` (from ``first[epoch]``, 0 unless told), the last
    one showing the epoch's loss and perplexity as its line does, and then that line, once."""
    ends = [r for r in metrics if "loss" in r]
    assert [int(LINE.match(f)[1]) for f in shown if LINE.match(f)] == [r["epoch"] for r in ends]
    at = 0
    for rec in ends:
        e = rec["epoch"]
        end = next(i for i, f in enumerate(shown) if LINE.match(f) and int(LINE.match(f)[1]) == e)
        bars = [BAR.match(f) for f in shown[at:end] if BAR.match(f)]
        assert bars, shown[at:end]
        assert all((int(b[1]), int(b[2]), int(b[4])) == (e, epochs, batches[e]) for b in bars), shown[at:end]
        counts = [int(b[3]) for b in bars]
        assert counts[0] == (first or {}).get(e, 0) and counts == sorted(counts) and counts[-1] == batches[e], counts
        line = LINE.match(shown[end])
        assert (line[3], line[4]) == (f"{rec['loss']:.4f}", f"{rec['perplexity']:.3f}")
        assert (bars[-1][5], bars[-1][6]) == (line[3], line[4]), (shown[end - 1], shown[end])
        at = end + 1
    assert not [f for f in shown[at:] if BAR.match(f)]  # no bar is left after the last epoch


def test_on_a_terminal_each_epoch_leaves_its_line_above_a_bar_of_its_own_batches(tmp_path, corpus, terminal):
    with redirect_stderr(terminal):
        result = zoo.run(recipe(corpus, eval_every=10), out=tmp_path / "run", progress=True)
    check_screen(frames(terminal.getvalue()), result.metrics, 3, {1: 15, 2: 15, 3: 15})
    # the validation loss of the last pass is in the bar beside the training loss
    assert result.metrics[0]["batch"] == 10
    assert re.search(rf"epoch 1/3  15/15 batches .*  valid {result.metrics[0]['valid_loss']:.4f}", terminal.getvalue())


def test_the_bar_counts_to_max_steps_in_the_epoch_it_stops(tmp_path, corpus, terminal):
    with redirect_stderr(terminal):
        result = zoo.run(recipe(corpus, max_steps=20), out=tmp_path / "run", progress=True)
    check_screen(frames(terminal.getvalue()), result.metrics, 3, {1: 15, 2: 5})


def test_after_a_resume_mid_epoch_the_bar_counts_on_from_the_checkpoint(tmp_path, corpus, terminal, monkeypatch):
    reference = zoo.run(recipe(corpus), out=tmp_path / "reference")
    step, calls = TorchEngine.train_step, []

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 22:  # epoch 2, batch 7: Ctrl-C, then the checkpoint at the batch's end
            os.kill(os.getpid(), signal.SIGINT)
        return step(self, *args)

    monkeypatch.setattr(TorchEngine, "train_step", interrupted)
    with pytest.raises(Interrupted, match="at epoch 2, batch 7"), redirect_stderr(Terminal()):
        zoo.run(recipe(corpus), out=tmp_path / "run", progress=True)
    monkeypatch.setattr(TorchEngine, "train_step", step)
    with redirect_stderr(terminal):
        result = zoo.resume(tmp_path / "run", progress=True)
    assert [r["loss"] for r in result.metrics] == [r["loss"] for r in reference.metrics]  # the bar changed nothing
    # epoch 2's bar starts at its 7th batch and ends on the loss of the whole epoch, the batches before the stop
    # included
    check_screen(frames(terminal.getvalue()), result.metrics[1:], 3, {2: 15, 3: 15}, first={2: 7})


def test_the_bar_shows_on_a_pty_that_reports_no_size(tmp_path, corpus):
    """``zoo run`` under a pty of zero rows and columns (``script``, CI runners): tqdm would hide a bar sized from
    it."""
    pty = pytest.importorskip("pty", reason="pseudo-terminals are a POSIX facility")
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(recipe(corpus, epochs=2)), encoding="utf-8")
    parent, child = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoo", "run", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "run")],
        stdin=child,
        stdout=child,
        stderr=child,
        env={k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")},
    )
    os.close(child)
    out = b""
    while chunk := _read(parent):
        out += chunk
    assert proc.wait(timeout=120) == 0, out.decode(errors="replace")
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    check_screen(frames(out.decode()), metrics, 2, {1: 15, 2: 15})


def _read(fd: int) -> bytes:
    """The next output of a pty; nothing once its last writer has closed it."""
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO on Linux once the child has exited
        return b""


@pytest.mark.parametrize("epochs, passes", [(1, 0), (1, 3), (3, 2), (13, 0), (160, 0)])
def test_the_plot_ticks_whole_epochs(epochs, passes):
    per = 15
    recs = []
    for e in range(1, epochs + 1):
        recs += [
            {"epoch": e, "batch": b, "steps": (e - 1) * per + b, "valid_loss": 2.0, "valid_perplexity": math.e**2}
            for b in range(per // (passes + 1), per, per // (passes + 1))
        ][:passes]
        recs.append(
            {
                "epoch": e,
                "steps": e * per,
                "loss": 3 / e,
                "perplexity": math.exp(3 / e),
                "valid_loss": 2.0,
                "valid_perplexity": math.e**2,
            }
        )
    fig = _figure(recs, "t")
    fig.canvas.draw()
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    ticks = [(t.get_position()[0], t.get_text()) for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi]
    assert len(ticks) >= 2, ticks
    assert all(x == int(x) and label == str(int(x)) for x, label in ticks), ticks
    assert (
        lo <= (per // (passes + 1) / per if passes else 1) and hi >= epochs
    )  # every point in view, the mid-epoch passes too
    if epochs <= 10:
        assert {int(x) for x, _ in ticks} >= set(range(1, epochs + 1))
    bottom, top = ax.get_ylim()
    labels = [
        t.get_text()
        for t in ax.get_yticklabels() + ax.get_yticklabels(minor=True)
        if bottom <= t.get_position()[1] <= top and t.get_text()
    ]
    assert labels and all(float(label) > 0 for label in labels), labels  # plain numbers on the log scale, not 5×10⁰
