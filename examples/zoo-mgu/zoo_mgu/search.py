"""Beam search on a zoo model: the ``beam`` predictor's computation, imported when it first predicts."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from zoo.plugin import NO_INPUT, Inference

__all__ = ["beam_search"]


@torch.no_grad()
def beam_search(model: Inference, ids: list[int], num_tokens: int, width: int, stop_id: int | None) -> list[int]:
    """The best continuation of ``ids`` (up to ``num_tokens`` tokens, ending early at ``stop_id``) kept among ``width``
    beams: they advance together as one batch, their states reordered after each step."""
    logits, state = model(torch.tensor([ids or [NO_INPUT]], device=model.device))  # warm-up on the prefix (1, P, V)
    beams: list[list[int]] = [[]]
    scores = torch.zeros(1, dtype=torch.float64)  # total log-probability of each beam
    finished: list[tuple[float, list[int]]] = []  # (mean log-probability per token, tokens)
    for step in range(num_tokens):
        logp = F.log_softmax(logits[:, -1].double().cpu(), dim=-1)  # (B, V)
        total = (scores[:, None] + logp).reshape(-1)  # (B*V,)
        top, flat = total.topk(min(width, total.numel()))
        keep_scores, keep_rows, keep_beams = [], [], []
        for score, index in zip(top.tolist(), flat.tolist()):
            row, token = divmod(index, logp.shape[1])
            beam = beams[row] + [token]
            if token == stop_id or step + 1 == num_tokens:
                finished.append((score / len(beam), beam))
            else:
                keep_scores.append(score)
                keep_rows.append(row)
                keep_beams.append(beam)
        if not keep_beams:
            break
        rows = torch.tensor(keep_rows, device=model.device)
        state = tuple(s.index_select(1, rows) for s in state)  # each (layers*directions, B, H)
        scores, beams = torch.tensor(keep_scores, dtype=torch.float64), keep_beams
        logits, state = model(torch.tensor([[b[-1]] for b in beams], device=model.device), state)  # (B, 1, V)
    return max(finished, key=lambda f: f[0])[1] if finished else []
