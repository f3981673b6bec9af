"""Keep freed memory in the process: glibc's allocator settings for a training loop.

A training step allocates and frees the same large buffers (logits, gradients, one-hot
input) every batch. By default glibc serves blocks above a few hundred kilobytes with fresh
``mmap`` pages and hands them back on ``free``, so every batch pays again to fault in and zero
them: 50,000–70,000 page faults per epoch of the Jay LSTM recipe. Raising the mmap and trim
thresholds lets freed blocks be reused instead; on the 2-core CPU machine this made an epoch
of ``torch.nn.LSTM`` about 25% faster and the NumPy backend's 20–40% (see the README's Speed
section). The process keeps its peak heap instead of returning it between batches.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["keep_freed_memory"]

_M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap, and the heap is never trimmed below it


def keep_freed_memory() -> bool:
    """Tune glibc's ``malloc`` so freed buffers are reused; ``True`` when the settings were applied.

    Does nothing (``False``) off Linux/glibc, or when the user already chose settings through
    ``MALLOC_*`` or ``GLIBC_TUNABLES`` environment variables.
    """
    if (
        not sys.platform.startswith("linux")
        or "GLIBC_TUNABLES" in os.environ
        or any(k.startswith("MALLOC_") for k in os.environ)
    ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # another C library (musl) has no mallopt
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _THRESHOLD))
