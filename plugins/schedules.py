"""Built-in learning-rate schedules: ``constant``, ``step``, ``plateau`` and ``cosine`` (with linear warm-up).

Each gives a factor of ``trainer.lr`` (see :class:`zoo.interfaces.Schedule`): ``step`` is the decay of d2l and of
Zaremba et al. (2014), ``plateau`` is torch's ``ReduceLROnPlateau`` on the validation loss, and ``cosine`` is nanoGPT's.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from zoo.plugin import NoOptions, Schedule, hookimpl, option

__all__ = ["Constant", "Step", "Plateau", "Cosine"]


class Constant(Schedule):
    """``trainer.lr`` throughout (the default)."""

    Options = NoOptions

    def __init__(self, options: NoOptions | None = None):
        self.options = options or NoOptions()

    def factor(self, step: int, epoch: int, total: int) -> float:
        """Always 1."""
        return 1.0


@dataclasses.dataclass
class StepOptions:
    """Options of the ``step`` schedule."""

    factor: float = option(0.5, "multiply the learning rate by this")
    every: int = option(1, "... every this many epochs")
    start: int = option(1, "... after this epoch (epochs up to it keep trainer.lr; 0 decays from the first)")

    def validate(self) -> list[str]:
        """The factor in (0, 1], ``every`` ≥ 1, ``start`` ≥ 0."""
        problems = []
        if not 0 < self.factor <= 1:
            problems.append(f"factor: must be in (0, 1], got {self.factor}")
        if self.every < 1:
            problems.append(f"every: must be at least 1, got {self.every}")
        if self.start < 0:
            problems.append(f"start: must be zero or more, got {self.start}")
        return problems


class Step(Schedule):
    """``factor`` to the power of the decays so far: one at epoch ``start + 1``, then one every ``every`` epochs."""

    Options = StepOptions

    def __init__(self, options: StepOptions | None = None):
        self.options = options or StepOptions()

    def factor(self, step: int, epoch: int, total: int) -> float:
        """``factor ** ceil((epoch - start) / every)`` after epoch ``start``, else 1."""
        o = self.options
        return o.factor ** max(0, -(-(epoch - o.start) // o.every))


@dataclasses.dataclass
class PlateauOptions:
    """Options of the ``plateau`` schedule."""

    factor: float = option(0.5, "multiply the learning rate by this when the validation loss stalls")
    patience: int = option(0, "evaluations without improvement tolerated before that")
    min_delta: float = option(0.0, "an improvement smaller than this counts as none")

    def validate(self) -> list[str]:
        """The factor in (0, 1), patience and min_delta ≥ 0."""
        problems = []
        if not 0 < self.factor < 1:
            problems.append(f"factor: must be in (0, 1), got {self.factor}")
        if self.patience < 0:
            problems.append(f"patience: must be zero or more, got {self.patience}")
        if self.min_delta < 0:
            problems.append(f"min_delta: must be zero or more, got {self.min_delta}")
        return problems


class Plateau(Schedule):
    """Multiply by ``factor`` when ``patience + 1`` evaluations in a row have not improved on the best by
    ``min_delta``."""

    Options = PlateauOptions
    needs_validation = True

    def __init__(self, options: PlateauOptions | None = None):
        self.options = options or PlateauOptions()
        self.best: float | None = None
        self.stale = 0
        self.scale = 1.0

    def factor(self, step: int, epoch: int, total: int) -> float:
        """The product of the decays so far."""
        return self.scale

    def observe(self, valid_loss: float) -> None:
        """Count an evaluation that does not improve; decay after ``patience + 1`` of them."""
        o = self.options
        if self.best is None or valid_loss < self.best - o.min_delta:
            self.best, self.stale = valid_loss, 0
            return
        self.stale += 1
        if self.stale > o.patience:
            self.scale *= o.factor
            self.stale = 0

    def state_dict(self) -> dict[str, Any]:
        """The best loss, the stale evaluations and the scale."""
        return {"best": self.best, "stale": self.stale, "scale": self.scale}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned, its types checked."""
        best, stale, scale = state.get("best"), state.get("stale"), state.get("scale")
        if (
            (best is not None and not isinstance(best, float))
            or type(stale) is not int
            or stale < 0
            or not isinstance(scale, float)
            or not 0 < scale <= 1
        ):
            raise ValueError(
                "plateau schedule state must be best (a number or null), stale (≥ 0) and scale (in (0, 1]), got "
                f"{state!r}"
            )
        self.best, self.stale, self.scale = best, stale, scale


@dataclasses.dataclass
class CosineOptions:
    """Options of the ``cosine`` schedule."""

    warmup: int = option(0, "optimizer steps of linear warm-up from trainer.lr / (warmup + 1)")
    min_factor: float = option(0.1, "the factor of trainer.lr the cosine ends at (nanoGPT: 0.1)")
    steps: int | None = option(
        None, "optimizer steps to the end of the cosine (default: the run's; after it, min_factor)"
    )

    def validate(self) -> list[str]:
        """``warmup`` ≥ 0, ``min_factor`` in [0, 1], ``steps`` above ``warmup``."""
        problems = []
        if self.warmup < 0:
            problems.append(f"warmup: must be zero or more, got {self.warmup}")
        if not 0 <= self.min_factor <= 1:
            problems.append(f"min_factor: must be in [0, 1], got {self.min_factor}")
        if self.steps is not None and self.steps <= self.warmup:
            problems.append(f"steps: must be more than warmup ({self.warmup}), got {self.steps}")
        return problems


class Cosine(Schedule):
    """nanoGPT's ``get_lr``: linear warm-up over ``warmup`` steps, then half a cosine from 1 down to ``min_factor``."""

    Options = CosineOptions

    def __init__(self, options: CosineOptions | None = None):
        self.options = options or CosineOptions()

    def factor(self, step: int, epoch: int, total: int) -> float:
        """``(step + 1) / (warmup + 1)`` while warming up, then the cosine over the remaining steps."""
        o = self.options
        end = o.steps if o.steps is not None else total
        if step < o.warmup:
            return (step + 1) / (o.warmup + 1)
        if step >= end:
            return o.min_factor
        ratio = (step - o.warmup) / max(1, end - o.warmup)
        return o.min_factor + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (1.0 - o.min_factor)


@hookimpl
def register_schedules(register):
    """Register ``constant``, ``step``, ``plateau`` and ``cosine``."""
    register("constant", Constant)
    register("step", Step)
    register("plateau", Plateau)
    register("cosine", Cosine)
