"""Weights files: safetensors with zoo's metadata, written atomically and read with clear errors."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from .atomic import atomic_path
from .errors import UsageError
from .vocab import Vocab

__all__ = ["save_weights", "read_weights", "WeightsFile"]


class WeightsFile:
    """The contents of a ``model.safetensors``: tensors plus zoo's metadata, decoded."""

    def __init__(self, tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path):
        self.tensors, self.metadata, self.path = tensors, metadata, path

    def _json(self, key: str) -> Any:
        if key not in self.metadata:
            raise UsageError(f"{self.path}: metadata has no '{key}'; this file was not written by zoo (pass a zoo model file)")
        try:
            return json.loads(self.metadata[key])
        except json.JSONDecodeError:
            raise UsageError(f"{self.path}: metadata '{key}' is not valid JSON; the file is corrupt, re-download or re-train it") from None

    @property
    def recipe(self) -> dict[str, Any]:
        """The resolved recipe the weights were trained with."""
        return self._json("zoo.recipe")

    @property
    def vocab(self) -> Vocab:
        """The vocabulary (index = token id)."""
        tokens = self._json("zoo.vocab")
        level = self.metadata.get("zoo.vocab_level", "char")
        try:
            return Vocab(tokens, level=level)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{self.path}: metadata 'zoo.vocab' is invalid ({exc}); the file is corrupt") from None

    @property
    def metrics(self) -> dict[str, Any]:
        """The final metrics recorded when the weights were saved."""
        return self._json("zoo.metrics") if "zoo.metrics" in self.metadata else {}


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


def save_weights(path: str | Path, state_dict: dict[str, torch.Tensor], *, vocab: Vocab, recipe: dict[str, Any], metrics: dict[str, Any], versions: dict[str, str]) -> Path:
    """Write weights and metadata to ``path`` atomically.

    The metadata holds nothing that changes between two identical runs (no
    timestamps, no timings), so equal runs give byte-equal files.
    """
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
    metadata = {
        "format": "pt",
        "zoo.vocab": vocab.to_json(),
        "zoo.vocab_level": vocab.level,
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
    """Read a safetensors file (never pickle); a missing, truncated or tampered file is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"weights file {path} not found; pass a run directory, a .safetensors file or a registry name")
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise UsageError(f"{path} is not a readable safetensors file ({exc}); it may be truncated or corrupt: re-download or re-train it") from None
    return WeightsFile(tensors, metadata, path)
