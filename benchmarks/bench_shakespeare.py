"""Tiny Shakespeare: zoo's recipes against nanoGPT's CPU reference, side by side in one run.

    python benchmarks/bench_shakespeare.py [--recipe shakespeare_lstm] [--recipe shakespeare_lstm_long] [--nanogpt]
                                           [--data-dir DIR] [--keep DIR] [--set KEY=VALUE]...

Each recipe is trained by ``zoo run`` in a child process, timed from its start to its exit (the whole command:
start-up, data, training, every validation pass, samples, saving); its ``metrics.jsonl`` gives the validation loss
after each epoch (the full 111,539-character split, read in contiguous rows from a zero state: see
zoo/nn/evaluate.py) and the tokens per second. With ``--nanogpt`` the reference in ../shared/reference/nanogpt runs
too, copied to a temporary folder with the same corpus, with the command of nanoGPT's README for a CPU:
its validation loss is an estimate from 20 random batches of 64-character windows (``--eval_iters=20``), not the
whole split. The rows print as they finish; the summary gives each one's final validation loss and wall time,
and its time as a ratio of nanoGPT's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NANOGPT = ROOT.parent / "shared" / "reference" / "nanogpt"
NANOGPT_ARGS = [
    "config/train_shakespeare_char.py",
    "--device=cpu",
    "--compile=False",
    "--eval_iters=20",
    "--log_interval=1",
    "--block_size=64",
    "--batch_size=12",
    "--n_layer=4",
    "--n_head=4",
    "--n_embd=128",
    "--max_iters=2000",
    "--lr_decay_iters=2000",
    "--dropout=0.0",
]


def run_zoo(
    recipe: str, data_dir: str, runs: Path, sets: list[str]
) -> tuple[list[tuple[str, float, float, str]], float, float]:
    """Train ``recipes/RECIPE.yaml`` (with ``--set`` overrides); rows of (where, elapsed training+validation seconds,
    valid loss, tokens/s), its final validation loss and the wall time of the whole command."""
    out = runs / recipe
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo",
            "run",
            str(ROOT / "recipes" / f"{recipe}.yaml"),
            "--out",
            str(out),
            "-q",
            "--data-dir",
            data_dir,
            *(arg for kv in sets for arg in ("--set", kv)),
        ],
        check=True,
    )
    wall = time.perf_counter() - start
    rows, elapsed = [], 0.0
    for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        m = json.loads(line)
        if "loss" not in m:
            continue
        elapsed += m["seconds"] + m.get("valid_seconds", 0.0)
        rows.append((f"epoch {m['epoch']}", elapsed, m["valid_loss"], f"{m['tokens_per_s']:,.0f}"))
    saved = json.loads(
        subprocess.run(
            [sys.executable, "-c", "import json, sys, zoo; print(json.dumps(zoo.load(sys.argv[1]).metrics))", str(out)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    return rows, saved["valid_loss"], wall


def run_nanogpt(data_dir: str, tmp: Path) -> tuple[list[tuple[str, float, float, str]], float, float]:
    """nanoGPT's CPU command on a copy of the reference; rows at each of its evaluations (every 250 iterations)."""
    ref = tmp / "nanogpt"
    shutil.copytree(NANOGPT, ref)
    shutil.copy(Path(data_dir) / "tinyshakespeare.txt", ref / "data" / "shakespeare_char" / "input.txt")
    stub = tmp / "stub"  # prepare.py imports requests only to download input.txt, which is already there
    stub.mkdir()
    (stub / "requests.py").write_text('"""Not needed: input.txt is in place."""\n', encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(stub)}
    subprocess.run(
        [sys.executable, "prepare.py"], cwd=ref / "data" / "shakespeare_char", check=True, capture_output=True, env=env
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "train.py", *NANOGPT_ARGS, f"--out_dir={tmp / 'nanogpt-out'}"],
        cwd=ref,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    rows, loss = [], float("nan")
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.match(r"step (\d+): train loss ([\d.]+), val loss ([\d.]+)", line):
            loss = float(m.group(3))
            rows.append((f"iter {m.group(1)}", time.perf_counter() - start, loss, ""))
    if proc.wait() != 0:
        raise SystemExit(f"nanoGPT failed with exit code {proc.returncode}")
    return rows, loss, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--recipe", action="append", help="a recipe under recipes/ (repeatable; default both Shakespeare recipes)"
    )
    parser.add_argument(
        "--nanogpt", action="store_true", help="also run nanoGPT's CPU reference (about 150 s on 2 cores)"
    )
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("ZOO_DATA", str(ROOT.parent / "shared" / "data")),
        help="the folder holding tinyshakespeare.txt (default: $ZOO_DATA)",
    )
    parser.add_argument(
        "--keep", type=Path, metavar="DIR", help="keep each zoo run in DIR/RECIPE (to ship or score it after)"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="an override for every zoo recipe (repeatable)"
    )
    args = parser.parse_args()
    recipes = args.recipe or ["shakespeare_lstm", "shakespeare_lstm_long"]
    print(f"{os.cpu_count()} CPUs, torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}", flush=True)
    print(f"{'run':<24} {'at':>10} {'elapsed s':>10} {'valid loss':>10} {'tokens/s':>10}", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-shakespeare-") as tmp:
        runs = args.keep or Path(tmp)
        jobs = [(name, lambda name=name: run_zoo(name, args.data_dir, runs, args.set)) for name in recipes]
        if args.nanogpt:
            jobs.append(("nanoGPT (CPU README)", lambda: run_nanogpt(args.data_dir, Path(tmp))))
        for name, job in jobs:
            rows, loss, wall = job()
            for at, elapsed, valid, speed in rows:
                print(f"{name:<24} {at:>10} {elapsed:>10.1f} {valid:>10.4f} {speed:>10}", flush=True)
            results[name] = (loss, wall)
    print("\nsummary (wall time of the whole command)")
    base = results.get("nanoGPT (CPU README)")
    for name, (loss, wall) in results.items():
        ratio = f"  {wall / base[1]:.2f}x nanoGPT's time" if base else ""
        print(f"  {name:<24} valid loss {loss:.4f} in {wall:,.1f} s{ratio}")


if __name__ == "__main__":
    main()
