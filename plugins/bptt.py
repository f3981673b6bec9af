"""The ``bptt`` trainer: truncated backpropagation through time, as in d2l §8.5/§9."""

from __future__ import annotations

import dataclasses
import functools
import math
import shutil
import sys
import time
from typing import TYPE_CHECKING, Any, Literal

from tqdm import tqdm

from zoo.plugin import RunError, TrainContext, Trainer, TrainSettings, UsageError, hookimpl, option

if TYPE_CHECKING:
    import torch

    from zoo.plugin import Position, Session


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
    loss_reduction: Literal["mean", "sum"] = option(
        "mean", "minimise the mean loss per token, or the sum over each sequence's steps (the dinosaur exercise)"
    )
    max_steps: int | None = option(None, "stop after this many optimizer steps, mid-epoch if need be")
    stop_after: int | None = option(
        None, "stop after this many epochs, the schedule still spanning all of them (zoo verify checks early epochs so)"
    )
    smoothing: float | None = option(
        None,
        "also report an exponential moving average of the per-sequence loss with this decay (the dinosaur exercise: "
        "0.999)",
    )
    smoothing_init: float | None = option(None, "the average's starting value (default: the first batch's loss)")
    checkpoint_every: int | None = option(
        1,
        "write a checkpoint for `zoo run --resume` every this many checkpoint_units, and at the end (null: only on "
        "Ctrl-C or SIGTERM)",
    )
    checkpoint_unit: Literal["epochs", "batches"] = option(
        "epochs", "what checkpoint_every counts: epochs, or batches (optimizer steps)"
    )
    eval_every: int | None = option(
        None,
        "also score the validation split every this many optimizer steps (it is always scored at the end of each "
        "epoch)",
    )
    keep: Literal["last", "best"] = option(
        "last",
        "the weights model.safetensors holds: the last step's, or those of the evaluation with the lowest validation "
        "loss",
    )
    early_stop: EarlyStop | None = option(
        None, "stop once the validation loss has not improved by min_delta for patience evaluations"
    )

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
        """Epoch ``epoch`` begins, or resumes after ``done`` of the ``total`` batches it will train on: a fresh bar on a
        terminal."""
        if self.tty:
            # a pty that reports a zero size (script, some CI runners) gets the 80×24 fallback: tqdm hides a bar given
            # zero rows
            size = shutil.get_terminal_size()
            self.bar = tqdm(
                total=total,
                initial=done,
                desc=f"epoch {epoch}/{self.epochs}",
                bar_format=self.FORMAT,
                postfix=["", ""],
                ncols=size.columns,
                nrows=size.lines,
                leave=False,
                file=sys.stderr,
            )

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
            valid = (
                f"  valid loss {rec['valid_loss']:.4f}  perplexity {rec['valid_perplexity']:.3f}"
                if "valid_loss" in rec
                else ""
            )
            print(
                f"epoch {rec['epoch']}/{self.epochs}  loss {rec['loss']:.4f}  perplexity "
                f"{rec['perplexity']:.3f}{valid}  tokens/s {rec['tokens_per_s']:,.0f}  ({rec['seconds']:.2f} s)",
                file=sys.stderr,
                flush=True,
            )

    def evaluation(self, rec: dict[str, Any]) -> None:
        """A validation pass: in the bar on a terminal; elsewhere a plain line when it falls within an epoch."""
        self.valid = rec["valid_loss"]
        if self.enabled and not self.tty and "batch" in rec:
            print(
                f"epoch {rec['epoch']}/{self.epochs}, batch {rec['batch']}  valid loss {rec['valid_loss']:.4f}  "
                f"perplexity {rec['valid_perplexity']:.3f}",
                file=sys.stderr,
                flush=True,
            )

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
    from zoo.plugin import prediction_scope  # here, and the other torch helpers where used: ``zoo plugins`` needs none

    model, vocab, p = ctx.backend.inference(ctx.model), ctx.corpus.vocab, ctx.recipe.predict.core
    with prediction_scope(model):
        if ctx.corpus.pairs is not None:
            return [
                f"{vocab.decode(x)} -> {ctx.predictor.label(model, vocab, vocab.decode(x))}"
                for x, _ in ctx.corpus.pairs[:max_pairs]
            ]
        if model.options.bidirectional:
            return []
        lines = [
            ctx.predictor.generate(
                model,
                vocab,
                prefix,
                p.length,
                strategy=p.strategy,
                temperature=p.temperature,
                top_k=p.top_k,
                stop=p.stop,
            )
            for prefix in p.prefixes
        ]
    return [line.removesuffix(p.stop) if p.stop else line for line in lines]


