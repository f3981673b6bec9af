"""zoo.train.allocator: freed buffers are reused instead of faulted in afresh, unless the user chose glibc settings."""

import os
import subprocess
import sys

import pytest

# Allocate a dozen 4 MB buffers and free them, 30 times, as a training step does with its logits and gradients;
# print the page faults taken.
PROGRAM = """
import resource, sys
import numpy as np
from zoo.train.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "tuned" else False
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(30):
    buffers = [np.ones(500_000) for _ in range(12)]
    del buffers
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str, **env: str) -> tuple[str, int]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, mode], capture_output=True, text=True, check=True, env={**clean, **env}
    ).stdout.split()
    return out[0], int(out[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_freed_buffers_are_reused_instead_of_faulted_in_every_time():
    applied, tuned = faults("tuned")
    _, default = faults("default")
    assert applied == "True"
    assert (
        default > 30 * 10_000
    )  # glibc's default: the freed heap is trimmed, and every round faults its pages in again
    assert tuned < default / 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator settings")
def test_a_users_own_malloc_settings_are_left_alone():
    applied, _ = faults("tuned", MALLOC_ARENA_MAX="2")
    assert applied == "False"
