"""Helpers for tests that drive the ``zoo`` command, in a subprocess or in this process."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

from zoo.cli import main

# A driver for :func:`zoo`: the process kills itself (SIGKILL) right after its N-th optimizer step (``KILL_AT``),
# counted across every run it trains (a sweep's trials), then runs the CLI as a user would.
KILL_AFTER_STEPS = r"""
import os, signal, sys
from zoo_plugins import torch_engine

at, count, step = int(os.environ["KILL_AT"]), [0], torch_engine.TorchEngine.train_step

def killing(*args, **kwargs):
    out = step(*args, **kwargs)
    count[0] += 1
    if count[0] == at:
        os.kill(os.getpid(), signal.SIGKILL)
    return out

torch_engine.TorchEngine.train_step = killing
from zoo.cli import main
main(sys.argv[1:])
"""


def zoo(
    *args: str, env: dict | None = None, cwd: Path | None = None, driver: str | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m zoo ARGS`` (or ``python -c DRIVER ARGS``, a script that ends by calling the CLI)."""
    launch = ["-c", driver] if driver else ["-m", "zoo"]
    return subprocess.run(
        [sys.executable, *launch, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def in_process(*args: str) -> subprocess.CompletedProcess:
    """Run ``zoo ARGS`` in this process (much faster than :func:`zoo`); its exit code, stdout and stderr as a
    subprocess's."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(["zoo", *args], code, out.getvalue(), err.getvalue())


def error_lines(stderr: str) -> list[str]:
    """stderr without the ``warning:`` lines and the interrupt notice."""
    return [
        line
        for line in stderr.strip().splitlines()
        if line and not line.startswith(("warning: ", "SIGINT received", "SIGTERM received"))
    ]


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """The process exited with ``code`` and said why in exactly one line holding every needle, with no traceback."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
