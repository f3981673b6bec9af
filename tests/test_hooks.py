"""Every hook has a test named ``test_hook_<name>`` (datasette's convention), and here they are.

Each adds a component (or a command) through its hook, in a registry of zoo's own plugins and one inline plugin
(pluggy's fresh plugin manager per test), and uses it: a tiny run of a few hundred characters, a conformance check,
or the command line.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import math
import types
from pathlib import Path

import click
import pytest
from clitools import in_process
from test_registry import fake_entry_points
from zoo_plugins.backends import TorchBackend
from zoo_plugins.bptt import BPTTTrainer
from zoo_plugins.gru import GRU
from zoo_plugins.samplers import SequentialSampler
from zoo_plugins.torch_engine import TorchEngine

import zoo
import zoo.cli
from zoo import hookspecs
from zoo.plugin import (
    Corpus,
    Dataset,
    Inference,
    Logger,
    NoOptions,
    Predictor,
    RunEnd,
    RunStart,
    Schedule,
    Vocab,
    generate_batch,
    label,
    option,
    perplexity,
)
from zoo.registry import BUILTIN_DIST, Registry, get_registry
from zoo.testing import check_dataset, check_predictor
from zoo.train.rundir import RunDir

TESTS = Path(__file__).resolve().parent
HOOKS = sorted(name for name, spec in vars(hookspecs).items() if hasattr(spec, "zoo_spec"))


def test_every_hook_has_a_test_named_test_hook_name():
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in TESTS.rglob("test_*.py")]
    defined = {node.name for tree in trees for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert len(HOOKS) >= 8, HOOKS
    assert [hook for hook in HOOKS if f"test_hook_{hook}" not in defined] == []


def with_plugin(**hooks) -> Registry:
    """zoo's own plugins plus one inline plugin implementing ``hooks`` (``register_cells=...``)."""
    eps = importlib.metadata.entry_points(group="zoo")
    builtins = [ep.load() for ep in eps if ep.dist and ep.dist.name == BUILTIN_DIST]
    extra = types.SimpleNamespace(__name__="under_test", **{k: zoo.hookimpl(fn) for k, fn in hooks.items()})
    return Registry.from_plugins(*builtins, extra)


