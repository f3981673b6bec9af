"""A model card written out: as ``zoo info`` prints it, and as a README in the layout of Hugging Face model cards
(YAML front matter with a ``model-index`` of the metrics, then sections)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zoo.hub.info import Card
from zoo.hub.shape import cell_label, model_shape

__all__ = ["card_text", "card_markdown", "architecture"]

_SPLITS = {"valid": "validation", "test": "test"}
_TASKS = {
    "next_token": ("text-generation", "Text Generation"),
    "labelling": ("token-classification", "Token Classification"),
}
_TASK_WORDS = {
    "next_token": "next-token prediction (text generation)",
    "labelling": "sequence labelling (a label per input token)",
}
_SHOWN_EPOCHS = 8  # a run records every epoch; the text shows this many of them


def architecture(recipe: dict[str, Any]) -> str:
    """``gru/nn bidirectional, 2 layers, hidden 256, onehot encoder, dense decoder``, from a recipe's model section (the
    defaults filled in where it is as written)."""
    if not isinstance(recipe.get("model"), dict) or not recipe["model"]:
        return "unknown (the recipe is not available)"
    m = model_shape(recipe)
    decoder = "no decoder (the hidden state is the logits)" if m["decoder"] == "none" else f"{m['decoder']} decoder"
    return ", ".join(
        [
            cell_label(m),
            f"{m['layers']} layer{'s' if m['layers'] != 1 else ''}",
            f"hidden {m['hidden_size']}",
            f"{m['encoder']} encoder",
            decoder,
        ]
    )


def _dataset(card: Card) -> str | None:
    section = card.recipe.get("dataset")
    return section.get("name") if isinstance(section, dict) else None


def _spread(table: dict[int, Any], most: int = _SHOWN_EPOCHS) -> dict[int, Any]:
    """At most ``most`` entries of an epoch table: the first two, the last, and evenly spaced ones between."""
    epochs = sorted(table)
    if len(epochs) <= most:
        return {e: table[e] for e in epochs}
    step = (len(epochs) - 3) / (most - 3)
    chosen = epochs[:2] + [epochs[2 + round(i * step)] for i in range(most - 3)] + epochs[-1:]
    return {e: table[e] for e in sorted(set(chosen))}


def _at(table: dict[int, Any]) -> str:
    return ", ".join(f"{e}: {v:.4g}" if v is not None else f"{e}: -" for e, v in _spread(table).items())


def _example(card: Card) -> str:
    """A text to continue (or label) in the usage example: the recipe's first prefix, or first pair's input."""
    predict, dataset = card.recipe.get("predict"), card.recipe.get("dataset")
    prefixes = [p for p in (predict.get("prefixes") or []) if p] if isinstance(predict, dict) else []
    pairs = dataset.get("pairs") if isinstance(dataset, dict) else None
    if card.task == "labelling" and pairs:
        return str(pairs[0][0])
    return prefixes[0] if prefixes else "TEXT"


def _where(card: Card) -> str:
    w = card.weights
    if w.location == "none":
        return "none here: train them with the command below"
    size = f" ({w.size:,} bytes, {w.dtype})" if w.size is not None else ""
    place = w.path if w.path is not None else w.url
    note = (
        "" if w.available else (" (not downloaded yet: zoo pull fetches them)" if w.location == "url" else " (missing)")
    )
    return f"{w.location}: {place}{size}{note}"


def _held_out(m: dict[str, Any]) -> list[tuple[str, str, float, int | None]]:
    """(split, metric, value, epoch) of each held-out figure the metrics hold."""
    rows = []
    for split, long in _SPLITS.items():
        for metric, what in (("loss", "loss (nats per token)"), ("perplexity", "perplexity")):
            if m.get(f"{split}_{metric}") is not None:
                rows.append((long, what, m[f"{split}_{metric}"], m["epoch"]))
    return rows


def card_text(card: Card) -> str:
    """The card as ``zoo info`` prints it: one fact per line, then the samples and the resolved recipe."""
    m = card.metrics
    at = f" at epoch {m['epoch']}" + (f", batch {m['batch']}" if m["batch"] else "") if m["epoch"] is not None else ""
    training = f"perplexity {m['perplexity']:.4f}{at}" if m["perplexity"] is not None else "not recorded"
    if m["epochs_trained"] is not None:
        training += f"; {m['epochs_trained']} epochs trained" + (
            f" in {m['seconds']} s" if m["seconds"] is not None else ""
        )
    held = "; ".join(
        f"{long} loss {m[f'{split}_loss']:.4f} nats per token (perplexity {m[f'{split}_perplexity']:.4f}){at}"
        for split, long in _SPLITS.items()
        if m[f"{split}_loss"] is not None and m[f"{split}_perplexity"] is not None
    )
    lines = [
        f"{card.name} ({card.source})" + (f": {card.description}" if card.description else ""),
        f"  model      {architecture(card.recipe)}"
        + (f"; {card.params:,} parameters" if card.params is not None else ""),
        f"  task       {card.task or 'unknown'}; dataset {_dataset(card) or 'unknown'}",
        f"  training   {training}",
    ]
    lines += [f"  by epoch   {_at(m['perplexity_at'])}"] if m["perplexity_at"] else []
    lines += [f"  held-out   {held or 'none (training figures only)'}"]
    lines += [f"  valid by epoch  {_at(m['valid_loss_at'])}"] if m["valid_loss_at"] else []
    lines += [
        f"  weights    {_where(card)}",
        f"  sha256     {card.weights.sha256 or '-'}",
        f"  versions   {', '.join(f'{k} {v}' for k, v in card.versions.items()) or '-'}",
        f"  reproduce  {card.reproduce or '-'}",
    ]
    if card.samples:
        lines += [
            f"samples (after epoch {card.samples_epoch}):" if card.samples_epoch else "samples:",
            *(f"  {s}" for s in card.samples),
        ]
    if card.recipe:
        lines += ["recipe (resolved):", *(f"  {line}" for line in _yaml(card.recipe).splitlines())]
    return "\n".join(lines)


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def _model_index(card: Card) -> list[dict[str, Any]]:
    """The ``model-index`` of the front matter: one result per split (training, then held out), as Hugging Face reads
    them."""
    m, task = card.metrics, _TASKS.get(card.task or "next_token", _TASKS["next_token"])
    dataset = _dataset(card) or "unknown"
    epoch = f" (epoch {m['epoch']})" if m["epoch"] is not None else ""
    results = []
    if m["perplexity"] is not None:
        results.append(
            ("train", [{"type": "perplexity", "value": m["perplexity"], "name": f"Training perplexity{epoch}"}])
        )
    for split, long in _SPLITS.items():
        figures = [
            {"type": metric, "value": m[f"{split}_{metric}"], "name": f"{long.capitalize()} {what}{epoch}"}
            for metric, what in (("loss", "loss, nats per token"), ("perplexity", "perplexity"))
            if m[f"{split}_{metric}"] is not None
        ]
        if figures:
            results.append((long, figures))
    if not results:
        return []
    return [
        {
            "name": card.name,
            "results": [
                {
                    "task": {"type": task[0], "name": task[1]},
                    "dataset": {"type": dataset, "name": dataset, "split": split},
                    "metrics": figures,
                }
                for split, figures in results
            ],
        }
    ]


def card_markdown(card: Card) -> str:
    """The card as a README for sharing, in the layout of Hugging Face model cards: YAML front matter (library_name,
    pipeline_tag, tags, datasets, model-index) then the model, its use, its evaluation, samples and training."""
    m, w = card.metrics, card.weights
    model = card.recipe.get("model") if isinstance(card.recipe.get("model"), dict) else {}
    level = (
        (card.recipe.get("dataset") or {}).get("level", "char")
        if isinstance(card.recipe.get("dataset"), dict)
        else "char"
    )
    front: dict[str, Any] = {
        "library_name": "rnn-zoo",
        "pipeline_tag": _TASKS.get(card.task or "next_token", _TASKS["next_token"])[0],
        "tags": list(dict.fromkeys(["zoo", "rnn", *([model["cell"]] if model.get("cell") else []), f"{level}-level"])),
    }
    if _dataset(card):
        front["datasets"] = [_dataset(card)]
    index = _model_index(card)
    if index:
        front["model-index"] = index
    ref = card.name if card.source == "catalog" else "model.safetensors"
    call = (
        f'label("{_example(card)}"))'
        if card.task == "labelling"
        else f'generate("{_example(card)}", 50))  # greedy; strategy="sample" samples'
    )
    lines = [
        "---",
        _yaml(front).rstrip(),
        "---",
        "",
        f"# {card.name}",
        "",
        card.description or "A recurrent language model trained with zoo.",
        "",
        "## Model details",
        "",
        "| | |",
        "|---|---|",
        f"| Architecture | {architecture(card.recipe)} |",
    ]
    lines += [f"| Parameters | {card.params:,} |"] if card.params is not None else []
    lines += [
        f"| Task | {_TASK_WORDS.get(card.task or '', 'unknown')} |",
        f"| Dataset | {_dataset(card) or 'unknown'} |",
    ]
    if w.location != "none":
        name = (
            w.url if w.path is None else Path(w.path).name
        )  # where the weights live here means nothing to a reader elsewhere
        lines += [f"| Weights | `{name}`" + (f" ({w.size:,} bytes, {w.dtype})" if w.size is not None else "") + " |"]
        lines += [f"| sha256 | `{w.sha256}` |"] if w.sha256 else []
    lines += [f"| Versions | {', '.join(f'{k} {v}' for k, v in card.versions.items())} |"] if card.versions else []
    lines += [
        "",
        "## How to use",
        "",
        "```python",
        "import zoo",
        "",
        f'model = zoo.load("{ref}")',
        f"print(model.{call}",
        "```",
    ]
    lines += ["", "## Evaluation", "", "| split | metric | value | epoch |", "|---|---|---|---|"]
    if m["perplexity"] is not None:
        lines.append(
            f"| training | perplexity | {m['perplexity']:.4f} | {m['epoch'] if m['epoch'] is not None else '-'} |"
        )
    lines += [
        f"| {split} | {what} | {value:.4f} | {epoch if epoch is not None else '-'} |"
        for split, what, value, epoch in _held_out(m)
    ]
    if _held_out(m):
        lines += [
            "",
            "Held-out figures are read from a zero state with the state carried through the whole split "
            "(as `zoo eval` scores them).",
        ]
    else:
        lines += ["", "Training perplexity only: the corpus held no data out."]
    if m["perplexity_at"]:
        lines += ["", f"Training perplexity by epoch: {_at(m['perplexity_at'])}."]
    if card.samples:
        lines += [
            "",
            "## Samples",
            "",
            f"Generated after epoch {card.samples_epoch}:" if card.samples_epoch else "Generated:",
            "",
            "```text",
            *card.samples,
            "```",
        ]
    if card.reproduce or card.recipe:
        lines += ["", "## Training", ""]
    if card.reproduce:
        made = (
            f" ({m['epochs_trained']} epochs"
            + (f", {m['seconds']} s" if m["seconds"] is not None else "")
            + " when these weights were made)"
        )
        lines += [f"Reproduce with `{card.reproduce}`{made if m['epochs_trained'] is not None else ''}.", ""]
    if card.recipe:
        lines += ["The resolved recipe (every default filled in):", "", "```yaml", _yaml(card.recipe).rstrip(), "```"]
    return "\n".join(lines) + "\n"
