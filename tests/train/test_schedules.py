"""Learning-rate schedules: each built-in's factors against hand-computed values and nanoGPT's formula, plateau's
state, the recipe's ``schedule`` section, and a third-party schedule reaching the engine."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import math
import types
from pathlib import Path

import pytest
import torch
from zoo_plugins.schedules import Constant, Cosine, CosineOptions, Plateau, PlateauOptions, Step, StepOptions

import zoo
from zoo.errors import RecipeError
from zoo.interfaces import Schedule
from zoo.options import option
from zoo.recipe import prepare
from zoo.registry import BUILTIN_DIST, Registry, get_registry


def recipe(tmp_path: Path | None = None, **sections) -> dict:
    """A tiny recipe over a small local text file (``tmp_path``), its sections replaced by ``sections``."""
    path = "unused.txt"
    if tmp_path is not None:
        path = tmp_path / "corpus.txt"
        path.write_text("the cat sat on the mat\n" * 20, encoding="utf-8")
    return {
        "name": "sched",
        "seed": 0,
        "dataset": {"name": "text", "path": str(path)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"cell": "gru", "impl": "nn", "hidden_size": 8},
        "backend": "torch",
        "trainer": {"name": "bptt", "optimizer": "adam", "lr": 0.02, "epochs": 2},
        "predict": {"prefixes": ["the"], "length": 3, "every": 0},
        **sections,
    }


def one_line(exc: pytest.ExceptionInfo) -> str:
    """The error's message, checked to be a single line."""
    msg = str(exc.value)
    assert "\n" not in msg and "Traceback" not in msg, msg
    return msg


# -- the built-ins' factors --------------------------------------------------------


def test_every_builtin_follows_the_schedule_protocol():
    for cls in (Constant, Step, Plateau, Cosine):
        assert isinstance(cls(), Schedule), cls
    assert [cls.needs_validation for cls in (Constant, Step, Plateau, Cosine)] == [False, False, True, False]


def test_constant_is_one_at_every_step():
    s = Constant()
    assert {s.factor(step, epoch, 100) for step in range(0, 200, 7) for epoch in (1, 5, 50)} == {1.0}


def test_step_decays_after_start_then_every_period():
    s = Step(StepOptions(factor=0.5, every=2, start=4))
    # epochs 1-4 keep trainer.lr, 5-6 have one decay, 7-8 two (the step within the epoch does not matter)
    assert [s.factor(step, epoch, 1000) for epoch in range(1, 9) for step in (0, 999)] == [1, 1] * 4 + [
        0.5,
        0.5,
    ] * 2 + [0.25, 0.25] * 2


def test_step_with_start_zero_decays_from_the_first_epoch():
    s = Step(StepOptions(factor=0.1, every=3, start=0))
    assert [s.factor(0, epoch, 10) for epoch in range(1, 8)] == pytest.approx(
        [0.1] * 3 + [0.01] * 3 + [0.001], rel=1e-12
    )


def nanogpt_lr(it: int, learning_rate: float, warmup_iters: int, lr_decay_iters: int, min_lr: float) -> float:
    """nanoGPT's ``get_lr`` (train.py), as written there."""
    # 1) linear warmup for warmup_iters steps
    if it < warmup_iters:
        return learning_rate * (it + 1) / (warmup_iters + 1)
    # 2) if it > lr_decay_iters, return min learning rate
    if it > lr_decay_iters:
        return min_lr
    # 3) in between, use cosine decay down to min learning rate
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))  # coeff ranges 0..1
    return min_lr + coeff * (learning_rate - min_lr)


@pytest.mark.parametrize(
    ("warmup", "min_factor", "steps", "total"),
    [
        (0, 0.1, None, 50),  # no warm-up; the cosine spans the run
        (5, 0.1, None, 40),  # nanoGPT's defaults scaled down
        (10, 0.0, 30, 60),  # to zero over the first 30 steps, then flat
        (3, 0.5, 4, 20),  # a one-step cosine
    ],
)
def test_cosine_is_nanogpts_get_lr(warmup, min_factor, steps, total):
    lr = 6e-4
    s = Cosine(CosineOptions(warmup=warmup, min_factor=min_factor, steps=steps))
    end = steps if steps is not None else total
    for it in range(total + 5):
        assert lr * s.factor(it, 1, total) == pytest.approx(
            nanogpt_lr(it, lr, warmup, end, min_factor * lr), rel=1e-12, abs=1e-18
        ), it


def test_cosine_warm_up_values_by_hand():
    s = Cosine(CosineOptions(warmup=4, min_factor=0.1))
    assert [s.factor(it, 1, 100) for it in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0], rel=1e-12)
    assert s.factor(52, 1, 100) == pytest.approx(0.1 + 0.9 * 0.5, rel=1e-12)  # half way down the cosine: (52 - 4) / 96
    assert s.factor(100, 1, 100) == s.factor(10**6, 1, 100) == 0.1


def plateau_factors(losses: list[float], **options) -> list[float]:
    """The factor after each observed loss."""
    s = Plateau(PlateauOptions(**options))
    out = []
    for loss in losses:
        s.observe(loss)
        out.append(s.factor(0, 1, 1))
    return out


