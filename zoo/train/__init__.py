"""Training: the runner that turns a recipe into a run directory, and what keeps a run exact and safe.

A trainer's session (exact resume and distributed agreement, kept by the core for every trainer), the run directory
and its lock, checkpoints and their checks, RNG states, interrupts, the process group and the ``torchrun`` launcher,
pruning of finished runs.
"""
