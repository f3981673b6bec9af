"""The NumPy stack's hand-written backpropagation through time equals torch autograd."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from test_cells import CELLS, new_cell

from zoo.nn.npstack import stack_backward, stack_forward
from zoo.nn.stack import CellStack

N, T, IN, H = 3, 4, 5, 6
CASES = list(itertools.product(CELLS, (1, 2), (False, True), ("ids", "floats")))


def reference(cell, layers, bidirectional, ids_input):
    """A torch CellStack, an input, an initial state and loss weights, all float64 and seeded."""
    torch.manual_seed(0)
    stack = CellStack(cell, IN, H, layers, bidirectional).double()
    g = torch.Generator().manual_seed(1)
    x = (
        torch.randint(0, IN, (N, T), generator=g)
        if ids_input
        else torch.randn(N, T, IN, generator=g, dtype=torch.float64, requires_grad=True)
    )
    dirs = 2 if bidirectional else 1
    state = tuple(torch.randn(layers * dirs, N, H, generator=g, dtype=torch.float64) for _ in range(cell.num_states))
    w_out = torch.randn(N, T, dirs * H, generator=g, dtype=torch.float64)
    w_state = tuple(torch.randn_like(s) for s in state)
    return stack, x, state, w_out, w_state


@pytest.mark.parametrize("cell, layers, bidirectional, inp", CASES, ids=["-".join(map(str, c)) for c in CASES])
def test_numpy_gradients_equal_autograd_in_float64(cell, layers, bidirectional, inp):
    c = new_cell(cell)
    stack, x, state, w_out, w_state = reference(c, layers, bidirectional, inp == "ids")
    out, final = stack(x, state)
    loss = (out * w_out).sum() + sum((f * w).sum() for f, w in zip(final, w_state))
    loss.backward()

    params = {k: v.detach().numpy() for k, v in stack.named_parameters()}
    dirs = 2 if bidirectional else 1
    x_np = x.numpy() if inp == "ids" else x.detach().numpy()
    np_out, np_final, cache = stack_forward(c, params, x_np, tuple(s.numpy() for s in state), layers, dirs)
    np.testing.assert_allclose(np_out, out.detach().numpy(), atol=1e-12, rtol=0)
    for a, b in zip(np_final, final):
        np.testing.assert_allclose(a, b.detach().numpy(), atol=1e-12, rtol=0)
    grads, dx = stack_backward(c, params, cache, w_out.numpy(), tuple(w.numpy() for w in w_state), layers, dirs)
    assert set(grads) == set(params)
    for name, p in stack.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), atol=1e-9, rtol=0, err_msg=name)
    if inp == "floats":
        np.testing.assert_allclose(dx, x.grad.numpy(), atol=1e-9, rtol=0)
    else:
        assert dx is None


@pytest.mark.parametrize("cell", CELLS)
def test_numpy_gradients_agree_with_finite_differences(cell):
    c = new_cell(cell)
    torch.manual_seed(0)
    params = {k: v.detach().numpy().copy() for k, v in CellStack(c, IN, H, 2, True).double().named_parameters()}
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, IN))
    state = tuple(rng.standard_normal((4, 2, H)) for _ in range(c.num_states))
    w = rng.standard_normal((2, 3, 2 * H))

    def loss() -> float:
        out, _, _ = stack_forward(c, params, x, state, 2, 2)
        return float((out * w).sum())

    _, _, cache = stack_forward(c, params, x, state, 2, 2)
    grads, _ = stack_backward(c, params, cache, w, None, 2, 2)
    eps = 1e-6
    for name in ("weight_hh_l0", "weight_ih_l1_reverse", "bias_hh_l1"):
        p = params[name].reshape(-1)
        for i in rng.choice(p.size, 5, replace=False):
            old = p[i]
            p[i] = old + eps
            up = loss()
            p[i] = old - eps
            down = loss()
            p[i] = old
            assert abs((up - down) / (2 * eps) - grads[name].reshape(-1)[i]) < 1e-6, (name, i)
