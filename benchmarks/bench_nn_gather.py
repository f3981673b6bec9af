"""Would ``impl: nn`` gain from treating its one-hot input as a row gather? Measured side by side.

    python benchmarks/bench_nn_gather.py [--repeats 15] [--cell gru]

``torch.nn.GRU`` (``LSTM``, ``RNN``) always multiplies its input by ``weight_ih_l0`` itself; it has no
entry point for precomputed input projections. The nearest thing with the same weights and the same
numbers is to gather the rows of ``weight_ih_l0.T`` (plus ``bias_ih_l0``) and hand them to torch's
recurrent kernel with an identity input matrix. This script times a forward and backward pass of
both, Jay GRU shapes (hidden 256, vocabulary 1,027, batch 32 × 35), and checks the gradients agree.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from bench_backends import repeats

from zoo.train.allocator import keep_freed_memory

V, H, N, T = 1027, 256, 32, 35
KERNELS = {
    "rnn": (torch.nn.RNN, torch._VF.rnn_tanh, 1),
    "gru": (torch.nn.GRU, torch._VF.gru, 3),
    "lstm": (torch.nn.LSTM, torch._VF.lstm, 4),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--repeats", type=repeats, default=15, help="timed passes per variant, in up to 3 interleaved rounds"
    )
    parser.add_argument("--cell", choices=sorted(KERNELS), default="gru")
    args = parser.parse_args()
    keep_freed_memory()
    module_class, kernel, gates = KERNELS[args.cell]
    torch.manual_seed(0)
    rnn, dense = module_class(V, H, batch_first=True), torch.nn.Linear(H, V)
    ids, targets = torch.randint(0, V, (N, T)), torch.randint(0, V, (N, T))
    eye, zeros = torch.eye(gates * H), torch.zeros(gates * H)
    state = torch.zeros(1, N, H)

    def loss(out: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(dense(out).reshape(-1, V), targets.reshape(-1))

    def onehot() -> None:
        out, _ = rnn(F.one_hot(ids, V).float())
        loss(out).backward()

    def gather() -> None:
        gx = rnn.weight_ih_l0.t()[ids] + rnn.bias_ih_l0  # (N, T, G*H): the input projections, by row lookup
        hx = (state, state) if args.cell == "lstm" else state
        out = kernel(gx, hx, [eye, rnn.weight_hh_l0, zeros, rnn.bias_hh_l0], True, 1, 0.0, True, False, True)[0]
        loss(out).backward()

    grads = []
    for variant in (onehot, gather):
        rnn.zero_grad()
        variant()
        grads.append(rnn.weight_ih_l0.grad.clone())
    times: dict[str, list[float]] = {"one-hot": [], "gather": []}
    rounds = min(3, args.repeats)
    for r in range(rounds):
        for label, variant in (("one-hot", onehot), ("gather", gather)):
            variant()  # warm-up of the round
            for _ in range(args.repeats // rounds + (r < args.repeats % rounds)):
                start = time.perf_counter()
                variant()
                times[label].append(time.perf_counter() - start)
    print(
        f"{args.cell}: torch.nn forward + backward, hidden {H}, vocabulary {V}, batch {N}×{T}; "
        f"weight_ih_l0 gradients differ by at most {(grads[0] - grads[1]).abs().max():.1e}"
    )
    ref = statistics.median(times["one-hot"])
    for label, ts in times.items():
        print(
            f"  {label:<8}{N * T / statistics.median(ts):>10,.0f} tokens/s   "
            f"× one-hot {ref / statistics.median(ts):.2f}"
        )


if __name__ == "__main__":
    main()