@dataclasses.dataclass
class _State:
    """The trainer's own numbers between two batches, which a checkpoint holds beside the session's position."""

    loss_sum: float = 0.0  # this epoch's summed per-token loss
    tokens: int = 0  # this epoch's tokens
    seconds: float = 0.0  # this epoch's training time before the current stretch (checkpoint writes excluded)
    smoothed: float | None = None
    best: dict | None = (
        None  # the evaluation with the lowest validation loss: its valid_loss, epoch, batch (0: the epoch's end), steps
    )
    mark: float | None = None  # early stopping: the validation loss to improve on by min_delta
    stale: int = 0  # ... and the evaluations since it was set

    def check(self, at: Position) -> None:
        """Every field's type and range, where the checkpoint stands at ``at``; a
        :class:`~zoo.train.checkpoint_check.Damage` otherwise."""
        from zoo.plugin import Damage, integer, number, show

        integer(self.tokens, "trainer.tokens", 0)
        number(self.loss_sum, "trainer.loss_sum", 0)
        number(self.seconds, "trainer.seconds", 0)
        if at.batch > 0 and self.tokens == 0:
            raise Damage(f"trainer.tokens must be > 0 after trainer.batch {at.batch} batches of this epoch, got 0")
        if at.batch == 0 and (self.tokens, self.loss_sum) != (0, 0):
            raise Damage(
                f"trainer.tokens and trainer.loss_sum must be 0 before the epoch's first batch, "
                f"got {self.tokens} and {self.loss_sum}"
            )
        if self.smoothed is not None:
            number(self.smoothed, "trainer.smoothed")
        if self.best is not None:
            if not isinstance(self.best, dict) or set(self.best) != {"valid_loss", "epoch", "batch", "steps"}:
                raise Damage(
                    f"trainer.best must be null or a mapping of valid_loss, epoch, batch, steps, got {show(self.best)}"
                )
            number(self.best["valid_loss"], "trainer.best.valid_loss")
            integer(self.best["epoch"], "trainer.best.epoch", 1, at.epoch)
            integer(self.best["batch"], "trainer.best.batch", 0)
            integer(self.best["steps"], "trainer.best.steps", 0, at.steps)
        if self.mark is not None:
            number(self.mark, "trainer.mark")
        integer(self.stale, "trainer.stale", 0)


