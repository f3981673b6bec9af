"""Every random generator's state, captured and restored for exact resume (JSON plus tensors)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng", "restore_rng"]


def capture_rng(generators: dict[str, np.random.Generator], all_devices: bool = True) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The states of Python's, NumPy's, torch's (CPU and CUDA) and the named NumPy generators.

    :param all_devices: every GPU's generator (else none: a process of a distributed run saves its own
        device's through :func:`zoo.distributed.World.stack`, and must not wake the others' GPUs).
    :returns: a JSON-able mapping and the tensors (torch's byte states) that go with it.
    """
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "generators": {name: g.bit_generator.state for name, g in generators.items()},
    }
    tensors = {"rng.torch": torch.get_rng_state()}
    if all_devices and torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors |= {f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
    return meta, tensors


def restore_rng(meta: dict[str, Any], tensors: dict[str, torch.Tensor], generators: dict[str, np.random.Generator]) -> None:
    """Put back what :func:`capture_rng` captured, into the same named generators."""
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    for name, g in generators.items():
        g.bit_generator.state = meta["generators"][name]
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
