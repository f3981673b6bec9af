"""The LSTM cell (Hochreiter & Schmidhuber, 1997; d2l §9.2), in torch.nn.LSTM's equations and weight layout.

    i = σ(W_ii x + b_ii + W_hi h + b_hi)
    f = σ(W_if x + b_if + W_hf h + b_hf)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)
    o = σ(W_io x + b_io + W_ho h + b_ho)
    c' = f ⊙ c + i ⊙ g
    h' = o ⊙ tanh(c')

Gates are stacked i, f, g, o as in ``torch.nn.LSTM``; the state is ``(h, c)``.
"""

from __future__ import annotations

from zoo.plugin import Array, Cell, hookimpl, ops_for


class LSTM(Cell):
    """Long short-term memory; ``impl: nn`` runs ``torch.nn.LSTM``, ``impl: scratch`` and ``backend: numpy`` these
    equations."""

    gates = 4
    num_states = 2
    nn_module = "LSTM"

    def forward_step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple]:
        """One step; ``gx`` is (N, 4H) holding the input projections of i, f, g, o."""
        xp = ops_for(gx)
        h_prev, c_prev = state
        pre = gx + h_prev @ weight_hh.T + bias_hh  # (N, 4H): the four recurrent products in one
        i, f, g, o = xp.split(pre, 4)
        i, f, g, o = xp.sigmoid(i), xp.sigmoid(f), xp.tanh(g), xp.sigmoid(o)
        c = f * c_prev + i * g
        tc = xp.tanh(c)
        h = o * tc  # (N, H)
        return h, (h, c), (c_prev, i, f, g, o, tc)

    def backward_step(
        self, dh: Array, dstate: tuple[Array, ...], cache: tuple, weight_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx, dstate_prev, dgh)``; ``gx`` and ``gh`` enter alike, so ``dgh`` is ``dgx``."""
        xp = ops_for(dh)
        c_prev, i, f, g, o, tc = cache
        dh = dh + dstate[0]
        dc = dstate[1] + dh * o * (1 - tc * tc)  # c reaches the loss through h and through the next c
        dpre = xp.cat([dc * g * i * (1 - i), dc * c_prev * f * (1 - f), dc * i * (1 - g * g), dh * tc * o * (1 - o)])
        return dpre, (dpre @ weight_hh, dc * f), dpre


@hookimpl
def register_cells(register):
    """Register ``lstm``."""
    register("lstm", LSTM)
