"""Helpers for tests that drive the ``zoo`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def zoo(*args: str, env: dict | None = None, cwd: Path | None = None, driver: str | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m zoo ARGS`` (or ``python -c DRIVER ARGS``, a script that ends by calling the CLI)."""
    launch = ["-c", driver] if driver else ["-m", "zoo"]
    return subprocess.run([sys.executable, *launch, *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                          cwd=cwd, timeout=300)


def error_lines(stderr: str) -> list[str]:
    """stderr without the ``warning:`` lines and the interrupt notice."""
    return [line for line in stderr.strip().splitlines() if line and not line.startswith(("warning: ", "SIGINT received", "SIGTERM received"))]


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """The process exited with ``code`` and said why in exactly one line holding every needle, with no traceback."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
