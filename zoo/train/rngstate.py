"""Every random generator's state, captured and restored for exact resume (JSON plus tensors)."""

from __future__ import annotations

import random
import re
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng", "check_rng", "restore_rng"]

_CUDA = re.compile(
    r"rng\.cuda\.[0-9]+"
)  # one GPU's state; rng.cuda.ranks is a distributed run's, restored by the runner


def capture_rng(
    generators: dict[str, np.random.Generator], all_devices: bool = True
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The states of Python's, NumPy's, torch's (CPU and CUDA) and the named NumPy generators.

    :param all_devices: every GPU's generator (else none: a process of a distributed run saves its own
        device's through :func:`zoo.train.distributed.World.stack`, and must not wake the others' GPUs).
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


def _word_list(value: Any, size: int, bits: int) -> bool:
    return isinstance(value, list) and len(value) == size and all(type(v) is int and 0 <= v < 2**bits for v in value)


def check_rng(meta: Any, tensors: dict[str, torch.Tensor], names: list[str]) -> None:
    """Raise ``ValueError`` naming the first part of ``meta`` and ``tensors`` that :func:`restore_rng` could not put
    back.

    Each state is tried on a throwaway generator of its kind, so nothing global changes here.
    """
    if not isinstance(meta, dict) or not {"python", "numpy", "generators"} <= set(meta):
        raise ValueError("rng must be a mapping with python, numpy and generators")
    python, legacy, generators = meta["python"], meta["numpy"], meta["generators"]
    if not (isinstance(python, list) and len(python) == 3 and _word_list(python[1], 625, 32) and python[1][-1] <= 624):
        raise ValueError("rng.python is not a state of Python's generator")
    if not (
        isinstance(legacy, list)
        and len(legacy) == 5
        and legacy[0] == "MT19937"
        and _word_list(legacy[1], 624, 32)
        and type(legacy[2]) is int
        and 0 <= legacy[2] <= 624
        and legacy[3] in (0, 1)
        and type(legacy[4]) in (int, float)
    ):
        raise ValueError("rng.numpy is not a state of NumPy's generator")
    if not isinstance(generators, dict) or any(not isinstance(generators.get(name), dict) for name in names):
        raise ValueError(f"rng.generators must hold the state of {', '.join(names)}")
    try:
        random.Random().setstate((python[0], tuple(python[1]), python[2]))
        np.random.RandomState().set_state((legacy[0], np.asarray(legacy[1], dtype=np.uint32), *legacy[2:]))
        for name in names:
            np.random.default_rng().bit_generator.state = generators[name]
    except (TypeError, ValueError, OverflowError, KeyError, IndexError) as exc:
        raise ValueError(f"rng holds a generator state that does not load: {exc}") from None
    torch_state = tensors.get("rng.torch")
    if torch_state is None:
        raise ValueError("the tensor rng.torch is missing")
    try:
        torch.Generator().set_state(torch_state)
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"the tensor rng.torch is not a state of torch's generator: {exc}") from None
    for name, t in tensors.items():
        if name == "rng.torch.ranks":
            if t.dtype != torch.uint8 or t.dim() != 2 or t.shape[1:] != torch_state.shape:
                raise ValueError(f"the tensor {name} is not one state of torch's generator per process")
        elif name == "rng.cuda.ranks" or _CUDA.fullmatch(name):
            if t.dtype != torch.uint8 or t.dim() != (2 if name == "rng.cuda.ranks" else 1):
                raise ValueError(f"the tensor {name} is not a state of a CUDA generator")
        elif name.startswith("rng.") and name != "rng.torch":
            raise ValueError(f"the tensor {name} is not a generator state zoo writes")


def restore_rng(
    meta: dict[str, Any], tensors: dict[str, torch.Tensor], generators: dict[str, np.random.Generator]
) -> None:
    """Put back what :func:`capture_rng` captured, into the same named generators."""
    version, internal, gauss = meta["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = meta["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    for name, g in generators.items():
        g.bit_generator.state = meta["generators"][name]
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [
        tensors[k] for k in sorted((k for k in tensors if _CUDA.fullmatch(k)), key=lambda k: int(k.rsplit(".", 1)[1]))
    ]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])  # saved on more GPUs than this machine has