def train(tmp_path: Path, registry: Registry, **sections) -> zoo.RunResult:
    """A run of one epoch of a small RNN on a text file of 480 characters, with ``sections`` replacing the recipe's."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("hello world, hello zoo\n" * 20 + "hello plugins!\n", encoding="utf-8")
    recipe = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"name": "text", "path": str(corpus)},
        "sampler": {"name": "sequential", "batch_size": 4, "num_steps": 8},
        "model": {"cell": "rnn", "impl": "scratch", "hidden_size": 8},
        "backend": "torch",
        "trainer": {"name": "bptt", "epochs": 1, "lr": 1.0},
        "predict": {"prefixes": ["hello"], "length": 5},
        **sections,
    }
    return zoo.run(recipe, out=tmp_path / "run", registry=registry)


def test_hook_register_datasets(tmp_path):
    @dataclasses.dataclass
    class RepeatOptions:
        text: str = option("hello, to be or not to be ", "the text, repeated")
        times: int = option(30, "how many times")

    class Repeat(Dataset):
        """A corpus made of one text repeated."""

        Options = RepeatOptions

        def __init__(self, options: RepeatOptions | None = None):
            self.options = options or RepeatOptions()

        def load(self, data_dir: Path | None) -> Corpus:
            text = self.options.text * self.options.times
            vocab = Vocab.build(text)
            return Corpus(vocab.encode(text), vocab)

    reg = with_plugin(register_datasets=lambda register: register("repeat", Repeat))
    check_dataset("repeat", {"times": 3}, registry=reg)
    result = train(tmp_path, reg, dataset={"name": "repeat"})
    assert result.recipe.dataset.cls is Repeat and math.isfinite(result.final["loss"])


def test_hook_register_samplers(tmp_path):
    epochs: list[int] = []

    class Counted(SequentialSampler):
        """The sequential sampler, counting the epochs it is asked for."""

        def batches(self, corpus, rng):
            epochs.append(1)
            yield from super().batches(corpus, rng)

    reg = with_plugin(register_samplers=lambda register: register("counted", Counted))
    sampler = {"name": "counted", "batch_size": 4, "num_steps": 8}
    train(tmp_path, reg, sampler=sampler, trainer={"name": "bptt", "epochs": 2})
    assert len(epochs) == 2


def test_hook_register_cells(tmp_path):
    class Twin(GRU):
        """A GRU under another name."""

    reg = with_plugin(register_cells=lambda register: register("twin", Twin, aliases=("gemini",)))
    assert reg.get("cell", "gemini") is Twin
    result = train(tmp_path, reg, model={"cell": "twin", "impl": "scratch", "hidden_size": 8})
    assert result.recipe.model.cls is Twin
    assert zoo.load(result.run_dir, registry=reg).generate("hello", 5).startswith("hello")


def test_hook_register_backends(tmp_path):
    steps: list[int] = []

    class CountingEngine(TorchEngine):
        def train_step(self, X, Y, state):
            steps.append(X.shape[0])
            return super().train_step(X, Y, state)

    class Counting(TorchBackend):
        """The CPU backend, counting its training steps."""

        def engine(self, model, settings, rng):
            return CountingEngine(model, settings)

    reg = with_plugin(register_backends=lambda register: register("counting", Counting))
    result = train(tmp_path, reg, backend="counting")
    assert result.recipe.backend.cls is Counting
    assert steps and steps == [4] * len(steps)


def test_hook_register_trainers(tmp_path):
    fitted: list[str] = []

    class Recorded(BPTTTrainer):
        """The bptt trainer, recording the runs it trains."""

        def fit(self, ctx):
            fitted.append(ctx.recipe.name)
            return super().fit(ctx)

    reg = with_plugin(register_trainers=lambda register: register("recorded", Recorded))
    result = train(tmp_path, reg, trainer={"name": "recorded", "epochs": 1})
    assert fitted == ["tiny"] and result.final["epoch"] == 1


def test_hook_register_schedules(tmp_path):
    asked: list[tuple[int, int, int]] = []

    class Halved(Schedule):
        """Half of ``trainer.lr`` throughout."""

        Options = NoOptions
        needs_validation = False

        def __init__(self, options: NoOptions | None = None):
            self.options = options or NoOptions()

        def factor(self, step: int, epoch: int, total: int) -> float:
            asked.append((step, epoch, total))
            return 0.5

        def observe(self, valid_loss: float) -> None:
            """Nothing to learn."""

        def state_dict(self) -> dict:
            return {}

        def load_state_dict(self, state: dict) -> None:
            """Nothing to restore."""

    reg = with_plugin(register_schedules=lambda register: register("halved", Halved))
    train(tmp_path, reg, schedule={"name": "halved"}, trainer={"name": "bptt", "epochs": 2})
    total = asked[0][2]
    assert [a[0] for a in asked] == list(range(total)) and {a[1] for a in asked} == {1, 2}


def test_hook_register_loggers(tmp_path):
    calls: list[tuple] = []

    @dataclasses.dataclass
    class RecordingOptions:
        label: str = option("run", "what the tracker calls the run")

    class Recording(Logger):
        """Records what the runner tells it, every batch included."""

        Options = RecordingOptions
        batches = True

        def __init__(self, options: RecordingOptions | None = None):
            self.options = options or RecordingOptions()

        def start(self, run: RunStart, state: dict | None) -> None:
            calls.append(("start", run.name, run.resumed_at, state, run.params["trainer.epochs"]))

        def log(self, record: dict) -> None:
            calls.append(("log", record))

        def samples(self, epoch: int, steps: int, lines: list[str]) -> None:
            calls.append(("samples", epoch, steps, lines))

        def end(self, run: RunEnd) -> None:
            calls.append(("end", run.status, sorted(run.files), run.metrics))

        def state_dict(self) -> dict:
            return {"label": self.options.label}

    reg = with_plugin(register_loggers=lambda register: register("recording", Recording))
    result = train(tmp_path, reg, loggers={"recording": {"label": "mine"}}, trainer={"name": "bptt", "epochs": 2})
    steps = result.metrics[-1]["steps"]
    assert calls[0] == ("start", "tiny", None, None, 2)
    logged = [c[1] for c in calls if c[0] == "log"]
    assert [r for r in logged if "batch_loss" not in r] == result.metrics
    assert [r["steps"] for r in logged if "batch_loss" in r] == list(range(1, steps + 1))
    (sampled,) = [c for c in calls if c[0] == "samples"]  # predict.every 0: after the last epoch only
    assert sampled[:3] == ("samples", 2, steps) and sampled[3]
    assert (tmp_path / "run" / "samples.txt").read_text(encoding="utf-8") == "epoch 2\n" + "".join(
        f"{line}\n" for line in sampled[3]
    )
    assert calls[-1] == ("end", "finished", ["metrics", "plot", "recipe", "samples", "weights"], result.saved)
    saved = RunDir(tmp_path / "run").checkpoints.load().state["run"]["loggers"]
    assert saved == {"steps": steps, "loggers": {"jsonl": {}, "recording": {"label": "mine"}}}


def test_hook_register_predictors(tmp_path):
    calls: list[str] = []

    class Recorded(Predictor):
        """The default predictor's functions, recording which the run and the loaded model call."""

        Options = NoOptions

        def __init__(self, options: NoOptions | None = None):
            self.options = options or NoOptions()

        def generate(self, model: Inference, vocab: Vocab, prefix: str, num_tokens: int, **kwargs) -> str:
            calls.append("generate")
            return generate_batch(model, vocab, [prefix], num_tokens, **kwargs)[0]

        def perplexity(self, model: Inference, vocab: Vocab, text: str) -> float:
            calls.append("perplexity")
            return perplexity(model, vocab, text)

        def label(self, model: Inference, vocab: Vocab, text: str) -> str:
            calls.append("label")
            return label(model, vocab, text)

    reg = with_plugin(register_predictors=lambda register: register("recorded", Recorded))
    check_predictor("recorded", registry=reg)
    calls.clear()
    result = train(tmp_path, reg, predict={"name": "recorded", "prefixes": ["hello"], "length": 5})
    assert "generate" in calls, "the run's samples come from the recipe's predictor"
    model = zoo.load(result.run_dir, registry=reg)
    assert isinstance(model.predictor, Recorded)
    calls.clear()
    texts = model.generate(["hello", "zoo"], 4)  # Predictor.generate_batch's default: generate for each prefix
    assert [t[: len(p)] for t, p in zip(texts, ["hello", "zoo"])] == ["hello", "zoo"]
    assert calls == ["generate", "generate"]


