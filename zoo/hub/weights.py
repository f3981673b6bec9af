"""Weights files: safetensors with zoo's metadata, written atomically and read with clear errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from zoo.atomic import atomic_path
from zoo.errors import UsageError, printable
from zoo.vocab import Vocab

__all__ = ["save_weights", "read_weights", "WeightsFile", "FLOAT_DTYPES"]


# The tensor types a zoo weights file may hold, as the safetensors header names them: weights are floating point.
FLOAT_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}


class WeightsFile:
    """A ``model.safetensors`` as its header describes it: zoo's metadata, decoded on demand, and each tensor's
    dtype and shape; the tensors themselves are read only when :attr:`tensors` is first used.

    :ivar metadata: the header's string-to-string metadata.
    :ivar layout: tensor name -> (safetensors dtype such as ``"F32"``, shape), from the header alone.
    """

    def __init__(self, path: Path, metadata: dict[str, str], layout: dict[str, tuple[str, tuple[int, ...]]]):
        self.path, self.metadata, self.layout = path, metadata, layout
        self._tensors: dict[str, torch.Tensor] | None = None

    @property
    def tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor, read from the file on first use (check :attr:`layout` before paying for this)."""
        if self._tensors is None:
            try:
                tensors = load_file(str(self.path))
            except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
                raise UsageError(_unreadable(self.path, exc)) from None
            read = {k: (t.dtype, tuple(t.shape)) for k, t in tensors.items()}
            if read != {k: (FLOAT_DTYPES.get(dtype), shape) for k, (dtype, shape) in self.layout.items()}:
                raise UsageError(f"{self.path} changed while it was being read; try again once nothing is writing it")
            self._tensors = tensors
        return self._tensors

    def _json(self, key: str, expected: type, what: str) -> Any:
        if key not in self.metadata:
            raise UsageError(
                f"{self.path}: metadata has no '{key}'; this file was not written by zoo (pass a zoo model file)"
            )
        try:
            value = json.loads(self.metadata[key])
        except json.JSONDecodeError:
            raise UsageError(
                f"{self.path}: metadata '{key}' is not valid JSON; the file is corrupt, re-download or re-train it"
            ) from None
        if not isinstance(value, expected):
            raise UsageError(
                f"{self.path}: metadata '{key}' should be {what}, got {_kind(value)}; "
                "the file is corrupt or was altered: re-download or re-train it"
            )
        return value

    @property
    def recipe(self) -> dict[str, Any]:
        """The resolved recipe the weights were trained with (a JSON object, checked)."""
        return self._json("zoo.recipe", dict, "a JSON object (the resolved recipe)")

    @property
    def vocab(self) -> Vocab:
        """The vocabulary (index = token id): a non-empty JSON array of distinct strings, checked; with its unknown
        token when the metadata names one (``zoo.vocab_unk``, which must be among the tokens)."""
        tokens = self._json("zoo.vocab", list, "a JSON array of the tokens")
        if not tokens:
            raise UsageError(
                f"{self.path}: metadata 'zoo.vocab' holds no tokens; the file is corrupt or was altered: "
                "re-download or re-train it"
            )
        level = self.metadata.get("zoo.vocab_level", "char")
        try:  # zoo.vocab_unk is absent from files written without an unknown token, and from those older than it
            return Vocab(tokens, level=level, unk=self.metadata.get("zoo.vocab_unk"))
        except (ValueError, TypeError) as exc:
            raise UsageError(
                f"{self.path}: metadata 'zoo.vocab' is invalid ({exc}); the file is corrupt or was altered: "
                "re-download or re-train it"
            ) from None

    @property
    def metrics(self) -> dict[str, Any]:
        """The final metrics recorded when the weights were saved (a JSON object, checked)."""
        return self._json("zoo.metrics", dict, "a JSON object of metrics") if "zoo.metrics" in self.metadata else {}


def _kind(value: Any) -> str:
    """How a JSON value reads in an error: its JSON type and a short excerpt."""
    if value is None:
        return "null"
    names = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    shown = printable(json.dumps(value, ensure_ascii=False))
    return f"{names[type(value)]} {shown[:40]}{'...' if len(shown) > 40 else ''}"


def _unreadable(path: Path, exc: Exception) -> str:
    return (
        f"{path} is not a readable safetensors file ({exc}); it may be truncated or corrupt: re-download or re-train it"
    )


def _canonical(blob: bytes) -> bytes:
    """Rewrite a safetensors blob's header with its metadata in sorted order.

    safetensors serialises the metadata map in hash order, which differs from one
    process to the next; sorting it makes equal weights give equal bytes. Tensor
    offsets are relative to the data section, so only the header changes.
    """
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    ordered = ({"__metadata__": dict(sorted(meta.items()))} if meta else {}) | dict(sorted(header.items()))
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)  # safetensors aligns the data section to 8 bytes with spaces
    return struct.pack("<Q", len(text)) + text + blob[8 + n :]


def save_weights(
    path: str | Path,
    state_dict: dict[str, torch.Tensor],
    *,
    vocab: Vocab,
    recipe: dict[str, Any],
    metrics: dict[str, Any],
    versions: dict[str, str],
) -> Path:
    """Write weights and metadata to ``path`` atomically.

    The metadata holds nothing that changes between two identical runs (no
    timestamps, no timings), so equal runs give byte-equal files.
    """
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    metadata = {
        "format": "pt",
        "zoo.vocab": vocab.to_json(),
        "zoo.vocab_level": vocab.level,
        **(
            {"zoo.vocab_unk": vocab.unk} if vocab.unk is not None else {}
        ),  # absent without one: such files stay byte-equal
        "zoo.recipe": json.dumps(recipe, ensure_ascii=False, sort_keys=True),
        "zoo.metrics": json.dumps(metrics, sort_keys=True),
        "zoo.seed": str(recipe.get("seed", "")),
        **{f"zoo.{k}_version": v for k, v in sorted(versions.items())},
    }
    path = Path(path)
    blob = _canonical(save(tensors, metadata=metadata))
    with atomic_path(path) as tmp:
        tmp.write_bytes(blob)
    return path


def read_weights(path: str | Path) -> WeightsFile:
    """Read a safetensors file's header (never pickle, no tensor data yet): a missing, truncated or tampered
    file, or one holding other tensors than floating point ones, is one clear error.

    safetensors checks the header against the file (its length, each tensor's offsets and size) without
    reading the data, so this costs the header's size, whatever the tensors or the metadata claim.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file {path} not found; pass a run directory, a .safetensors file or a catalog name")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            layout = {
                name: (f.get_slice(name).get_dtype(), tuple(f.get_slice(name).get_shape()))
                # safe_open is neither iterable nor a container: keys() is the only way to list its tensors
                for name in f.keys()  # noqa: SIM118
            }
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise UsageError(_unreadable(path, exc)) from None
    for name, (dtype, _) in sorted(layout.items()):
        if dtype not in FLOAT_DTYPES:
            raise UsageError(
                f"{path}: tensor {name} holds {dtype} values; zoo weights are floating point "
                f"({', '.join(FLOAT_DTYPES)}): the file is not a zoo model or was altered, re-download or re-train it"
            )
    return WeightsFile(path, metadata, layout)
