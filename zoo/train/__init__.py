"""Training: the runner that turns a recipe into a run directory, and what keeps a run exact and safe.

The run directory and its lock, checkpoints and their checks, RNG states, interrupts, distributed
agreement and the ``torchrun`` launcher, pruning of finished runs.
"""
