"""A trainer's session: exact resume and distributed agreement, which the core keeps for every trainer.

:class:`Session` implements :class:`zoo.interfaces.Session`; the runner hands it to the trainer through
``TrainContext.session``. A checkpoint holds its part under ``state.trainer``: the fields of the
:class:`~zoo.interfaces.Position`, the sampler's generator and state as the epoch began (``sampler_rng``,
``sampler``), how the carried state is stored (``carry``: ``"torch"`` or ``"numpy"`` for the tensors ``carry.0``,
``carry.1``, ..., null for none) and the schedule's state (``schedule``), with the fields of the trainer's own state
beside them. Its tensors are the engine's (``engine.*``), the carried state and the trainer's own. Every part is
checked against this run before any of it is restored; a damaged one is one line naming the problem.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from zoo.errors import Interrupted, UsageError
from zoo.interfaces import Position
from zoo.train.checkpoint import Checkpoint, Checkpoints, show
from zoo.train.checkpoint_check import Damage, check_tensor, integer, number, records

if TYPE_CHECKING:
    from zoo.interfaces import TrainContext, TrainSettings

__all__ = ["Session"]

_PARTS = ("sampler_rng", "sampler", "carry", "schedule")  # the session's fields of state.trainer beside the position
_RESERVED = ("engine.", "carry.", "rng.")  # the tensors the session and the runner write; the rest are the trainer's
Check = Callable[[Any, Position, dict[str, torch.Tensor]], None]  # refuses a damaged state of the trainer's own


class Session:
    """A trainer's run, exactly resumable and agreed across processes (see :class:`zoo.interfaces.Session`).

    :param ctx: the run's context.
    :param checkpoints: where checkpoints go, the one the run resumes and the stop requests.
    :param engine_rng: the generator of the engine's randomness (dropout masks).
    :param settings: the engine's update rule.
    :param epochs: the epochs the run trains for.
    :param state: the trainer's own dataclass of JSON values, fresh (``None``: it keeps none).
    :param check: ``check(state, at, tensors)`` refuses a damaged state of the trainer's own in a resumed checkpoint
        (``ValueError``).
    """

    def __init__(
        self,
        ctx: TrainContext,
        checkpoints: Checkpoints,
        engine_rng: np.random.Generator,
        settings: TrainSettings,
        *,
        epochs: int,
        state: Any = None,
        check: Check | None = None,
    ):
        self._ctx, self._checkpoints, self._settings, self._last = ctx, checkpoints, settings, epochs
        self.engine = ctx.backend.engine(ctx.model, settings, engine_rng)
        self.schedule = ctx.recipe.schedule.build()
        self.at, self.state, self.tensors = Position(), state, {}
        self._carry: Any = None
        self._ended: int | None = None  # the last epoch this process ended, for the checkpoint's "where"
        if checkpoints.resumed is None:
            self._sampler_rng, self._sampler_state = ctx.rng.bit_generator.state, ctx.sampler.state_dict()
        else:
            self._restore(checkpoints.resumed, check)
            if self.at.lr is not None and self.at.lr != settings.lr:  # resumed after a schedule changed it
                self._tell(self.at.lr)

    # -- training --------------------------------------------------------------------------------------------------

    def epochs(self) -> Iterator[int]:
        """See :meth:`zoo.interfaces.Session.epochs`."""
        ctx = self._ctx
        while self.at.epoch <= self._last:
            epoch = self.at.epoch
            ctx.rng.bit_generator.state = self._sampler_rng
            if self._sampler_state is not None:
                ctx.sampler.load_state_dict(self._sampler_state)
            yield epoch
            if self.at.epoch == epoch:
                self.end_epoch()

    def batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """See :meth:`zoo.interfaces.Session.batches`."""
        done = self.at.batch
        for b, batch in enumerate(self._ctx.sampler.batches(self._ctx.corpus, self._ctx.rng), start=1):
            if b > done:
                yield batch

    def step(self, X: np.ndarray, Y: np.ndarray) -> tuple[float, str | None]:
        """See :meth:`zoo.interfaces.Session.step`."""
        loss, self._carry = self.engine.train_step(X, Y, self._carry if self._ctx.sampler.carries_state else None)
        loss, stop = self._ctx.world.agree(loss, self._checkpoints.stop_requested)  # the whole batch's loss
        self.at.batch += 1
        self.at.steps += 1
        return loss, stop

    def set_lr(self, lr: float) -> None:
        """See :meth:`zoo.interfaces.Session.set_lr`."""
        if lr != (self._settings.lr if self.at.lr is None else self.at.lr):
            self._tell(lr)
        self.at.lr = lr

    def _tell(self, lr: float) -> None:
        """Give the engine a learning rate; one line for a backend whose engine cannot take it."""
        try:
            self.engine.set_lr(lr)
        except NotImplementedError:
            raise UsageError(
                f"backend '{self._ctx.recipe.backend.name}' cannot change the learning rate during a run "
                "(its engine has no set_lr); use schedule: constant"
            ) from None

    def agree_loss(self, loss: float) -> float:
        """See :meth:`zoo.interfaces.Session.agree_loss`."""
        return self._ctx.world.agree(loss, None)[0]

    def agree_stop(self) -> str | None:
        """See :meth:`zoo.interfaces.Session.agree_stop`."""
        return self._ctx.world.agree(0.0, self._checkpoints.stop_requested)[1]

    def end_epoch(self, stop: bool = False) -> None:
        """See :meth:`zoo.interfaces.Session.end_epoch`."""
        self._ended = self.at.epoch
        self.at.epoch = self._last + 1 if stop else self.at.epoch + 1
        self.at.batch = 0
        self._sampler_rng, self._sampler_state = self._ctx.rng.bit_generator.state, self._ctx.sampler.state_dict()
        self._carry = None

    # -- checkpoints -----------------------------------------------------------------------------------------------

    def save(self, stop: str | None = None) -> None:
        """See :meth:`zoo.interfaces.Session.save`."""
        ctx = self._ctx
        tensors = {f"engine.{k}": v for k, v in self.engine.state_dict().items()} | self.tensors
        carry = None
        if self._carry is not None and ctx.sampler.carries_state:
            carry = "numpy" if isinstance(self._carry[0], np.ndarray) else "torch"
            whole = ctx.world.gather(self._carry) if carry == "torch" else self._carry  # every process's rows
            tensors |= {f"carry.{i}": torch.as_tensor(c) for i, c in enumerate(whole)}
        state = dataclasses.asdict(self.at) | {
            "sampler_rng": self._sampler_rng,
            "sampler": self._sampler_state,
            "carry": carry,
            "schedule": self.schedule.state_dict(),
        }
        if self.state is not None:
            state |= dataclasses.asdict(self.state)
        where = self._where()
        self._checkpoints.save(state, tensors, where)
        if stop:
            raise Interrupted(f"stopped by {stop} at {where} after writing a checkpoint")

    def _where(self) -> str:
        """The position in words, for messages: "epoch 3, batch 12", or "the end of epoch 2"."""
        if self.at.batch:
            return f"epoch {self.at.epoch}, batch {self.at.batch}"
        return f"the end of epoch {self._ended}" if self._ended is not None else f"the start of epoch {self.at.epoch}"

    def _restore(self, ckpt: Checkpoint, check: Check | None) -> None:
        """Everything of ``ckpt`` the session and the trainer keep, all checked against this run before any of it is
        restored; a damaged checkpoint is one line naming the problem."""
        ctx = self._ctx
        try:
            saved = self._read(ckpt.state.get("trainer"))
            own = {k: t for k, t in ckpt.tensors.items() if not k.startswith(_RESERVED)}
            if check is not None:
                try:
                    check(self.state, self.at, own)
                except ValueError as exc:
                    raise Damage(str(exc)) from None
            self._check_position(saved)
            self._check_engine(ckpt.tensors)
            parts = self._check_carry(ckpt.tensors, saved["carry"])
            try:
                self.schedule.load_state_dict(saved["schedule"])
            except (ValueError, TypeError, KeyError) as exc:
                raise Damage(f"trainer.schedule: {exc}") from None
        except Damage as exc:
            raise self._checkpoints.store.damaged(str(exc)) from None
        engine = {k.removeprefix("engine."): v for k, v in ckpt.tensors.items() if k.startswith("engine.")}
        self.engine.load_state_dict(engine)
        self.tensors = own
        self._sampler_rng, self._sampler_state = saved["sampler_rng"], saved["sampler"]
        if parts:
            self._carry = (
                tuple(t.numpy() for t in parts)
                if saved["carry"] == "numpy"
                else tuple(t.to(ctx.backend.device) for t in ctx.world.scatter(parts))
            )

    def _read(self, value: Any) -> dict[str, Any]:
        """``state.trainer`` with every field's type and range checked: the position and the trainer's state are read
        into :attr:`at` and :attr:`state`; the mapping is returned for the session's other parts."""
        if not isinstance(value, dict):
            raise Damage(f"state.trainer must be a mapping, got {show(value)}")
        position = [f.name for f in dataclasses.fields(Position)]
        mine = [f.name for f in dataclasses.fields(self.state)] if self.state is not None else []
        names = [*position, *_PARTS, *mine]
        if missing := [n for n in names if n not in value]:
            raise Damage(f"state.trainer lacks {', '.join(missing)}")
        if unknown := sorted(set(value) - set(names)):
            trainer = self._ctx.recipe.trainer.name
            raise Damage(f"state.trainer holds {show(unknown[0])}, which the {trainer} trainer does not write")
        at = Position(**{n: value[n] for n in position})
        integer(at.epoch, "trainer.epoch", 1)
        integer(at.batch, "trainer.batch", 0)
        integer(at.steps, "trainer.steps", at.batch)
        if not isinstance(value["sampler_rng"], dict):
            raise Damage(f"trainer.sampler_rng must be a generator's state, got {show(value['sampler_rng'])}")
        if value["sampler"] is not None and not isinstance(value["sampler"], dict):
            raise Damage(f"trainer.sampler must be a mapping or null, got {show(value['sampler'])}")
        if value["carry"] not in (None, "torch", "numpy"):
            raise Damage(f'trainer.carry must be "torch", "numpy" or null, got {show(value["carry"])}')
        records(at.records, "trainer.records")
        if not isinstance(value["schedule"], dict):
            raise Damage(f"trainer.schedule must be a mapping, got {show(value['schedule'])}")
        if at.lr is not None:
            number(at.lr, "trainer.lr", 0)
        self.at = at
        if self.state is not None:
            self.state = type(self.state)(**{n: value[n] for n in mine})
        return value

    def _check_position(self, saved: dict[str, Any]) -> None:
        """Where the checkpoint stands fits this run's epochs, batches, generator and sampler."""
        ctx, at = self._ctx, self.at
        integer(at.epoch, "trainer.epoch", 1, self._last + 1)
        integer(at.batch, "trainer.batch", 0, ctx.sampler.num_batches(ctx.corpus))
        try:
            type(ctx.rng.bit_generator)().state = saved["sampler_rng"]  # on a throwaway generator of the run's kind
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise Damage(f"trainer.sampler_rng is not a state of the run's generator: {exc}") from None
        fresh, state = ctx.sampler.state_dict(), saved["sampler"]
        if (fresh is None) != (state is None) or (fresh is not None and set(fresh) != set(state)):
            want = "null" if fresh is None else f"a mapping of {', '.join(sorted(fresh))}"
            raise Damage(f"trainer.sampler must be {want} for sampler '{ctx.recipe.sampler.name}', got {show(state)}")
        if fresh is not None:
            try:
                copy.deepcopy(ctx.sampler).load_state_dict(state)  # on a copy: nothing is restored before every check
            except (ValueError, TypeError, KeyError) as exc:
                raise Damage(f"trainer.sampler: {exc}") from None

    def _check_engine(self, tensors: dict[str, torch.Tensor]) -> None:
        """The ``engine.*`` tensors are what this run's freshly built engine holds (names, shapes, dtypes), plus
        optimizer moments named ``optimizer.<weight>.<moment>``, as both built-in engines write them, for every weight
        or none."""
        fresh = self.engine.state_dict()
        for name, t in fresh.items():
            check_tensor(tensors, f"engine.{name}", tuple(t.shape), t.dtype)
        weights = {k.removeprefix("model."): t for k, t in fresh.items() if k.startswith("model.")}
        moments: dict[str, set[str]] = {}
        for key, t in tensors.items():
            name = key.removeprefix("engine.")
            if not key.startswith("engine.") or name in fresh:
                continue
            weight, _, moment = name.removeprefix("optimizer.").rpartition(".")
            if not name.startswith("optimizer.") or weight not in weights:
                raise Damage(f"the tensor {key} is not part of this model's training state")
            if moment == "step":
                if t.shape or not (t.is_floating_point() or t.dtype == torch.int64):
                    raise Damage(
                        f"the tensor {key} must be a single number, got {str(t.dtype).removeprefix('torch.')} "
                        f"of shape {tuple(t.shape)}"
                    )
            else:
                check_tensor(tensors, key, tuple(weights[weight].shape), weights[weight].dtype)
            moments.setdefault(weight, set()).add(moment)
        if moments and (len(moments) != len(weights) or len({frozenset(m) for m in moments.values()}) > 1):
            raise Damage("the optimizer's moments do not cover every weight alike")
        optimizer, steps = self._settings.optimizer, self.at.steps
        if bool(moments) != (optimizer == "adam" and steps > 0):
            raise Damage(
                f"the optimizer's moments are {'present' if moments else 'missing'} after trainer.steps "
                f"{steps} of trainer.optimizer {optimizer}"
            )

    def _check_carry(self, tensors: dict[str, torch.Tensor], stored: Any) -> tuple[torch.Tensor, ...]:
        """The carried state's tensors ``carry.0``, ``carry.1``, ... (none where nothing is carried), checked against
        the model."""
        ctx, batch = self._ctx, self.at.batch
        carries = ctx.sampler.carries_state and batch > 0  # mid-epoch with a sampler that carries state
        kind = "numpy" if ctx.backend.name == "numpy" else "torch"
        if stored != (kind if carries else None):
            raise Damage(
                f"trainer.carry must be {show(kind if carries else None)} at batch {batch} of sampler "
                f"'{ctx.recipe.sampler.name}' on backend {ctx.backend.name}, got {show(stored)}"
            )
        names = sorted(k for k in tensors if k.startswith("carry."))
        want = [f"carry.{i}" for i in range(ctx.model.cell.num_states)] if carries else []
        if names != sorted(want):
            raise Damage(
                f"the carried state must be the tensors {', '.join(want) or 'none'}, got {', '.join(names) or 'none'}"
            )
        if not carries:
            return ()
        rows = getattr(ctx.recipe.sampler.options, "batch_size", None)
        if rows is None:  # a sampler without batch_size: the rows the checkpoint holds
            rows = tensors["carry.0"].shape[1] if tensors["carry.0"].dim() == 3 else 0
        zero = ctx.model.begin_state(rows)[0]
        return tuple(check_tensor(tensors, name, tuple(zero.shape), zero.dtype) for name in want)
