"""Generation speed of the Jay GRU, side by side in one process: chars/s and ratios against the d2l-style predictor.

    python benchmarks/bench_generate.py [--repeats 5] [--chars 200]

Uses the shipped ``jay_gru`` weights (hidden 256, vocabulary 1027). The reference is a faithful
copy of d2l's ``predict_rnn_pytorch``: one step per character, the prefix included, each step
building a one-hot input and reading the argmax back with ``.item()``. zoo warms up on the
prefix in one pass, then takes one step per character without autograd; a list of prefixes
runs as one batch (its rate counts the characters of every row).

Torch runs on one thread by default: with two, its thread pool and NumPy's BLAS threads spin
against each other when the rows alternate, and every row slows down by a factor of 2 to 30.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from bench_backends import repeats

import zoo

PREFIX = "分开"


def d2l_predict(module, vocab, prefix: str, num_chars: int) -> str:
    """d2l's predict_rnn_pytorch with its model (one-hot input → nn.GRU → dense), step by step."""
    state = None
    output = [vocab.index[prefix[0]]]
    for t in range(num_chars + len(prefix) - 1):
        X = torch.tensor([output[-1]]).view(1, 1)
        onehot = F.one_hot(X, len(vocab)).float()  # (1, 1, V)
        Y, state = module.rnn(onehot, state)
        Y = module.dense(Y.reshape(-1, Y.shape[-1]))  # (1, V)
        if t < len(prefix) - 1:
            output.append(vocab.index[prefix[t + 1]])
        else:
            output.append(int(Y.argmax(dim=1).item()))
    return "".join(vocab.tokens[i] for i in output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeats", type=repeats, default=5, help="timed rounds per implementation (after one warm-up)"
    )
    parser.add_argument("--chars", type=int, default=200, help="characters generated per prefix")
    parser.add_argument("--batch", type=int, default=32, help="prefixes in the batched rows")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads (one step of one row is too small to share)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    nn_model, np_model = zoo.load("jay_gru"), zoo.load("jay_gru", backend="numpy")
    batch = [PREFIX] * args.batch
    n = args.chars
    cases = {
        "d2l-style nn.GRU": (lambda: d2l_predict(nn_model.module, nn_model.vocab, PREFIX, n), n),
        "zoo torch": (lambda: nn_model.generate(PREFIX, n), n),
        "zoo numpy": (lambda: np_model.generate(PREFIX, n), n),
        f"zoo torch ×{args.batch}": (lambda: nn_model.generate(batch, n), n * args.batch),
        f"zoo numpy ×{args.batch}": (lambda: np_model.generate(batch, n), n * args.batch),
    }
    assert d2l_predict(nn_model.module, nn_model.vocab, PREFIX, 30) == nn_model.generate(PREFIX, 30), (
        "the reference must agree"
    )
    times: dict[str, list[float]] = {label: [] for label in cases}
    with torch.no_grad():
        for fn, _ in cases.values():
            fn()  # warm-up
        for _ in range(args.repeats):
            for label, (fn, _) in cases.items():
                start = time.perf_counter()
                fn()
                times[label].append(time.perf_counter() - start)
    ref = statistics.median(times["d2l-style nn.GRU"]) / n
    print(f"jay_gru generation, {n} chars per prefix, {args.repeats} rounds, torch threads {torch.get_num_threads()}")
    print(f"{'implementation':<20}{'chars/s (median)':>18}{'spread':>20}{'× d2l-style':>13}")
    for label, ts in times.items():
        chars = cases[label][1]
        med = statistics.median(ts)
        print(
            f"{label:<20}{chars / med:>18,.0f}"
            f"{f'{chars / max(ts):,.0f}–{chars / min(ts):,.0f}':>20}{(chars / med) * ref:>13.2f}"
        )


if __name__ == "__main__":
    main()
