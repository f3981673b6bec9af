"""The benchmark scripts run with a single repeat, and refuse zero repeats in one argparse line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a benchmark as a user would, on one thread, with the corpora of ``ZOO_DATA`` when it is set."""
    return subprocess.run(
        [sys.executable, script, *args],
        capture_output=True,
        text=True,
        cwd=BENCH,
        timeout=300,
        env={
            "OMP_NUM_THREADS": "1",
            "PATH": "/usr/bin:/bin",
            **({"ZOO_DATA": str(Path(os.environ["ZOO_DATA"]).resolve())} if os.environ.get("ZOO_DATA") else {}),
        },
    )


@pytest.mark.parametrize(
    "args", [("bench_nn_gather.py", "--repeats", "1"), ("bench_generate.py", "--repeats", "1", "--chars", "3")]
)
def test_a_benchmark_runs_with_one_repeat(args):
    proc = _bench(*args)
    assert proc.returncode == 0, proc.stderr
    assert "×" in proc.stdout  # the ratio column was printed


@pytest.mark.parametrize(
    "script, flag",
    [
        ("bench.py", "--repeats"),
        ("bench_backends.py", "--repeats"),
        ("bench_generate.py", "--repeats"),
        ("bench_nn_gather.py", "--repeats"),
        ("bench_distributed.py", "--rounds"),
    ],
)
def test_a_benchmark_refuses_zero_repeats(script, flag):
    proc = _bench(script, flag, "0")
    assert proc.returncode == 2
    assert f"argument {flag}: must be at least 1, got 0" in proc.stderr


def test_the_shakespeare_benchmark_prints_validation_loss_against_time():
    if not os.environ.get("ZOO_DATA"):
        pytest.skip("needs ZOO_DATA with tinyshakespeare.txt")
    proc = _bench(
        "bench_shakespeare.py",
        "--recipe",
        "shakespeare_lstm",
        "--set",
        "trainer.stop_after=1",
        "--set",
        "trainer.max_steps=3",
    )
    assert proc.returncode == 0, proc.stderr
    row = next(
        line.split() for line in proc.stdout.splitlines() if line.startswith("shakespeare_lstm ") and "epoch 1" in line
    )
    assert 1.5 < float(row[4]) < 4.2  # 3 steps in: well below a uniform guess over 65 characters (ln 65 = 4.17)
    assert "valid loss" in proc.stdout.split("summary")[1]