def test_plateau_decays_after_patience_plus_one_stalled_evaluations():
    losses = [3.0, 2.0, 2.5, 2.2, 1.9, 1.9, 1.95, 1.0]
    assert plateau_factors(losses, factor=0.5) == [1, 1, 0.5, 0.25, 0.25, 0.125, 0.0625, 0.0625]
    # patience 1: two stalls in a row; an improvement resets the count
    assert plateau_factors(losses, factor=0.5, patience=1) == [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25]
    factors = plateau_factors([1.0, 1.0, 0.9, 1.0, 1.0, 1.0, 1.0], factor=0.1, patience=2)
    assert factors == pytest.approx([1, 1, 1, 1, 1, 0.1, 0.1], rel=1e-12)


def test_plateau_min_delta_counts_small_improvements_as_none():
    losses = [2.0, 1.95, 1.91, 1.80, 1.79]
    assert plateau_factors(losses, factor=0.5) == [1, 1, 1, 1, 1]
    # 1.95 and 1.91 are within 0.1 of 2.0; 1.80 is not (against the best, 2.0, not the last); 1.79 is within 0.1 of 1.80
    assert plateau_factors(losses, factor=0.5, min_delta=0.1) == [1, 0.5, 0.25, 0.25, 0.125]


@pytest.mark.parametrize(("patience", "min_delta"), [(0, 0.0), (1, 0.0), (2, 0.05), (3, 0.01)])
def test_plateau_agrees_with_torchs_reduce_lr_on_plateau(patience, min_delta):
    gen = torch.Generator().manual_seed(patience)
    losses = (2.0 - torch.linspace(0, 0.8, 40) + 0.15 * torch.rand(40, generator=gen, dtype=torch.float64)).tolist()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    ref = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=patience, threshold=min_delta, threshold_mode="abs", min_lr=0.0, eps=0.0
    )
    expected = []
    for loss in losses:
        ref.step(loss)
        expected.append(opt.param_groups[0]["lr"])
    assert plateau_factors(losses, factor=0.5, patience=patience, min_delta=min_delta) == pytest.approx(
        expected, rel=1e-12
    )
    assert min(expected) < 1.0  # the sequence does stall


def test_plateau_state_round_trips_through_json():
    a = Plateau(PlateauOptions(factor=0.5, patience=1))
    for loss in (2.0, 1.5, 1.6, 1.7, 1.6):  # one decay, then one stalled evaluation counted
        a.observe(loss)
    state = a.state_dict()
    assert state == {"best": 1.5, "stale": 1, "scale": 0.5}
    b = Plateau(PlateauOptions(factor=0.5, patience=1))
    b.load_state_dict(json.loads(json.dumps(state)))
    for loss in (1.55, 1.4, 1.45, 1.45):
        a.observe(loss)
        b.observe(loss)
        assert b.factor(0, 1, 1) == a.factor(0, 1, 1)
    assert b.state_dict() == a.state_dict() == {"best": 1.4, "stale": 0, "scale": 0.125}


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"best": "1.5", "stale": 0, "scale": 1.0},
        {"best": 1.5, "stale": -1, "scale": 1.0},
        {"best": 1.5, "stale": 1.0, "scale": 1.0},
        {"best": 1.5, "stale": True, "scale": 1.0},
        {"best": 1.5, "stale": 0, "scale": 0.0},
        {"best": 1.5, "stale": 0, "scale": 2.0},
        {"best": 1.5, "stale": 0, "scale": None},
    ],
)
def test_plateau_refuses_a_bad_state_in_one_line(state):
    s = Plateau(PlateauOptions())
    with pytest.raises(ValueError) as exc:
        s.load_state_dict(state)
    msg = one_line(exc)
    assert msg.startswith("plateau schedule state must be") and repr(state) in msg
    assert s.state_dict() == {"best": None, "stale": 0, "scale": 1.0}  # nothing restored


# -- the recipe's schedule section -----------------------------------------------


def test_schedule_defaults_to_constant_and_is_written_back_by_name(registry):
    r = prepare(recipe(), registry)
    assert r.schedule.name == "constant" and r.schedule.cls is Constant
    assert r.to_dict()["schedule"] == "constant"
    r = prepare(recipe(schedule={"name": "step", "every": 3}), registry)
    assert r.schedule.options == StepOptions(factor=0.5, every=3, start=1)
    assert r.to_dict()["schedule"] == {"name": "step", "factor": 0.5, "every": 3, "start": 1}
    assert (
        prepare(r.to_dict(), registry).schedule.options == r.schedule.options
    )  # the resolved recipe resolves to the same


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ({"name": "step", "factor": 1.5}, ["schedule.factor: must be in (0, 1], got 1.5"]),
        (
            {"name": "step", "factor": 0.5, "every": 0, "start": -1},
            ["schedule.every: must be at least 1, got 0", "schedule.start: must be zero or more, got -1"],
        ),
        ({"name": "plateau", "factor": 1.0}, ["schedule.factor: must be in (0, 1), got 1.0"]),
        (
            {"name": "plateau", "patience": -1, "min_delta": -0.5},
            ["schedule.patience: must be zero or more, got -1", "schedule.min_delta: must be zero or more, got -0.5"],
        ),
        ({"name": "cosine", "warmup": -2}, ["schedule.warmup: must be zero or more, got -2"]),
        ({"name": "cosine", "warmup": 10, "steps": 10}, ["schedule.steps: must be more than warmup (10), got 10"]),
        ({"name": "cosine", "min_factor": 1.5}, ["schedule.min_factor: must be in [0, 1], got 1.5"]),
        ({"name": "step", "factor": "half"}, ["schedule.factor: expected float"]),
        ({"name": "step", "evry": 2}, ["schedule.evry: unknown key 'evry'; did you mean 'every'?"]),
    ],
)
def test_bad_schedule_options_are_one_line_naming_the_key(registry, schedule, expected):
    with pytest.raises(RecipeError) as exc:
        prepare(recipe(schedule=schedule), registry)
    one_line(exc)
    assert len(exc.value.problems) == len(expected), exc.value.problems
    for problem, start in zip(exc.value.problems, expected, strict=True):
        assert problem.startswith(start), problem


