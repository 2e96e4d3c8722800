"""The recurrent cells written out gate by gate, equal to PyTorch's fused kernels given the same
weights (PyTorch's gate order and formulas, see the nn.LSTM / nn.GRU / nn.RNN docs).

Used for one-step generation (`CharRNN.step`, the sampler) and wherever inspection needs the gates.
Every function takes the input projection `gx = x @ W_ih^T + b_ih`, (B, G*H), computed by the
caller (for layer 0 it is a row lookup in a precomputed (V, G*H) table), and the previous state.
"""

from __future__ import annotations

import torch


def lstm_cell(
    gx: torch.Tensor,
    h: torch.Tensor,
    c: torch.Tensor,
    w_hh: torch.Tensor,
    b_hh: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """x_t (as gx: (B, 4H)), h_{t-1}, c_{t-1}: (B, H) -> h_t, c_t: (B, H) and the four gates.

    i = sigma(.), f = sigma(.), g = tanh(.), o = sigma(.); c_t = f*c_{t-1} + i*g; h_t = o*tanh(c_t).
    """
    z = torch.addmm(gx if b_hh is None else gx + b_hh, h, w_hh.t())
    i, f, g, o = z.chunk(4, dim=1)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = torch.addcmul(f * c, i, g)
    h = o * torch.tanh(c)
    return h, c, {"input": i, "forget": f, "cell": g, "output": o}


def gru_cell(
    gx: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x_t (as gx: (B, 3H)), h_{t-1}: (B, H) -> h_t: (B, H) and the gates.

    r = sigma(.), z = sigma(.), n = tanh(gx_n + r * (W_hn h + b_hn)); h_t = (1-z)*n + z*h_{t-1}.
    """
    gh = h @ w_hh.t()
    if b_hh is not None:
        gh = gh + b_hh
    xr, xz, xn = gx.chunk(3, dim=1)
    hr, hz, hn = gh.chunk(3, dim=1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    h = torch.lerp(n, h, z)  # (1-z)*n + z*h
    return h, {"reset": r, "update": z, "new": n}


def rnn_cell(
    gx: torch.Tensor, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor | None
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """x_t (as gx: (B, H)), h_{t-1}: (B, H) -> h_t = tanh(gx + W_hh h + b_hh): (B, H)."""
    z = torch.addmm(gx if b_hh is None else gx + b_hh, h, w_hh.t())
    return torch.tanh(z), {}


GATES = {"lstm": 4, "gru": 3, "rnn": 1}
