"""The ``bptt`` trainer: truncated backpropagation through time, as in d2l §8.5/§9."""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time
from typing import Any, Literal

from tqdm import tqdm

import zoo
from zoo.errors import RunError
from zoo.interfaces import TrainContext, TrainSettings
from zoo.options import option


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
    smoothing: float | None = option(None, "also report an exponential moving average of the per-sequence loss with this decay (the dinosaur exercise: 0.999)")
    smoothing_init: float | None = option(None, "the average's starting value (default: the first batch's loss)")

    def validate(self) -> list[str]:
        """Problems with values out of range."""
        problems = []
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
    """A tqdm bar on a terminal; one plain line per epoch otherwise."""

    def __init__(self, enabled: bool, epochs: int, total: int):
        self.enabled, self.epochs = enabled, epochs
        self.tty = enabled and sys.stderr.isatty()
        # a pty that reports zero columns (script, some CI runners) gets the 80-column fallback
        self.bar = tqdm(total=total, unit="batch", ncols=shutil.get_terminal_size().columns, leave=True) if self.tty else None

    def batch(self, epoch: int, loss: float, tokens_per_s: float) -> None:
        if self.bar is not None:
            self.bar.set_description(f"epoch {epoch}/{self.epochs}", refresh=False)
            self.bar.set_postfix(loss=f"{loss:.4f}", ppl=f"{math.exp(min(loss, 50)):.3f}", tok_s=f"{tokens_per_s:,.0f}", refresh=False)
            self.bar.update(1)

    def epoch(self, rec: dict[str, Any]) -> None:
        if self.enabled and self.bar is None:
            print(f"epoch {rec['epoch']}/{self.epochs}  loss {rec['loss']:.4f}  perplexity {rec['perplexity']:.3f}  "
                  f"tokens/s {rec['tokens_per_s']:,.0f}  ({rec['seconds']:.2f} s)", file=sys.stderr, flush=True)

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def samples(ctx: TrainContext, max_pairs: int = 8) -> list[str]:
    """The periodic samples: labels of the first pairs for a labelling corpus, else continuations
    of the recipe's prefixes (none for a bidirectional language model, which cannot generate)."""
    model, vocab, p = ctx.backend.inference(ctx.model), ctx.corpus.vocab, ctx.recipe.predict.core
    if ctx.corpus.pairs is not None:
        return [f"{vocab.decode(x)} -> {ctx.predictor.label(model, vocab, vocab.decode(x))}" for x, _ in ctx.corpus.pairs[:max_pairs]]
    if model.options.bidirectional:
        return []
    lines = [ctx.predictor.generate(model, vocab, prefix, p.length, strategy=p.strategy, temperature=p.temperature, top_k=p.top_k,
                                    stop=p.stop) for prefix in p.prefixes]
    return [line.removesuffix(p.stop) if p.stop else line for line in lines]


class BPTTTrainer:
    """Cross-entropy over every position, backprop through the batch's steps, clip, step.

    With a sampler that carries state, the state starts from zeros each epoch and
    is detached between batches; otherwise every batch starts from zeros.
    Perplexity is exp of the mean per-token loss over the epoch.
    """

    Options = BPTTOptions

    def __init__(self, options: BPTTOptions | None = None):
        self.options = options or BPTTOptions()

    def fit(self, ctx: TrainContext) -> list[dict[str, Any]]:
        """Train for ``epochs`` epochs; see :meth:`zoo.interfaces.Trainer.fit`."""
        o = self.options
        engine = ctx.backend.engine(ctx.model, TrainSettings(o.optimizer, o.lr, o.clip_norm, o.clip_value, o.loss_reduction), ctx.rng)
        predict = ctx.recipe.predict.core
        total = o.epochs * ctx.sampler.num_batches(ctx.corpus)
        progress = _Progress(ctx.progress, o.epochs, min(total, o.max_steps or total))
        records = []
        steps, smoothed, stop = 0, o.smoothing_init, False
        try:
            for epoch in range(1, o.epochs + 1):
                start = time.perf_counter()
                loss_sum, tokens, state = 0.0, 0, None
                for b, (X, Y) in enumerate(ctx.sampler.batches(ctx.corpus, ctx.rng), start=1):
                    value, state = engine.train_step(X, Y, state if ctx.sampler.carries_state else None)
                    if not math.isfinite(value):
                        raise RunError(f"loss became {value} at epoch {epoch}, batch {b}; lower trainer.lr or set trainer.clip_norm "
                                       "(no weights were saved from this run)")
                    loss_sum += value * Y.size
                    tokens += Y.size
                    steps += 1
                    if o.smoothing is not None:
                        seq_loss = value * Y.shape[1]  # per sequence, as the exercise reports it
                        smoothed = seq_loss if smoothed is None else smoothed * o.smoothing + seq_loss * (1 - o.smoothing)
                    progress.batch(epoch, value, tokens / (time.perf_counter() - start))
                    if o.max_steps is not None and steps >= o.max_steps:
                        stop = True
                        break
                seconds = time.perf_counter() - start
                mean = loss_sum / tokens
                rec = {"epoch": epoch, "loss": mean, "perplexity": math.exp(mean), "tokens_per_s": tokens / seconds, "seconds": seconds, "steps": steps}
                if o.smoothing is not None:
                    rec["smoothed_loss"] = smoothed
                records.append(rec)
                progress.epoch(rec)
                ctx.on_epoch(rec)
                if (predict.every and epoch % predict.every == 0) or epoch == o.epochs or stop:
                    engine.sync()
                    for line in (lines := samples(ctx)):
                        progress.write(f"  {line}")
                    if lines:
                        ctx.on_samples(epoch, lines)
                if stop:
                    break
        finally:
            progress.close()
        engine.sync()
        return records


@zoo.hookimpl
def register_trainers(register):
    """Register ``bptt``."""
    register("bptt", BPTTTrainer)
