"""The minimal gated unit (Zhou, Wu, Zhang & Zhou, 2016), in the layout of torch.nn.GRU.

    f = σ(W_if x + b_if + W_hf h + b_hf)
    n = tanh(W_in x + b_in + f ⊙ (W_hn h + b_hn))
    h' = (1 − f) ⊙ h + f ⊙ n

One gate f serves as both GRU's reset gate (inside n) and its update gate (in
h'), so the blocks stacked in ``weight_ih``/``weight_hh`` are f, n: shapes
(2H, in) and (2H, H). As in torch's GRU, f multiplies the recurrent projection
including its bias. There is no torch.nn module for it (``impl: scratch``
only). The equations, written once for NumPy arrays and torch tensors, run in zoo's fused
torch layer and on the numpy backend, both with the hand-written backward step.
"""

from __future__ import annotations

from zoo.plugin import Array, Cell, hookimpl, ops_for


class MGU(Cell):
    """Minimal gated unit; ``impl: scratch`` and ``backend: numpy`` run these equations."""

    gates = 2
    num_states = 1
    nn_module = None

    def forward_step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple]:
        """One step; ``gx`` is (N, 2H) holding the input projections of f, n."""
        xp = ops_for(gx)
        (h_prev,) = state
        gh = h_prev @ weight_hh.T + bias_hh  # (N, 2H): both recurrent products in one
        x_f, x_n = xp.split(gx, 2)
        h_f, h_n = xp.split(gh, 2)
        f = xp.sigmoid(x_f + h_f)
        n = xp.tanh(x_n + f * h_n)
        h = (1 - f) * h_prev + f * n  # (N, H)
        return h, (h,), (h_prev, f, n, h_n)

    def backward_step(
        self, dh: Array, dstate: tuple[Array, ...], cache: tuple, weight_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx, dstate_prev, dgh)``, ``dgh`` reaching ``gh``."""
        xp = ops_for(dh)
        h_prev, f, n, h_n = cache
        d = dh + dstate[0]  # the output and the carried state are the same h
        dn_pre = d * f * (1 - n * n)  # through n = tanh(x_n + f ⊙ h_n)
        df_pre = (d * (n - h_prev) + dn_pre * h_n) * f * (1 - f)  # f reaches h' directly and through n
        dgx = xp.cat([df_pre, dn_pre])  # (N, 2H)
        dgh = xp.cat([df_pre, dn_pre * f])  # f scales the recurrent n-projection
        dh_prev = d * (1 - f) + dgh @ weight_hh
        return dgx, (dh_prev,), dgh


@hookimpl
def register_cells(register):
    """Register ``mgu``."""
    register("mgu", MGU)