class BPTTTrainer(Trainer):
    """Cross-entropy over every position, backprop through the batch's steps, clip, step.

    With a sampler that carries state, the state starts from zeros each epoch and
    is detached between batches; otherwise every batch starts from zeros.
    Perplexity is exp of the mean per-token loss over the epoch. A batch loss that is NaN, infinite,
    or so large that its perplexity overflows stops the run with a :class:`~zoo.errors.RunError`.

    It trains through the run's :class:`~zoo.interfaces.Session`, which makes it resumable exactly: checkpoints
    (every ``checkpoint_every`` epochs or batches and at the end, unless it is null; and on SIGINT/SIGTERM) hold
    the session's part with this trainer's own numbers and the ``keep: best`` weights, and a resumed run replays
    the epoch's batches up to the saved position without training on them. In a distributed run (``ctx.world``)
    each process trains on its rows of every batch, and the session agrees on losses and stops.
    """

    Options = BPTTOptions
    distributed = True

    def __init__(self, options: BPTTOptions | None = None):
        self.options = options or BPTTOptions()

    def _due(self, unit: str, count: int) -> bool:
        o = self.options
        return o.checkpoint_every is not None and o.checkpoint_unit == unit and count % o.checkpoint_every == 0

    def _check_resumed(self, ctx: TrainContext, st: _State, at: Position, tensors: dict[str, torch.Tensor]) -> None:
        """This trainer's part of a resumed checkpoint: its numbers where the checkpoint stands, and the tensors
        ``best.*``: the model's weights (names, shapes, dtypes) once ``keep: best`` has seen an evaluation, else
        none."""
        from zoo.plugin import Damage, check_tensor, show

        st.check(at)
        o = self.options
        if o.max_steps is not None and at.steps >= o.max_steps and at.batch == 0 and at.epoch <= o.epochs:
            raise Damage(f"trainer.steps {at.steps} reached trainer.max_steps before epoch {at.epoch} began")
        names = sorted(k for k in tensors if k.startswith("best."))
        fresh = ctx.model.state_dict()
        want = [f"best.{k}" for k in fresh] if o.keep == "best" and st.best is not None else []
        if names != sorted(want):
            raise Damage(
                f"the kept best weights must be the tensors best.* of every weight (trainer.keep: {o.keep}, "
                f"trainer.best {show(st.best)}), got {len(names)} such tensors"
            )
        for k, t in fresh.items() if want else ():
            check_tensor(tensors, f"best.{k}", tuple(t.shape), t.dtype)

    @staticmethod
    def _has_validation(corpus: Any) -> bool:
        return corpus.valid is not None and len(corpus.valid) >= 2

    def check(self, corpus: Any, recipe: Any) -> None:
        """One line when an option needs a validation split to score and ``corpus`` has none (see
        :meth:`zoo.interfaces.Trainer.check`)."""
        o = self.options
        if self._has_validation(corpus):
            return
        needs = [
            name
            for name, on in (
                ("trainer.keep: best", o.keep == "best"),
                ("trainer.early_stop", o.early_stop is not None),
                ("trainer.eval_every", o.eval_every is not None),
                (f"schedule: {recipe.schedule.name}", recipe.schedule.cls.needs_validation),
            )
            if on
        ]
        if needs:
            raise UsageError(
                f"{', '.join(needs)} needs a validation split, and dataset '{recipe.dataset.name}' has none; "
                "set dataset.valid_fraction (e.g. 0.1), or valid_path for a text dataset"
            )

    @staticmethod
    def _validate(ctx: TrainContext, run: Session) -> tuple[float, float]:
        """Score the validation split from a zero state (see :mod:`zoo.nn.evaluate`) on the run's backend: the mean loss
        the processes agree on (their weights are the same), and the seconds it took."""
        from zoo.plugin import prediction_scope, score

        start = time.perf_counter()
        run.engine.sync()
        runner = ctx.backend.inference(ctx.model)
        runner.eval()
        with prediction_scope(runner):
            loss = score(runner, ctx.corpus.valid, len(ctx.corpus.vocab)).loss
        return run.agree_loss(loss), time.perf_counter() - start

    def _judge(self, st: _State, rec: dict[str, Any], schedule: Any, snapshot: Any) -> str | None:
        """Take in an evaluation's record: the best so far (its weights through ``snapshot`` for ``keep: best``), the
        schedule's view, and early stopping; returns the early stop's line, or ``None`` to go on."""
        o, loss = self.options, rec["valid_loss"]
        schedule.observe(loss)
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
        return (
            f"early stop after {st.stale} evaluations without the validation loss improving by {es.min_delta:g} "
            f"(best {st.best['valid_loss']:.4f} at {at})"
        )

    def fit(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs, or on from where a resumed run stopped (:meth:`zoo.interfaces.Trainer.fit`)."""
        o = self.options
        settings = TrainSettings(o.optimizer, o.lr, o.clip_norm, o.clip_value, o.loss_reduction)
        validating = self._has_validation(ctx.corpus)
        run = ctx.session(settings, epochs=o.epochs, state=_State(), check=functools.partial(self._check_resumed, ctx))
        at, st, world = run.at, run.state, ctx.world

        def snapshot() -> None:  # keep: best's weights as they are now (the engine was synced to score them)
            run.tensors = {f"best.{k}": v.detach().clone() for k, v in ctx.model.state_dict().items()}

        predict = ctx.recipe.predict.core
        batches = ctx.sampler.num_batches(ctx.corpus)
        total = min(o.epochs * batches, o.max_steps or o.epochs * batches)
        progress = _Progress(ctx.progress, o.epochs)
        limit = o.max_steps if o.max_steps is not None else math.inf
        try:
            for epoch in run.epochs():
                start = time.perf_counter()
                stop = at.steps >= limit
                progress.start(epoch, int(min(batches, limit - at.steps + at.batch)), at.batch)  # up to max_steps
                scored: dict[str, Any] | None = (
                    None  # an evaluation at this epoch's last step, which its end need not repeat
                )
                for X, Y in () if stop else run.batches():
                    run.set_lr(o.lr * run.schedule.factor(at.steps, epoch, total))
                    value, halt = run.step(X, Y)  # the whole batch's loss
                    b = at.batch
                    ctx.on_batch({"epoch": epoch, "batch": b, "steps": at.steps, "batch_loss": value, "lr": at.lr})
                    if not math.isfinite(perplexity(value)):  # NaN, inf, or so large that its perplexity overflows
                        huge = " (its perplexity overflows)" if math.isfinite(value) else ""
                        raise RunError(
                            f"loss became {value}{huge} at epoch {epoch}, batch {b}; lower trainer.lr or set "
                            "trainer.clip_norm and run again (no weights were saved from this run; its last checkpoint "
                            "is untouched)"
                        )
                    st.loss_sum += value * Y.size * world.size
                    st.tokens += Y.size * world.size
                    if o.smoothing is not None:
                        seq_loss = value * Y.shape[1]  # per sequence, as the exercise reports it
                        st.smoothed = (
                            seq_loss
                            if st.smoothed is None
                            else st.smoothed * o.smoothing + seq_loss * (1 - o.smoothing)
                        )
                    progress.batch(st.loss_sum / st.tokens, st.tokens / (st.seconds + time.perf_counter() - start))
                    stop = at.steps >= limit
                    if validating and o.eval_every is not None and at.steps % o.eval_every == 0 and b < batches:
                        st.seconds += time.perf_counter() - start
                        loss, seconds = self._validate(ctx, run)
                        scored = {
                            "epoch": epoch,
                            "batch": b,
                            "steps": at.steps,
                            "valid_loss": loss,
                            "valid_perplexity": perplexity(loss),
                            "valid_seconds": seconds,
                            "lr": at.lr,
                        }
                        at.records.append(scored)
                        progress.evaluation(scored)
                        ctx.on_epoch(scored)
                        if line := self._judge(st, scored, run.schedule, snapshot):
                            progress.write(line)
                            stop = True
                        start = time.perf_counter()  # the evaluation is kept out of tokens/s
                    if halt or self._due("batches", at.steps):
                        st.seconds += time.perf_counter() - start
                        run.save(halt)
                        start = time.perf_counter()  # the write is kept out of tokens/s
                    if stop:
                        break
                seconds = st.seconds + time.perf_counter() - start
                mean = st.loss_sum / st.tokens
                rec = {
                    "epoch": epoch,
                    "loss": mean,
                    "perplexity": perplexity(mean),
                    "tokens_per_s": st.tokens / seconds,
                    "seconds": seconds,
                    "steps": at.steps,
                    "lr": o.lr if at.lr is None else at.lr,
                }
                if o.smoothing is not None:
                    rec["smoothed_loss"] = st.smoothed
                line = None
                if scored is not None and scored["steps"] == at.steps:  # scored at this very step: the same numbers
                    rec |= {k: scored[k] for k in ("valid_loss", "valid_perplexity", "valid_seconds")}
                elif validating:
                    loss, valid_seconds = self._validate(ctx, run)
                    rec |= {"valid_loss": loss, "valid_perplexity": perplexity(loss), "valid_seconds": valid_seconds}
                    line = self._judge(st, rec, run.schedule, snapshot)
                at.records.append(rec)
                if "valid_loss" in rec:
                    progress.evaluation(rec)
                progress.epoch(rec)
                ctx.on_epoch(rec)
                if line:
                    progress.write(line)
                    stop = True
                stop = stop or (o.stop_after is not None and epoch >= o.stop_after)
                if world.main and ((predict.every and epoch % predict.every == 0) or epoch == o.epochs or stop):
                    run.engine.sync()
                    for sample in (lines := samples(ctx)):
                        progress.write(f"  {sample}")
                    if lines:
                        ctx.on_samples(epoch, lines)
                run.end_epoch(stop)
                st.loss_sum, st.tokens, st.seconds = 0.0, 0, 0.0
                halt = run.agree_stop()
                if halt or self._due("epochs", epoch) or (at.epoch > o.epochs and o.checkpoint_every is not None):
                    run.save(halt)
        finally:
            progress.close()
        run.engine.sync()
        best = {k.removeprefix("best."): v for k, v in run.tensors.items() if k.startswith("best.")}
        if o.keep == "best" and best:
            ctx.model.load_state_dict(best)
            ctx.kept = next(r for r in at.records if r["steps"] == st.best["steps"] and "valid_loss" in r)
        return at.records


@hookimpl
def register_trainers(register):
    """Register ``bptt``."""
    register("bptt", BPTTTrainer)
