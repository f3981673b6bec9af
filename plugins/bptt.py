"""The ``bptt`` trainer: truncated backpropagation through time, as in d2l §8.5/§9."""

from __future__ import annotations

import copy
import dataclasses
import math
import shutil
import sys
import time
from typing import Any, Literal

import numpy as np
import torch
from tqdm import tqdm

import zoo
from zoo.errors import Interrupted, RunError, UsageError
from zoo.interfaces import TrainContext, TrainSettings
from zoo.nn.evaluate import score
from zoo.nn.model import prediction_scope
from zoo.options import option
from zoo.train.checkpoint import show
from zoo.train.checkpoint_check import Damage, check_tensor, integer, number, records


def perplexity(loss: float) -> float:
    """exp of a mean per-token loss in nats; ``math.inf`` where it overflows a float (a loss above about 709.78).

    The trainer stops a run before such a loss reaches its metrics (see :meth:`BPTTTrainer.fit`), so
    ``metrics.jsonl`` never holds ``Infinity``, which JSON has no word for.
    """
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


@dataclasses.dataclass
class EarlyStop:
    """``trainer.early_stop``: when to give up on a validation loss that no longer falls."""

    patience: int = option(3, "stop after this many evaluations in a row without an improvement of min_delta")
    min_delta: float = option(0.0, "an improvement smaller than this (nats per token) counts as none")

    def validate(self) -> list[str]:
        """``patience`` ≥ 1, ``min_delta`` ≥ 0."""
        problems = []
        if self.patience < 1:
            problems.append(f"patience: must be at least 1, got {self.patience}")
        if self.min_delta < 0:
            problems.append(f"min_delta: must be zero or more, got {self.min_delta}")
        return problems


@dataclasses.dataclass
class BPTTOptions:
    """Options of the ``bptt`` trainer."""

    optimizer: Literal["sgd", "adam"] = option("adam", "sgd (plain, as d2l's scratch code) or adam")
    lr: float = option(0.01, "learning rate")
    epochs: int = option(10, "passes over the training corpus")
    clip_norm: float | None = option(None, "rescale gradients whose global L2 norm exceeds this (d2l grad_clipping)")
    clip_value: float | None = option(None, "clamp every gradient entry to [-v, v] (the dinosaur exercise)")
    loss_reduction: Literal["mean", "sum"] = option("mean", "minimise the mean loss per token, or the sum over each sequence's steps (the dinosaur exercise)")
    max_steps: int | None = option(None, "stop after this many optimizer steps, mid-epoch if need be")
    stop_after: int | None = option(None, "stop after this many epochs, the schedule still spanning all of them (zoo verify checks early epochs so)")
    smoothing: float | None = option(None, "also report an exponential moving average of the per-sequence loss with this decay (the dinosaur exercise: 0.999)")
    smoothing_init: float | None = option(None, "the average's starting value (default: the first batch's loss)")
    checkpoint_every: int | None = option(1, "write a checkpoint for `zoo run --resume` every this many checkpoint_units, and at the end (null: only on Ctrl-C or SIGTERM)")
    checkpoint_unit: Literal["epochs", "batches"] = option("epochs", "what checkpoint_every counts: epochs, or batches (optimizer steps)")
    eval_every: int | None = option(None, "also score the validation split every this many optimizer steps (it is always scored at the end of each epoch)")
    keep: Literal["last", "best"] = option("last", "the weights model.safetensors holds: the last step's, or those of the evaluation with the lowest validation loss")
    early_stop: EarlyStop | None = option(None, "stop once the validation loss has not improved by min_delta for patience evaluations")

    def validate(self) -> list[str]:
        """Problems with values out of range."""
        problems = []
        if self.eval_every is not None and self.eval_every < 1:
            problems.append(f"eval_every: must be at least 1 (or null), got {self.eval_every}")
        if self.checkpoint_every is not None and self.checkpoint_every < 1:
            problems.append(f"checkpoint_every: must be at least 1 (or null), got {self.checkpoint_every}")
        if self.stop_after is not None and self.stop_after < 1:
            problems.append(f"stop_after: must be at least 1 (or null), got {self.stop_after}")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append(f"max_steps: must be at least 1, got {self.max_steps}")
        if self.smoothing is not None and not 0 < self.smoothing < 1:
            problems.append(f"smoothing: must be in (0, 1), got {self.smoothing}")
        if self.lr <= 0:
            problems.append(f"lr: must be positive, got {self.lr}")
        if self.epochs < 1:
            problems.append(f"epochs: must be at least 1, got {self.epochs}")
        for key in ("clip_norm", "clip_value"):
            value = getattr(self, key)
            if value is not None and value <= 0:
                problems.append(f"{key}: must be positive (or null for no clipping), got {value}")
        return problems


