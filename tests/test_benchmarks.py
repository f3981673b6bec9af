"""The benchmark scripts run with a single repeat, and refuse zero repeats in one argparse line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _bench(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, script, *args], capture_output=True, text=True, cwd=BENCH, timeout=300,
                          env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


@pytest.mark.parametrize("args", [("bench_nn_gather.py", "--repeats", "1"), ("bench_generate.py", "--repeats", "1", "--chars", "3")])
def test_a_benchmark_runs_with_one_repeat(args):
    proc = _bench(*args)
    assert proc.returncode == 0, proc.stderr
    assert "×" in proc.stdout  # the ratio column was printed


@pytest.mark.parametrize("script, flag", [("bench.py", "--repeats"), ("bench_backends.py", "--repeats"), ("bench_generate.py", "--repeats"),
                                          ("bench_nn_gather.py", "--repeats"), ("bench_distributed.py", "--rounds")])
def test_a_benchmark_refuses_zero_repeats(script, flag):
    proc = _bench(script, flag, "0")
    assert proc.returncode == 2
    assert f"argument {flag}: must be at least 1, got 0" in proc.stderr
