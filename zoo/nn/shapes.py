"""A model's tensor names and shapes from its recipe alone, before anything is allocated.

The one weight layout (DESIGN.md) fixes every name and shape from the ``model`` section,
the cell's ``gates`` and the vocabulary size, so a weights file or a checkpoint can be
checked against a recipe, and a recipe's size estimated, without building the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["parameter_shapes", "parameter_count", "tensor_count"]


def _layer_shapes(core: Any, gates: int, input_size: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    h, directions = core.hidden_size, 2 if core.bidirectional else 1
    for k in range(core.layers):
        width = input_size if k == 0 else h * directions
        for suffix in ("", "_reverse")[:directions]:
            yield f"rnn.weight_ih_l{k}{suffix}", (gates * h, width)
            yield f"rnn.weight_hh_l{k}{suffix}", (gates * h, h)
            yield f"rnn.bias_ih_l{k}{suffix}", (gates * h,)
            yield f"rnn.bias_hh_l{k}{suffix}", (gates * h,)


def parameter_shapes(core: Any, gates: int, vocab_size: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    """Yield ``(name, shape)`` of every tensor of the model, in ``state_dict`` order.

    :param core: the recipe's ``model`` options (:class:`~zoo.nn.model.ModelOptions`).
    :param gates: the cell's ``gates`` (RNN 1, GRU 3, LSTM 4).
    :param vocab_size: tokens in the vocabulary.
    """
    input_size = vocab_size
    if core.encoder == "embedding":
        input_size = core.embedding_size or core.hidden_size
        yield "embedding.weight", (vocab_size, input_size)
    yield from _layer_shapes(core, gates, input_size)
    if core.decoder == "dense":
        width = core.hidden_size * (2 if core.bidirectional else 1)
        yield "dense.weight", (vocab_size, width)
        yield "dense.bias", (vocab_size,)


def tensor_count(core: Any) -> int:
    """How many tensors :func:`parameter_shapes` yields, in constant time (for huge ``layers``)."""
    return (
        (core.encoder == "embedding")
        + 4 * core.layers * (2 if core.bidirectional else 1)
        + 2 * (core.decoder == "dense")
    )


def parameter_count(core: Any, gates: int, vocab_size: int) -> int:
    """The model's number of parameters, in constant time whatever ``layers`` is."""
    h, directions = core.hidden_size, 2 if core.bidirectional else 1
    input_size = (core.embedding_size or h) if core.encoder == "embedding" else vocab_size
    per_direction_first = gates * h * (input_size + h + 2)
    per_direction_rest = gates * h * (h * directions + h + 2)
    total = directions * (per_direction_first + (core.layers - 1) * per_direction_rest)
    if core.encoder == "embedding":
        total += vocab_size * input_size
    if core.decoder == "dense":
        total += vocab_size * (h * directions + 1)
    return total