class _Progress:
    """What a run shows while it trains. On a terminal: a bar over the epoch's batches with the epoch's running loss and
    perplexity (the mean over its batches so far, as the epoch's line computes it), and one line per finished epoch kept
    above the bar. Elsewhere: the epoch lines, and one line per validation pass within an epoch."""

    FORMAT = "{desc}  {n_fmt}/{total_fmt} batches |{bar:10}| {postfix[0]}  {elapsed}<{remaining}  {postfix[1]}"

    def __init__(self, enabled: bool, epochs: int):
        self.enabled, self.epochs = enabled, epochs
        self.valid: float | None = None  # the last validation loss, shown beside the training loss
        self.tty = enabled and sys.stderr.isatty()
        self.bar: tqdm | None = None

    def start(self, epoch: int, total: int, done: int) -> None:
        """Epoch ``epoch`` begins, or resumes after ``done`` of the ``total`` batches it will train on: a fresh bar on a terminal."""
        if self.tty:
            # a pty that reports a zero size (script, some CI runners) gets the 80×24 fallback: tqdm hides a bar given zero rows
            size = shutil.get_terminal_size()
            self.bar = tqdm(total=total, initial=done, desc=f"epoch {epoch}/{self.epochs}", bar_format=self.FORMAT, postfix=["", ""],
                            ncols=size.columns, nrows=size.lines, leave=False, file=sys.stderr)

    def batch(self, loss: float, tokens_per_s: float) -> None:
        """A batch is done; ``loss`` is the epoch's mean loss per token so far."""
        if self.bar is not None:
            valid = "" if self.valid is None else f"  valid {self.valid:.4f}"
            self.bar.postfix = [f"loss {loss:.4f}  ppl {perplexity(loss):.3f}{valid}", f"{tokens_per_s:,.0f} tok/s"]
            self.bar.update(1)
            if self.bar.n == self.bar.total:
                self.bar.refresh()  # the epoch's final figures stay on show while its validation split is scored

    def epoch(self, rec: dict[str, Any]) -> None:
        """An epoch is done: its line (training and validation loss, speed) replaces the bar and stays."""
        self.close()
        if self.enabled:
            valid = f"  valid loss {rec['valid_loss']:.4f}  perplexity {rec['valid_perplexity']:.3f}" if "valid_loss" in rec else ""
            print(f"epoch {rec['epoch']}/{self.epochs}  loss {rec['loss']:.4f}  perplexity {rec['perplexity']:.3f}{valid}  "
                  f"tokens/s {rec['tokens_per_s']:,.0f}  ({rec['seconds']:.2f} s)", file=sys.stderr, flush=True)

    def evaluation(self, rec: dict[str, Any]) -> None:
        """A validation pass: in the bar on a terminal; elsewhere a plain line when it falls within an epoch."""
        self.valid = rec["valid_loss"]
        if self.enabled and not self.tty and "batch" in rec:
            print(f"epoch {rec['epoch']}/{self.epochs}, batch {rec['batch']}  valid loss {rec['valid_loss']:.4f}  "
                  f"perplexity {rec['valid_perplexity']:.3f}", file=sys.stderr, flush=True)

    def write(self, text: str) -> None:
        """A line of its own (a sample, the early stop), above the bar if one is drawn."""
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Take the bar off the terminal."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def samples(ctx: TrainContext, max_pairs: int = 8) -> list[str]:
    """The periodic samples: labels of the first pairs for a labelling corpus, else continuations
    of the recipe's prefixes (none for a bidirectional language model, which cannot generate)."""
    model, vocab, p = ctx.backend.inference(ctx.model), ctx.corpus.vocab, ctx.recipe.predict.core
    with prediction_scope(model):
        if ctx.corpus.pairs is not None:
            return [f"{vocab.decode(x)} -> {ctx.predictor.label(model, vocab, vocab.decode(x))}" for x, _ in ctx.corpus.pairs[:max_pairs]]
        if model.options.bidirectional:
            return []
        lines = [ctx.predictor.generate(model, vocab, prefix, p.length, strategy=p.strategy, temperature=p.temperature, top_k=p.top_k,
                                        stop=p.stop) for prefix in p.prefixes]
    return [line.removesuffix(p.stop) if p.stop else line for line in lines]


