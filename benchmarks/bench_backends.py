"""Time one training epoch of the Jay GRU recipe's shapes on each backend, side by side, and print ratios.

    python benchmarks/bench_backends.py [--repeats 5] [--cell gru] [--dtype float32] [--layers 2] [--bidirectional]
                                        [--default-malloc]

Shapes: hidden 256, vocabulary 1027, batch 32 × 35 steps, 8 batches (8,960 tokens) per
epoch, one-hot input, Adam, clip 0.01 — as recipes/jay_gru.yaml. Each implementation trains
the same batches from the same weights; the rounds are interleaved so machine noise hits
all of them alike. Ratios are against torch.nn (fed one-hot input, as d2l's concise code); where
zoo's ``impl: nn`` gathers that input instead (zoo/nn/gathered.py), a "torch nn gather" row shows it.
"torch scratch" is the fused layer (a hand-written backward through the cell's equations);
"torch step" is autograd through every ``cell.step``, the formulation it replaced; "d2l scratch"
is a faithful copy of the book's from-scratch code (benchmarks/d2l_reference.py), one layer only.
The process reuses freed memory as ``zoo`` does (:mod:`zoo.train.allocator`); ``--default-malloc`` keeps
glibc's defaults instead, under which every batch faults its large buffers in afresh.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from d2l_reference import D2lEngine

from zoo.interfaces import TrainSettings
from zoo.nn.model import LanguageModel
from zoo.options import ModelOptions
from zoo.registry import get_registry
from zoo.train.allocator import keep_freed_memory

V, H, N, T, BATCHES = 1027, 256, 32, 35, 8


def engines(cell_name: str, dtype: str, layers: int = 1, bidirectional: bool = False) -> dict[str, object]:
    """One engine per implementation, all starting from the same weights."""
    reg = get_registry()
    cell = reg.get("cell", cell_name)()
    settings = TrainSettings("adam", 0.01, clip_norm=0.01)
    torch.manual_seed(0)
    shape = {"hidden_size": H, "dtype": dtype, "layers": layers, "bidirectional": bidirectional}
    base = LanguageModel(cell, ModelOptions(cell=cell_name, impl="scratch", **shape), V)
    out = {}
    rows = [
        ("torch nn", "torch", "nn"),
        ("torch scratch", "torch", "scratch"),
        ("torch step", "torch", "literal"),
        ("numpy", "numpy", "scratch"),
    ]
    rows += [("cuda nn", "cuda", "nn"), ("cuda scratch", "cuda", "scratch")] if torch.cuda.is_available() else []
    for label, backend, impl in rows:
        b = reg.get("backend", backend)()
        model = LanguageModel(
            cell, ModelOptions(cell=cell_name, impl="scratch" if impl == "literal" else impl, **shape), V
        )
        model.load_state_dict(base.state_dict())
        if impl == "literal":
            model.rnn.fused = False  # autograd through every cell.step: the reference the fused layer replaced
        gathered = model._gathered
        model._gathered = None  # the baseline multiplies by the one-hot input, as d2l's concise code
        out[label] = (b.engine(model.to(b.device), settings, np.random.default_rng(0)), b)
        if (
            gathered is not None
        ):  # zoo's impl: nn gathers that input here instead (zoo/nn/gathered.py): a row of its own
            model = LanguageModel(cell, ModelOptions(cell=cell_name, impl="nn", **shape), V)
            model.load_state_dict(base.state_dict())
            out[f"{label} gather"] = (b.engine(model.to(b.device), settings, np.random.default_rng(0)), b)
    if layers == 1 and not bidirectional:
        out["d2l scratch"] = (D2lEngine(cell_name, V, H), reg.get("backend", "torch")())
    return out


def repeats(text: str) -> int:
    """``--repeats``: a count of timed rounds, at least 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_allocator_option(parser: argparse.ArgumentParser) -> None:
    """``--default-malloc``: measure under glibc's default allocator settings rather than zoo's."""
    parser.add_argument(
        "--default-malloc",
        action="store_true",
        help="keep glibc's allocator defaults (zoo's commands reuse freed memory)",
    )


def allocator(args: argparse.Namespace) -> str:
    """Apply zoo's allocator setting unless ``--default-malloc``; the setting in words, for the header."""
    return (
        "malloc: glibc defaults"
        if args.default_malloc or not keep_freed_memory()
        else "malloc: freed memory reused, as zoo"
    )


def epoch(engine, batches, carry: bool = True, sync=lambda: None) -> float:
    """Seconds for one epoch of training steps (state carried, as the sequential sampler does)."""
    start = time.perf_counter()
    state = None
    for X, Y in batches:
        _, state = engine.train_step(X, Y, state if carry else None)
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeats", type=repeats, default=5, help="timed epochs per implementation (after one warm-up)"
    )
    parser.add_argument("--cell", default="gru", help="registered cell name")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--layers", type=int, default=1, help="stacked layers")
    parser.add_argument("--bidirectional", action="store_true", help="two directions per layer")
    add_allocator_option(parser)
    args = parser.parse_args()
    malloc = allocator(args)
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))) for _ in range(BATCHES)]
    impls = engines(args.cell, args.dtype, args.layers, args.bidirectional)
    sync = {label: (torch.cuda.synchronize if b.name == "cuda" else (lambda: None)) for label, (_, b) in impls.items()}
    times: dict[str, list[float]] = {label: [] for label in impls}
    for label, (engine, _) in impls.items():
        epoch(engine, batches, sync=sync[label])  # warm-up
    for _ in range(args.repeats):
        for label, (engine, _) in impls.items():
            times[label].append(epoch(engine, batches, sync=sync[label]))
    tokens = BATCHES * N * T
    ref = statistics.median(times["torch nn"])
    print(
        f"{args.cell}, {args.layers} layer(s){', bidirectional' if args.bidirectional else ''}, {args.dtype}, "
        f"hidden {H}, vocab {V}, batch {N}×{T}, {tokens} tokens/epoch, "
        f"{args.repeats} epochs each, torch threads {torch.get_num_threads()}, {malloc}"
    )
    slow = statistics.median(times["d2l scratch"]) if "d2l scratch" in times else None
    print(
        f"{'implementation':<16}{'tokens/s (median)':>18}{'spread':>16}{'× torch nn':>12}"
        + (f"{'× d2l scratch':>15}" if slow else "")
    )
    for label, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{label:<16}{tokens / med:>18,.0f}"
            f"{f'{tokens / max(ts):,.0f}–{tokens / min(ts):,.0f}':>16}{ref / med:>12.2f}"
            + (f"{slow / med:>15.2f}" if slow else "")
        )


if __name__ == "__main__":
    main()
