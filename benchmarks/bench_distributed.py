"""Training tokens/s of one recipe on 1 process and on N processes (``zoo run --nproc``), side by side, with ratios.

    python benchmarks/bench_distributed.py [--recipe recipes/jay_gru.yaml] [--nproc 2] [--epochs 8] [--rounds 3]

Each round runs ``zoo run RECIPE --set trainer.epochs=E -q`` as a user would: on one process with
torch's default threads, on one process with one thread, and with ``--nproc N`` (whose workers get
cores/N threads each); the rounds interleave so machine noise hits every setting alike. The
figure per run is the median of ``tokens_per_s`` in ``metrics.jsonl`` over its epochs after the
first (all processes' tokens: the global batch); the table shows the median over rounds.
Needs the corpus (``ZOO_DATA``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_backends import repeats


def tokens_per_s(recipe: str, epochs: int, nproc: int, env: dict[str, str], out: Path) -> float:
    """One run's median tokens/s over its epochs after the first."""
    args = [
        sys.executable,
        "-m",
        "zoo",
        "run",
        recipe,
        "--set",
        f"trainer.epochs={epochs}",
        "--set",
        "predict.every=0",
        "--out",
        str(out),
        "--overwrite",
        "-q",
        *(["--nproc", str(nproc)] if nproc > 1 else []),
    ]
    subprocess.run(args, check=True, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    rates = [json.loads(line)["tokens_per_s"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(rates[1:] or rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="recipes/jay_gru.yaml")
    parser.add_argument("--nproc", type=int, default=2, help="processes of the distributed run")
    parser.add_argument("--epochs", type=repeats, default=8, help="epochs per run")
    parser.add_argument("--rounds", type=repeats, default=3, help="interleaved rounds")
    args = parser.parse_args()
    settings = {
        "1 process": (1, {}),
        "1 process, 1 thread": (1, {"OMP_NUM_THREADS": "1"}),
        f"{args.nproc} processes": (args.nproc, {}),
    }
    rates: dict[str, list[float]] = {label: [] for label in settings}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for label, (nproc, env) in settings.items():
                rates[label].append(tokens_per_s(args.recipe, args.epochs, nproc, env, Path(tmp) / "run"))
    print(f"{args.recipe}, {args.epochs} epochs per run, {args.rounds} rounds, {os.cpu_count()} CPU cores")
    ref = statistics.median(rates["1 process"])
    print(f"  {'setting':<22}{'tokens/s':>10}{'spread':>20}{'× 1 process':>13}")
    for label, values in rates.items():
        med = statistics.median(values)
        print(f"  {label:<22}{med:>10,.0f}{f'{min(values):,.0f}–{max(values):,.0f}':>20}{med / ref:>13.2f}")


if __name__ == "__main__":
    main()