@pytest.mark.parametrize(
    ("name", "closest"), [("cosin", "cosine"), ("stepp", "step"), ("plateu", "plateau"), ("constent", "constant")]
)
def test_an_unknown_schedule_suggests_the_closest(registry, name, closest):
    with pytest.raises(RecipeError) as exc:
        prepare(recipe(schedule=name), registry)
    msg = one_line(exc)
    assert msg.startswith(f"schedule.name: unknown schedule '{name}'; did you mean '{closest}'? known: "), msg
    known = msg.split("known: ", 1)[1].split(", ")  # every installed schedule: the built-ins among them
    assert {"constant", "cosine", "plateau", "step"} <= set(known), msg


def test_schedule_overrides_reach_the_section(registry):
    r = prepare(recipe(), registry, {"schedule.name": "cosine", "schedule.warmup": 7})
    assert r.schedule.cls is Cosine and r.schedule.options == CosineOptions(warmup=7)


# -- a third-party schedule --------------------------------------------------------


@dataclasses.dataclass
class ScaledOptions:
    """Options of the test's ``scaled`` schedule."""

    by: float = option(1.0, "the factor of trainer.lr throughout")

    def validate(self) -> list[str]:
        """``by`` above zero."""
        return [] if self.by > 0 else [f"by: must be above zero, got {self.by}"]


class Scaled:
    """A third party's schedule: ``by`` times trainer.lr at every step."""

    Options = ScaledOptions
    needs_validation = False

    def __init__(self, options: ScaledOptions | None = None):
        self.options = options or ScaledOptions()

    def factor(self, step: int, epoch: int, total: int) -> float:
        """Always ``by``."""
        return self.options.by

    def observe(self, valid_loss: float) -> None:
        """Nothing to learn."""

    def state_dict(self) -> dict:
        """Nothing to keep."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Nothing to restore."""


def registry_with_scaled() -> Registry:
    """The built-in plugins and an inline plugin registering ``scaled`` through ``register_schedules``."""
    builtins = [
        ep.load() for ep in importlib.metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == BUILTIN_DIST
    ]
    extra = types.SimpleNamespace(
        __name__="third_party", register_schedules=zoo.hookimpl(lambda register: register("scaled", Scaled))
    )
    return Registry.from_plugins(*builtins, extra)


def test_a_third_party_schedule_is_registered_and_validated():
    reg = registry_with_scaled()
    assert reg.names("schedule") == ["constant", "cosine", "plateau", "scaled", "step"]
    assert "scaled" not in get_registry().names("schedule")  # only in the registry that has the plugin
    assert prepare(recipe(schedule={"name": "scaled", "by": 0.25}), reg).schedule.options == ScaledOptions(by=0.25)
    with pytest.raises(RecipeError) as exc:
        prepare(recipe(schedule={"name": "scaled", "by": 0.0}), reg)
    assert one_line(exc) == "schedule.by: must be above zero, got 0.0"


def test_a_third_party_schedules_factor_reaches_the_engine(tmp_path):
    reg = registry_with_scaled()
    scaled = zoo.run(recipe(tmp_path, schedule={"name": "scaled", "by": 0.5}), out=tmp_path / "scaled", registry=reg)
    plain = zoo.run(recipe(tmp_path), {"trainer.lr": 0.01}, out=tmp_path / "plain", registry=reg)
    assert [m["lr"] for m in scaled.metrics] == [0.01, 0.01]  # 0.02 × 0.5, the halving exact in binary
    assert [m["lr"] for m in plain.metrics] == [0.01, 0.01]
    # the optimizer stepped with the scaled rate: the same losses, bit for bit, as a run given that rate outright
    assert [m["loss"] for m in scaled.metrics] == [m["loss"] for m in plain.metrics]
    unscaled = zoo.run(
        recipe(tmp_path, schedule={"name": "scaled", "by": 1.0}), out=tmp_path / "unscaled", registry=reg
    )
    assert [m["loss"] for m in unscaled.metrics] != [m["loss"] for m in plain.metrics]
