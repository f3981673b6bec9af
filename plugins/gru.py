"""The GRU cell (Cho et al., 2014; d2l §9.1), in torch.nn.GRU's equations and weight layout.

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

Gates are stacked r, z, n as in ``torch.nn.GRU``; ``r`` multiplies the recurrent
projection *including* its bias, which is where torch (and cuDNN) differ from
d2l's ``(r ⊙ h) W``.
"""

from __future__ import annotations

from zoo.plugin import Array, Cell, hookimpl, ops_for


class GRU(Cell):
    """Gated recurrent unit; ``impl: nn`` runs ``torch.nn.GRU``, ``impl: scratch`` and ``backend: numpy`` these
    equations."""

    gates = 3
    num_states = 1
    nn_module = "GRU"

    def forward_step(
        self, gx: Array, state: tuple[Array, ...], weight_hh: Array, bias_hh: Array
    ) -> tuple[Array, tuple[Array, ...], tuple]:
        """One step; ``gx`` is (N, 3H) holding the input projections of r, z, n."""
        xp = ops_for(gx)
        (h_prev,) = state
        gh = h_prev @ weight_hh.T + bias_hh  # (N, 3H): the three recurrent products in one
        x_r, x_z, x_n = xp.split(gx, 3)
        h_r, h_z, h_n = xp.split(gh, 3)
        r = xp.sigmoid(x_r + h_r)
        z = xp.sigmoid(x_z + h_z)
        n = xp.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * h_prev  # (N, H)
        return h, (h,), (h_prev, r, z, n, h_n)

    def backward_step(
        self, dh: Array, dstate: tuple[Array, ...], cache: tuple, weight_hh: Array
    ) -> tuple[Array, tuple[Array, ...], Array]:
        """Gradients of one step: ``(dgx, dstate_prev, dgh)``."""
        xp = ops_for(dh)
        h_prev, r, z, n, h_n = cache
        d = dh + dstate[0]
        dn_pre = d * (1 - z) * (1 - n * n)  # through n = tanh(x_n + r ⊙ h_n)
        dz_pre = d * (h_prev - n) * z * (1 - z)
        dr_pre = dn_pre * h_n * r * (1 - r)
        dgx = xp.cat([dr_pre, dz_pre, dn_pre])  # (N, 3H)
        dgh = xp.cat([dr_pre, dz_pre, dn_pre * r])  # r scales the recurrent n-projection
        dh_prev = d * z + dgh @ weight_hh
        return dgx, (dh_prev,), dgh


@hookimpl
def register_cells(register):
    """Register ``gru``."""
    register("gru", GRU)