HELLO = '''\
import click

from zoo.plugin import hookimpl


@hookimpl
def register_commands(cli):
    @cli.command("hello")
    @click.option("--name", default="zoo")
    def hello(name):
        """Say hello.

        Example: zoo hello --name you
        """
        click.echo(f"hello, {name}")
'''


@pytest.fixture
def hello_plugin(tmp_path, monkeypatch):
    """An installed plugin (a module behind a ``zoo`` entry point) whose ``register_commands`` adds ``zoo hello``;
    the command line and the installed registry are put back afterwards."""
    (tmp_path / "zoo_hello_test.py").write_text(HELLO, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = importlib.metadata.EntryPoint("hello", "zoo_hello_test", "zoo")
    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points([entry]))
    monkeypatch.setattr(zoo.cli.cli, "commands", dict(zoo.cli.cli.commands))
    get_registry.cache_clear()
    yield
    get_registry.cache_clear()


def test_hook_register_commands(hello_plugin):
    listed = in_process("--help")
    assert listed.returncode == 0 and "  hello " in listed.stdout, listed.stdout
    ran = in_process("hello", "--name", "plugins")
    assert (ran.returncode, ran.stdout, ran.stderr) == (0, "hello, plugins\n", "")
    assert isinstance(zoo.cli.cli.commands["hello"], click.Command)