@dataclasses.dataclass
class _State:
    """Where training stands between two batches: the JSON part of a checkpoint."""

    epoch: int = 1  # the epoch in progress
    batch: int = 0  # its batches done
    steps: int = 0  # optimizer steps over the whole run
    loss_sum: float = 0.0  # this epoch's summed per-token loss
    tokens: int = 0  # this epoch's tokens
    seconds: float = 0.0  # this epoch's training time before the current stretch (checkpoint writes excluded)
    smoothed: float | None = None
    sampler_rng: dict | None = None  # the sampler's generator when this epoch began
    sampler: dict | None = None  # the sampler's own state then
    carry: str | None = None  # "torch" or "numpy" when the carried state is stored as tensors carry.0, carry.1, ...
    records: list = dataclasses.field(default_factory=list)
    best: dict | None = None  # the evaluation with the lowest validation loss: its valid_loss, epoch, batch (0: the epoch's end), steps
    mark: float | None = None  # early stopping: the validation loss to improve on by min_delta
    stale: int = 0  # ... and the evaluations since it was set
    schedule: dict = dataclasses.field(default_factory=dict)  # the schedule's state_dict()
    lr: float | None = None  # the learning rate of the last optimizer step (null before the first)

    @classmethod
    def from_checkpoint(cls, value: Any) -> _State:
        """The state a checkpoint holds, every field's type and range checked; a :class:`~zoo.train.checkpoint_check.Damage` otherwise."""
        if not isinstance(value, dict):
            raise Damage(f"state.trainer must be a mapping, got {show(value)}")
        names = [f.name for f in dataclasses.fields(cls)]
        if missing := [n for n in names if n not in value]:
            raise Damage(f"state.trainer lacks {', '.join(missing)}")
        if unknown := sorted(set(value) - set(names)):
            raise Damage(f"state.trainer holds {show(unknown[0])}, which the bptt trainer does not write")
        st = cls(**value)
        integer(st.epoch, "trainer.epoch", 1)
        integer(st.batch, "trainer.batch", 0)
        integer(st.steps, "trainer.steps", st.batch)
        integer(st.tokens, "trainer.tokens", 0)
        number(st.loss_sum, "trainer.loss_sum", 0)
        number(st.seconds, "trainer.seconds", 0)
        if st.batch > 0 and st.tokens == 0:
            raise Damage(f"trainer.tokens must be > 0 after trainer.batch {st.batch} batches of this epoch, got 0")
        if st.batch == 0 and (st.tokens, st.loss_sum) != (0, 0):
            raise Damage(f"trainer.tokens and trainer.loss_sum must be 0 before the epoch's first batch, got {st.tokens} and {st.loss_sum}")
        if st.smoothed is not None:
            number(st.smoothed, "trainer.smoothed")
        if not isinstance(st.sampler_rng, dict):
            raise Damage(f"trainer.sampler_rng must be a generator's state, got {show(st.sampler_rng)}")
        if st.sampler is not None and not isinstance(st.sampler, dict):
            raise Damage(f"trainer.sampler must be a mapping or null, got {show(st.sampler)}")
        if st.carry not in (None, "torch", "numpy"):
            raise Damage(f"trainer.carry must be \"torch\", \"numpy\" or null, got {show(st.carry)}")
        records(st.records, "trainer.records")
        if st.best is not None:
            if not isinstance(st.best, dict) or set(st.best) != {"valid_loss", "epoch", "batch", "steps"}:
                raise Damage(f"trainer.best must be null or a mapping of valid_loss, epoch, batch, steps, got {show(st.best)}")
            number(st.best["valid_loss"], "trainer.best.valid_loss")
            integer(st.best["epoch"], "trainer.best.epoch", 1, st.epoch)
            integer(st.best["batch"], "trainer.best.batch", 0)
            integer(st.best["steps"], "trainer.best.steps", 0, st.steps)
        if st.mark is not None:
            number(st.mark, "trainer.mark")
        integer(st.stale, "trainer.stale", 0)
        if not isinstance(st.schedule, dict):
            raise Damage(f"trainer.schedule must be a mapping, got {show(st.schedule)}")
        if st.lr is not None:
            number(st.lr, "trainer.lr", 0)
        return st


