"""How long the command line takes to start: the median wall time of fresh processes, and with --compare, another
checkout of zoo beside this one (ratios above 1: this one is faster).

    python benchmarks/bench_startup.py [--runs 11] [--compare /path/to/an/older/checkout] [--all-plugins]

Each command runs as ``python -m zoo ...`` in a new interpreter, from the root of the checkout it measures (where
``recipes/jay_gru.yaml`` is), after one untimed run that leaves the bytecode and the file cache warm; the two checkouts
take turns, run by run, so that a busy moment of the machine falls on both. The other checkout is imported ahead of
this one through ``PYTHONPATH`` (its ``plugins/`` folder as ``zoo_plugins``), with this environment's packages.

Only zoo's own plugins load (``ZOO_LOAD_PLUGINS=``), unless --all-plugins: a third-party plugin's imports are its own
(``zoo --help`` loads the plugins that may add commands, and a plugin module that imports torch brings it in).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "zoo --help": ["-m", "zoo", "--help"],
    "zoo --version": ["-m", "zoo", "--version"],
    "zoo plugins": ["-m", "zoo", "plugins"],
    "zoo validate recipes/jay_gru.yaml": ["-m", "zoo", "validate", "recipes/jay_gru.yaml"],
    "python -c 'import zoo'": ["-c", "import zoo"],
}


def _runs(text: str) -> int:
    """``--runs``: a count of timed runs, at least 1 (argparse type)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


class Checkout:
    """A zoo source tree to start commands from: this one (as installed), or another ahead of it on ``PYTHONPATH``."""

    def __init__(self, root: Path, env: dict[str, str], shadow: Path | None = None):
        self.root = root
        self.env = dict(env)
        if shadow is not None:  # zoo_plugins is plugins/ under another name: a folder holding a link of that name
            (shadow / "zoo_plugins").symlink_to(root / "plugins", target_is_directory=True)
            self.env["PYTHONPATH"] = os.pathsep.join([str(root), str(shadow), env.get("PYTHONPATH", "")]).rstrip(
                os.pathsep
            )

    def seconds(self, argv: list[str]) -> float:
        """Wall time of one fresh process running ``python ARGV`` (it must succeed)."""
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, *argv], cwd=self.root, env=self.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed in {self.root} (exit {proc.returncode}): {proc.stderr.strip()}")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", type=_runs, default=11, help="timed runs per command and checkout (the median is shown)"
    )
    parser.add_argument(
        "--compare", type=Path, default=None, metavar="DIR", help="another checkout of zoo to time beside this one"
    )
    parser.add_argument("--all-plugins", action="store_true", help="load every installed plugin, not only zoo's own")
    args = parser.parse_args()
    env = dict(os.environ) if args.all_plugins else {**os.environ, "ZOO_LOAD_PLUGINS": ""}
    with tempfile.TemporaryDirectory() as shadow:
        trees = {"this": Checkout(ROOT, env)}
        if args.compare is not None:
            trees = {"before": Checkout(args.compare.resolve(), env, Path(shadow)), "after": trees["this"]}
        times: dict[tuple[str, str], list[float]] = {}
        for label, argv in COMMANDS.items():
            for tree in trees.values():
                tree.seconds(argv)  # warm-up
            for _ in range(args.runs):
                for name, tree in trees.items():
                    times.setdefault((label, name), []).append(tree.seconds(argv))
    width = max(map(len, COMMANDS))
    print(
        f"median of {args.runs} fresh processes each, seconds; "
        + ("every installed plugin" if args.all_plugins else "zoo's own plugins (ZOO_LOAD_PLUGINS=)")
    )
    print(
        f"{'command':<{width}}  " + "  ".join(f"{name:>7}" for name in trees) + ("    ratio" if len(trees) > 1 else "")
    )
    for label in COMMANDS:
        medians = [statistics.median(times[label, name]) for name in trees]
        ratio = f"  {medians[0] / medians[1]:6.1f}×" if len(medians) > 1 else ""
        print(f"{label:<{width}}  " + "  ".join(f"{m:7.3f}" for m in medians) + ratio)


if __name__ == "__main__":
    main()
