"""The whole speed picture in one run, Jay GRU recipe shapes (hidden 256, vocabulary 1,027, batch 32 × 35).

    python benchmarks/bench.py [--repeats 3] [--cells rnn gru lstm] [--memory] [--default-malloc]

For every cell, with 1 and 2 layers and one or two directions: training tokens/s of each
implementation (``torch.nn``, the fused scratch layer, autograd through ``cell.step``, NumPy,
and d2l's from-scratch code for one layer), run side by side and interleaved, with the median,
the spread and the ratio to ``torch.nn``; for one direction, generation chars/s of one row and of
32 rows against d2l's predictor; with ``--memory``, the peak memory a training step adds (each
implementation measured in a process of its own, from the kernel's high-water mark of its resident set).
As ``zoo`` itself, the processes reuse freed memory (:mod:`zoo.train.allocator`) unless ``--default-malloc``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import bench_backends as training
import numpy as np
import torch
from bench_generate import d2l_predict
from zoo_plugins.numpy_engine import NumpyInference
from zoo_plugins.predictor import DefaultPredictor

from zoo.nn.model import LanguageModel
from zoo.options import ModelOptions
from zoo.registry import get_registry
from zoo.vocab import Vocab

V, H, N, T = training.V, training.H, training.N, training.T
CONFIGS = [(1, False), (2, False), (1, True), (2, True)]


def _median_rate(amount: float, times: list[float]) -> tuple[float, float, float]:
    return amount / statistics.median(times), amount / max(times), amount / min(times)


def train_rates(cell: str, layers: int, bidirectional: bool, repeats: int) -> dict[str, tuple[float, float, float]]:
    """tokens/s (median, slowest, fastest) per implementation, epochs interleaved."""
    rng = np.random.default_rng(0)
    batches = [(rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))) for _ in range(training.BATCHES)]
    impls = training.engines(cell, "float32", layers, bidirectional)
    times: dict[str, list[float]] = {label: [] for label in impls}
    for engine, _ in impls.values():
        training.epoch(engine, batches)  # warm-up
    for _ in range(repeats):
        for label, (engine, _) in impls.items():
            times[label].append(training.epoch(engine, batches))
    return {label: _median_rate(training.BATCHES * N * T, ts) for label, ts in times.items()}


def generation_rates(cell: str, layers: int, repeats: int, chars: int = 100) -> dict[str, float]:
    """chars/s (median) of one row and of 32 rows, on torch and NumPy, and of d2l's predictor, from random weights."""
    reg = get_registry()
    vocab = Vocab([chr(0x4E00 + i) for i in range(V)])
    torch.manual_seed(0)
    model = LanguageModel(
        reg.get("cell", cell)(), ModelOptions(cell=cell, impl="nn", hidden_size=H, layers=layers), V
    ).eval()
    runners = {"torch": model, "numpy": NumpyInference(model)}
    predictor, prefix = DefaultPredictor(), vocab.tokens[0] * 2
    cases = {"d2l": (lambda: d2l_predict(model, vocab, prefix, chars), chars)}
    for name, runner in runners.items():
        cases[name] = (lambda r=runner: predictor.generate(r, vocab, prefix, chars), chars)
        cases[f"{name} ×32"] = (lambda r=runner: predictor.generate_batch(r, vocab, [prefix] * 32, chars), chars * 32)
    times: dict[str, list[float]] = {label: [] for label in cases}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see bench_generate.py: torch's and NumPy's thread pools spin against each other
    try:
        with torch.no_grad():
            for fn, _ in cases.values():
                fn()
            for _ in range(repeats):
                for label, (fn, _) in cases.items():
                    start = time.perf_counter()
                    fn()
                    times[label].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return {label: cases[label][1] / statistics.median(ts) for label, ts in times.items()}


def peak_memory(cell: str, layers: int, bidirectional: bool, label: str, tuned: bool) -> float:
    """MB by which two training steps raise the resident set above where it stood, in a fresh process (Linux:
    the kernel's high-water mark, reset through /proc/self/clear_refs just before the steps)."""
    code = (
        "import sys, re, numpy as np; sys.path.insert(0, 'benchmarks'); import bench_backends as b\n"
        + ("from zoo.train.allocator import keep_freed_memory; keep_freed_memory()\n" if tuned else "")
        + f"engine = b.engines({cell!r}, 'float32', {layers}, {bidirectional})[{label!r}][0]\n"
        "rng = np.random.default_rng(0); X, Y = rng.integers(0, b.V, (b.N, b.T)), rng.integers(0, b.V, (b.N, b.T))\n"
        "kb = lambda key: int(re.search(key + r':\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
        "open('/proc/self/clear_refs', 'w').write('5'); base = kb('VmRSS')\n"
        "engine.train_step(X, Y, None); engine.train_step(X, Y, None)\n"
        "print((kb('VmHWM') - base) / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeats", type=training.repeats, default=3, help="timed rounds per implementation (after one warm-up)"
    )
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"], help="registered cell names")
    parser.add_argument("--memory", action="store_true", help="also measure each training step's peak memory (slower)")
    training.add_allocator_option(parser)
    args = parser.parse_args()
    malloc = training.allocator(args)
    print(
        f"hidden {H}, vocabulary {V}, batch {N}×{T}; {args.repeats} rounds; "
        f"torch threads {torch.get_num_threads()} (1 for generation); {malloc}"
    )
    for cell in args.cells:
        for layers, bidirectional in CONFIGS:
            rates = train_rates(cell, layers, bidirectional, args.repeats)
            ref = rates["torch nn"][0]
            print(f"\n{cell}, {layers} layer(s){', bidirectional' if bidirectional else ''}: training")
            print(
                f"  {'implementation':<16}{'tokens/s':>10}{'spread':>18}{'× nn':>7}"
                + (f"{'peak MB':>9}" if args.memory else "")
            )
            for label, (med, lo, hi) in rates.items():
                memory = (
                    f"{peak_memory(cell, layers, bidirectional, label, not args.default_malloc):>9.0f}"
                    if args.memory
                    else ""
                )
                print(f"  {label:<16}{med:>10,.0f}{f'{lo:,.0f}–{hi:,.0f}':>18}{med / ref:>7.2f}{memory}")
            if not bidirectional:  # a bidirectional model cannot generate
                gen = generation_rates(cell, layers, args.repeats)
                print(
                    "  generation chars/s: "
                    + ", ".join(f"{k} {v:,.0f} ({v / gen['d2l']:.2f}×)" for k, v in gen.items())
                )


if __name__ == "__main__":
    main()