def _sampler_state(sampler: Any) -> dict | None:
    return sampler.state_dict() if hasattr(sampler, "state_dict") else None


class BPTTTrainer:
    """Cross-entropy over every position, backprop through the batch's steps, clip, step.

    With a sampler that carries state, the state starts from zeros each epoch and
    is detached between batches; otherwise every batch starts from zeros.
    Perplexity is exp of the mean per-token loss over the epoch. A batch loss that is NaN, infinite,
    or so large that its perplexity overflows stops the run with a :class:`~zoo.errors.RunError`.

    Checkpoints (every ``checkpoint_every`` epochs or batches and at the end, unless it is null; and on
    SIGINT/SIGTERM) hold the engine's state, the carried state, the counters and
    the sampler's generator as it stood when the epoch began; resuming replays
    the epoch's batches up to the saved position without training on them.

    In a distributed run (``ctx.world``) each process trains on its rows of every batch; the
    batch losses are averaged across processes, a stop request on any process stops all of them
    at the same batch, and a checkpoint holds the carried state of every process's rows.
    """

    Options = BPTTOptions
    distributed = True

    def __init__(self, options: BPTTOptions | None = None):
        self.options = options or BPTTOptions()

    def _due(self, unit: str, count: int) -> bool:
        o = self.options
        return o.checkpoint_every is not None and o.checkpoint_unit == unit and count % o.checkpoint_every == 0

    @staticmethod
    def _save(ctx: TrainContext, engine: Any, st: _State, carry: Any, best: dict[str, torch.Tensor], where: str) -> None:
        tensors = {f"engine.{k}": v for k, v in engine.state_dict().items()} | {f"best.{k}": v for k, v in best.items()}
        st.carry = None
        if carry is not None and ctx.sampler.carries_state:
            st.carry = "numpy" if isinstance(carry[0], np.ndarray) else "torch"
            whole = ctx.world.gather(carry) if st.carry == "torch" else carry  # every process's rows: the whole batch's state
            tensors |= {f"carry.{i}": torch.as_tensor(c) for i, c in enumerate(whole)}
        ctx.checkpoints.save(dataclasses.asdict(st), tensors, where)

    def _restore(self, ctx: TrainContext, engine: Any, schedule: Any) -> tuple[_State, Any, dict[str, torch.Tensor]]:
        """The counters, engine state, carried state, schedule state and ``keep: best`` weights of
        ``ctx.checkpoints.resumed``, all checked against this run before any of it is restored; a damaged
        checkpoint is one line naming the problem."""
        ckpt = ctx.checkpoints.resumed
        try:
            st = _State.from_checkpoint(ckpt.state.get("trainer"))
            self._check_position(ctx, st)
            self._check_engine(engine, ckpt.tensors, st)
            parts = self._check_carry(ctx, ckpt.tensors, st)
            best = self._check_best(ctx, ckpt.tensors, st)
            try:
                schedule.load_state_dict(st.schedule)
            except (ValueError, TypeError, KeyError) as exc:
                raise Damage(f"trainer.schedule: {exc}") from None
        except Damage as exc:
            raise ctx.checkpoints.store.damaged(str(exc)) from None
        engine.load_state_dict({k.removeprefix("engine."): v for k, v in ckpt.tensors.items() if k.startswith("engine.")})
        carry = None
        if parts:
            carry = (tuple(t.numpy() for t in parts) if st.carry == "numpy"
                     else tuple(t.to(ctx.backend.device) for t in ctx.world.scatter(parts)))
        return st, carry, best

    def _check_best(self, ctx: TrainContext, tensors: dict[str, torch.Tensor], st: _State) -> dict[str, torch.Tensor]:
        """The ``best.*`` tensors: the model's weights (names, shapes, dtypes) once ``keep: best`` has seen an evaluation, else none."""
        names = sorted(k for k in tensors if k.startswith("best."))
        fresh = ctx.model.state_dict()
        want = [f"best.{k}" for k in fresh] if self.options.keep == "best" and st.best is not None else []
        if names != sorted(want):
            raise Damage(f"the kept best weights must be the tensors best.* of every weight (trainer.keep: {self.options.keep}, "
                         f"trainer.best {show(st.best)}), got {len(names)} such tensors")
        return {k: check_tensor(tensors, f"best.{k}", tuple(t.shape), t.dtype).to(t.device) for k, t in fresh.items()} if want else {}

    def _check_position(self, ctx: TrainContext, st: _State) -> None:
        """Where ``st`` stands fits this run's epochs, batches, generator and sampler."""
        o, batches = self.options, ctx.sampler.num_batches(ctx.corpus)
        integer(st.epoch, "trainer.epoch", 1, o.epochs + 1)
        integer(st.batch, "trainer.batch", 0, batches)
        if o.max_steps is not None and st.steps >= o.max_steps and st.batch == 0 and st.epoch <= o.epochs:
            raise Damage(f"trainer.steps {st.steps} reached trainer.max_steps before epoch {st.epoch} began")
        try:
            type(ctx.rng.bit_generator)().state = st.sampler_rng  # on a throwaway generator of the run's kind
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise Damage(f"trainer.sampler_rng is not a state of the run's generator: {exc}") from None
        fresh = _sampler_state(ctx.sampler)
        if (fresh is None) != (st.sampler is None) or (fresh is not None and set(fresh) != set(st.sampler)):
            want = "null" if fresh is None else f"a mapping of {', '.join(sorted(fresh))}"
            raise Damage(f"trainer.sampler must be {want} for sampler '{ctx.recipe.sampler.name}', got {show(st.sampler)}")
        if fresh is not None:
            try:
                copy.deepcopy(ctx.sampler).load_state_dict(st.sampler)  # on a copy: nothing is restored before every check passed
            except (ValueError, TypeError, KeyError) as exc:
                raise Damage(f"trainer.sampler: {exc}") from None

    def _check_engine(self, engine: Any, tensors: dict[str, torch.Tensor], st: _State) -> None:
        """The ``engine.*`` tensors are what this run's freshly built engine holds (names, shapes, dtypes), plus optimizer
        moments named ``optimizer.<weight>.<moment>``, as both built-in engines write them, for every weight or none."""
        fresh = engine.state_dict()
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
                    raise Damage(f"the tensor {key} must be a single number, got {str(t.dtype).removeprefix('torch.')} "
                                 f"of shape {tuple(t.shape)}")
            else:
                check_tensor(tensors, key, tuple(weights[weight].shape), weights[weight].dtype)
            moments.setdefault(weight, set()).add(moment)
        if moments and (len(moments) != len(weights) or len({frozenset(m) for m in moments.values()}) > 1):
            raise Damage("the optimizer's moments do not cover every weight alike")
        if bool(moments) != (self.options.optimizer == "adam" and st.steps > 0):
            raise Damage(f"the optimizer's moments are {'present' if moments else 'missing'} after trainer.steps {st.steps} of "
                         f"trainer.optimizer {self.options.optimizer}")

    @staticmethod
    def _check_carry(ctx: TrainContext, tensors: dict[str, torch.Tensor], st: _State) -> tuple[torch.Tensor, ...]:
        """The carried state's tensors ``carry.0``, ``carry.1``, ... (none where nothing is carried), checked against the model."""
        carries = ctx.sampler.carries_state and st.batch > 0  # mid-epoch with a sampler that carries state
        kind = "numpy" if ctx.backend.name == "numpy" else "torch"
        if st.carry != (kind if carries else None):
            raise Damage(f"trainer.carry must be {show(kind if carries else None)} at batch {st.batch} of sampler "
                         f"'{ctx.recipe.sampler.name}' on backend {ctx.backend.name}, got {show(st.carry)}")
        names = sorted(k for k in tensors if k.startswith("carry."))
        want = [f"carry.{i}" for i in range(ctx.model.cell.num_states)] if carries else []
        if names != sorted(want):
            raise Damage(f"the carried state must be the tensors {', '.join(want) or 'none'}, got {', '.join(names) or 'none'}")
        if not carries:
            return ()
        rows = getattr(ctx.recipe.sampler.options, "batch_size", None)
        if rows is None:  # a sampler without batch_size: the rows the checkpoint holds
            rows = tensors["carry.0"].shape[1] if tensors["carry.0"].dim() == 3 else 0
        zero = ctx.model.begin_state(rows)[0]
        return tuple(check_tensor(tensors, name, tuple(zero.shape), zero.dtype) for name in want)

    def check(self, corpus: Any, recipe: Any) -> bool:
        """Whether ``corpus`` has a validation split to score; one line when an option needs one and it has none.
        The runner calls this before it touches the run directory (see :class:`zoo.interfaces.Trainer`)."""
        o, valid = self.options, corpus.valid
        if valid is not None and len(valid) >= 2:
            return True
        needs = [name for name, on in (("trainer.keep: best", o.keep == "best"), ("trainer.early_stop", o.early_stop is not None),
                                       ("trainer.eval_every", o.eval_every is not None),
                                       (f"schedule: {recipe.schedule.name}", recipe.schedule.cls.needs_validation)) if on]
        if needs:
            raise UsageError(f"{', '.join(needs)} needs a validation split, and dataset '{recipe.dataset.name}' has none; "
                             "set dataset.valid_fraction (e.g. 0.1), or valid_path for a text dataset")
        return False

    @staticmethod
    def _validate(ctx: TrainContext, engine: Any) -> tuple[float, float]:
        """Score the validation split from a zero state (see :mod:`zoo.nn.evaluate`) on the run's backend: the mean loss
        the processes agree on (their weights are the same), and the seconds it took."""
        start = time.perf_counter()
        engine.sync()
        runner = ctx.backend.inference(ctx.model)
        runner.eval()
        with prediction_scope(runner):
            loss = score(runner, ctx.corpus.valid, len(ctx.corpus.vocab)).loss
        loss, _ = ctx.world.agree(loss, None)
        return loss, time.perf_counter() - start

    def _judge(self, st: _State, rec: dict[str, Any], schedule: Any, snapshot: Any) -> str | None:
        """Take in an evaluation's record: the best so far (its weights through ``snapshot`` for ``keep: best``), the
        schedule's view, and early stopping; returns the early stop's line, or ``None`` to go on."""
        o, loss = self.options, rec["valid_loss"]
        schedule.observe(loss)
        st.schedule = schedule.state_dict()
        if st.best is None or loss < st.best["valid_loss"]:
            st.best = {"valid_loss": loss, "epoch": rec["epoch"], "batch": rec.get("batch", 0), "steps": rec["steps"]}
            if o.keep == "best":
                snapshot()
        es = o.early_stop
        if es is None:
            return None
        if st.mark is None or loss < st.mark - es.min_delta:
            st.mark, st.stale = loss, 0
            return None
        st.stale += 1
        if st.stale < es.patience:
            return None
        at = f"epoch {st.best['epoch']}" + (f", batch {st.best['batch']}" if st.best["batch"] else "")
        return (f"early stop after {st.stale} evaluations without the validation loss improving by {es.min_delta:g} "
                f"(best {st.best['valid_loss']:.4f} at {at})")

    def fit(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs (or continue ``ctx.checkpoints.resumed``); see :meth:`zoo.interfaces.Trainer.fit`."""
        o = self.options
        settings = TrainSettings(o.optimizer, o.lr, o.clip_norm, o.clip_value, o.loss_reduction)
        schedule = ctx.recipe.schedule.cls(ctx.recipe.schedule.options)
        validating = self.check(ctx.corpus, ctx.recipe)
        engine = ctx.backend.engine(ctx.model, settings, ctx.engine_rng if ctx.engine_rng is not None else ctx.rng)
        ck, world = ctx.checkpoints, ctx.world
        best: dict[str, torch.Tensor] = {}  # keep: best's weights
        if ck is not None and ck.resumed is not None:
            st, carry, best = self._restore(ctx, engine, schedule)
        else:
            st, carry = _State(sampler_rng=ctx.rng.bit_generator.state, sampler=_sampler_state(ctx.sampler), schedule=schedule.state_dict()), None

        def snapshot() -> None:  # the weights as they are now (the engine was synced to score them)
            best.clear()
            best.update({k: v.detach().clone() for k, v in ctx.model.state_dict().items()})

        predict = ctx.recipe.predict.core
        batches = ctx.sampler.num_batches(ctx.corpus)
        total = min(o.epochs * batches, o.max_steps or o.epochs * batches)
        progress = _Progress(ctx.progress, o.epochs)
        limit = o.max_steps if o.max_steps is not None else math.inf
        if st.lr is not None and st.lr != o.lr:  # resumed after a schedule changed it
            self._set_lr(engine, st.lr, ctx)
        try:
            while st.epoch <= o.epochs:
                epoch = st.epoch
                ctx.rng.bit_generator.state = st.sampler_rng
                if st.sampler is not None:
                    ctx.sampler.load_state_dict(st.sampler)
                start = time.perf_counter()
                stop = st.steps >= limit
                progress.start(epoch, int(min(batches, limit - st.steps + st.batch)), st.batch)  # up to max_steps
                scored: dict[str, Any] | None = None  # an evaluation at this epoch's last step, which its end need not repeat
                for b, (X, Y) in enumerate(() if stop else ctx.sampler.batches(ctx.corpus, ctx.rng), start=1):
                    if b <= st.batch:
                        continue  # done before the checkpoint this run resumed from
                    lr = o.lr * schedule.factor(st.steps, epoch, total)
                    if lr != (o.lr if st.lr is None else st.lr):
                        self._set_lr(engine, lr, ctx)
                    st.lr = lr
                    value, carry = engine.train_step(X, Y, carry if ctx.sampler.carries_state else None)
                    value, halt = world.agree(value, ck.stop_requested if ck is not None else None)  # the whole batch's loss
                    if not math.isfinite(perplexity(value)):  # NaN, inf, or so large that its perplexity overflows
                        huge = " (its perplexity overflows)" if math.isfinite(value) else ""
                        raise RunError(f"loss became {value}{huge} at epoch {epoch}, batch {b}; lower trainer.lr or set "
                                       "trainer.clip_norm and run again (no weights were saved from this run; its last checkpoint is untouched)")
                    st.loss_sum += value * Y.size * world.size
                    st.tokens += Y.size * world.size
                    st.steps += 1
                    st.batch = b
                    if o.smoothing is not None:
                        seq_loss = value * Y.shape[1]  # per sequence, as the exercise reports it
                        st.smoothed = seq_loss if st.smoothed is None else st.smoothed * o.smoothing + seq_loss * (1 - o.smoothing)
                    progress.batch(st.loss_sum / st.tokens, st.tokens / (st.seconds + time.perf_counter() - start))
                    stop = st.steps >= limit
                    if validating and o.eval_every is not None and st.steps % o.eval_every == 0 and b < batches:
                        st.seconds += time.perf_counter() - start
                        loss, seconds = self._validate(ctx, engine)
                        scored = {"epoch": epoch, "batch": b, "steps": st.steps, "valid_loss": loss, "valid_perplexity": perplexity(loss),
                                  "valid_seconds": seconds, "lr": st.lr}
                        st.records.append(scored)
                        progress.evaluation(scored)
                        ctx.on_epoch(scored)
                        if line := self._judge(st, scored, schedule, snapshot):
                            progress.write(line)
                            stop = True
                        start = time.perf_counter()  # the evaluation is kept out of tokens/s
                    if ck is not None and (halt or self._due("batches", st.steps)):
                        st.seconds += time.perf_counter() - start
                        self._save(ctx, engine, st, carry, best, f"epoch {epoch}, batch {b}")
                        start = time.perf_counter()  # the write is kept out of tokens/s
                        self._stop_if_requested(halt, epoch, b)
                    if stop:
                        break
                seconds = st.seconds + time.perf_counter() - start
                mean = st.loss_sum / st.tokens
                rec = {"epoch": epoch, "loss": mean, "perplexity": perplexity(mean), "tokens_per_s": st.tokens / seconds, "seconds": seconds,
                       "steps": st.steps, "lr": o.lr if st.lr is None else st.lr}
                if o.smoothing is not None:
                    rec["smoothed_loss"] = st.smoothed
                line = None
                if scored is not None and scored["steps"] == st.steps:  # scored at this very step: the same numbers
                    rec |= {k: scored[k] for k in ("valid_loss", "valid_perplexity", "valid_seconds")}
                elif validating:
                    loss, valid_seconds = self._validate(ctx, engine)
                    rec |= {"valid_loss": loss, "valid_perplexity": perplexity(loss), "valid_seconds": valid_seconds}
                    line = self._judge(st, rec, schedule, snapshot)
                st.records.append(rec)
                if "valid_loss" in rec:
                    progress.evaluation(rec)
                progress.epoch(rec)
                ctx.on_epoch(rec)
                if line:
                    progress.write(line)
                    stop = True
                stop = stop or (o.stop_after is not None and epoch >= o.stop_after)
                if world.main and ((predict.every and epoch % predict.every == 0) or epoch == o.epochs or stop):
                    engine.sync()
                    for sample in (lines := samples(ctx)):
                        progress.write(f"  {sample}")
                    if lines:
                        ctx.on_samples(epoch, lines)
                st = _State(epoch=o.epochs + 1 if stop else epoch + 1, steps=st.steps, smoothed=st.smoothed, records=st.records,
                            sampler_rng=ctx.rng.bit_generator.state, sampler=_sampler_state(ctx.sampler), best=st.best, mark=st.mark,
                            stale=st.stale, schedule=st.schedule, lr=st.lr)
                carry = None
                finished = st.epoch > o.epochs
                _, halt = world.agree(0.0, ck.stop_requested if ck is not None else None)
                if ck is not None and (halt or self._due("epochs", epoch) or (finished and o.checkpoint_every is not None)):
                    self._save(ctx, engine, st, carry, best, f"the end of epoch {epoch}")
                    self._stop_if_requested(halt, epoch, None)
        finally:
            progress.close()
        engine.sync()
        if o.keep == "best" and best:
            ctx.model.load_state_dict(best)
            ctx.kept = next(r for r in st.records if r["steps"] == st.best["steps"] and "valid_loss" in r)
        return st.records

    @staticmethod
    def _set_lr(engine: Any, lr: float, ctx: TrainContext) -> None:
        """Give the engine the schedule's learning rate; one line for a backend whose engine cannot take it."""
        if not hasattr(engine, "set_lr"):
            raise UsageError(f"backend '{ctx.recipe.backend.name}' cannot change the learning rate during a run "
                             f"(its engine has no set_lr); use schedule: constant")
        engine.set_lr(lr)

    @staticmethod
    def _stop_if_requested(halt: str | None, epoch: int, batch: int | None) -> None:
        if halt:
            where = f"epoch {epoch}, batch {batch}" if batch is not None else f"the end of epoch {epoch}"
            raise Interrupted(f"stopped by {halt} at {where} after writing a checkpoint")


@zoo.hookimpl
def register_trainers(register):
    """Register ``bptt``."""
    register("bptt", BPTTTrainer)
