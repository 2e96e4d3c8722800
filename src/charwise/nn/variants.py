"""Cell variants that have no fused kernel: layer normalisation inside the cell, the
Mogrifier's input / state gating and the multiplicative LSTM, written out step by step around
the fused module's weights.

- Layer normalisation (Ba et al. 2016, "Layer Normalization"; LN-LSTM, LN-GRU): each gate
  block of the input term W_ih x and of the recurrent term W_hh h is normalised over its H
  units, scaled by a learned gain (one per row, starting at 1) and shifted by the fused module's
  own bias (b_ih, b_hh), so the checkpoint keeps every fused weight and gains only the gains.
  An LSTM also normalises its cell state before the output tanh: h = o * tanh(LN(c)).
- Mogrifier (Melis, Kocisky & Blunsom 2020, "Mogrifier LSTM"): before each step the layer's
  input x and previous state h gate each other for `rounds` rounds,
      odd round i:  x <- 2 sigmoid(Q_i h) * x        even round i:  h <- 2 sigmoid(R_i x) * h,
  then the ordinary cell runs on the mogrified x and h. Q_i (in, H) and R_i (H, in) are low
  rank (`rank`; 0: full), as in the paper's larger models; with Q = R = 0 the gates are 1 and
  the cell is the plain one. The paper's cell is an LSTM, whose carried memory is c: the
  mogrified h only feeds the gates. A GRU's (or RNN's) carried memory is h itself, so there too
  the mogrified h feeds only the recurrent term and the GRU interpolates with the h it was given:
  h_t = (1-z) n + z h_{t-1}. Carrying the mogrified h (up to 2 h a step) made h grow without
  bound over a long text (NaN in validation).
- Multiplicative LSTM (Krause, Lu, Murray & Renals 2016, "Multiplicative LSTM for sequence
  modelling"): the gates read m = (W_mx x) * (W_mh h_{t-1}), (B, H), in place of h_{t-1}, so
  the recurrent transition W_hh diag(W_mx x) W_mh depends on the input character. W_hh and the
  biases are the fused module's; the layer adds W_mx (`mul_x`: (H, in)) and W_mh (`mul_h`:
  (H, H)). With LN the recurrent term W_hh m is normalised; with the Mogrifier, m is made from
  the mogrified x and h.

The recurrence runs in Python one step at a time, like PyTorch's CPU GRU kernel does in C++
(there is no oneDNN GRU), so a step costs a few more autograd nodes than the fused call; the
input term of every step is one matmul over the window unless the Mogrifier needs x per step.
A 2x512 training step at 96 x 32 (bf16 autocast, 1 thread) cost 1.6x the fused GRU's CPU time
with LN and 1.8x with a 4-round rank-32 Mogrifier (NOTES / bench/ablations.py). The mLSTM adds
one (B, H) x (H, H) matmul per step to the LSTM's (B, H) x (H, 4H); its W_mx x is one matmul
over the window.
Every function keeps PyTorch's gate order and returns the gates with cells.py's names, so
inspection sees an LN or Mogrifier cell like any other.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cells import GATES

LayerWeights = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class LayerExtras(nn.Module):
    """The parameters one layer adds to the fused module's: LN gains (`ln_ih`, `ln_hh`: (G*H,);
    an LSTM's `ln_c_weight`, `ln_c_bias`: (H,)), the Mogrifier's factors (`mog_a{i}`,
    `mog_b{i}`: round i's matrix is mog_a @ mog_b, (out, rank) @ (rank, H or in)) and the
    mLSTM's `mul_x` (H, in) and `mul_h` (H, H)."""

    def __init__(
        self,
        kind: str,
        inp: int,
        hidden: int,
        layer_norm: bool,
        rounds: int,
        rank: int,
        multiplicative: bool = False,
    ):
        super().__init__()
        self.kind, self.layer_norm, self.rounds, self.H = kind, layer_norm, rounds, hidden
        self.multiplicative = multiplicative
        if multiplicative:
            # Unit-variance outputs for unit-variance inputs (as the Mogrifier's factors): m
            # starts at the scale of the h it replaces, so W_hh's initialisation still fits.
            self.mul_x = nn.Parameter(torch.randn(hidden, inp) * inp**-0.5)
            self.mul_h = nn.Parameter(torch.randn(hidden, hidden) * hidden**-0.5)
        gh = GATES[kind] * hidden
        if layer_norm:
            self.ln_ih = nn.Parameter(torch.ones(gh))
            self.ln_hh = nn.Parameter(torch.ones(gh))
            if kind == "lstm":
                self.ln_c_weight = nn.Parameter(torch.ones(hidden))
                self.ln_c_bias = nn.Parameter(torch.zeros(hidden))
        for i in range(1, rounds + 1):
            out, src = (inp, hidden) if i % 2 else (hidden, inp)  # odd: Q (h -> x); even: R
            r = rank or min(out, src)
            a = nn.Parameter(torch.empty(out, r))
            b = nn.Parameter(torch.empty(r, src))
            # Each factor has unit-variance outputs for unit-variance inputs, so the gate's
            # logits start O(1): the gating acts from the first step without saturating.
            nn.init.normal_(a, std=r**-0.5)
            nn.init.normal_(b, std=src**-0.5)
            self.register_parameter(f"mog_a{i}", a)
            self.register_parameter(f"mog_b{i}", b)

    def norm(self, z: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """z (..., G*H) -> each gate block of H normalised, * gain + bias (bias may be None)."""
        shape = z.shape
        n = F.layer_norm(z.reshape(*shape[:-1], -1, self.H).float(), (self.H,)).reshape(shape)
        return n * gain if bias is None else torch.addcmul(bias, n, gain)

    def input_term(self, x: torch.Tensor, w_ih: torch.Tensor, b_ih: torch.Tensor) -> torch.Tensor:
        """x (..., in) -> the input term W_ih x + b_ih (..., G*H), normalised with LN."""
        if not self.layer_norm:
            return F.linear(x, w_ih, b_ih)
        return self.norm(F.linear(x, w_ih), self.ln_ih, b_ih)

    def recurrent_term(self, h: torch.Tensor, w_hh: torch.Tensor, b_hh: torch.Tensor):
        """h (B, H) -> W_hh h + b_hh (B, G*H), normalised with LN."""
        if not self.layer_norm:
            return F.linear(h, w_hh, b_hh)
        return self.norm(F.linear(h, w_hh), self.ln_hh, b_hh)

    def mogrify(self, x: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, in), h (B, H) -> the mogrified x and h (same shapes)."""
        for i in range(1, self.rounds + 1):
            a, b = getattr(self, f"mog_a{i}"), getattr(self, f"mog_b{i}")
            if i % 2:
                x = 2 * torch.sigmoid(F.linear(F.linear(h, b), a)) * x
            else:
                h = 2 * torch.sigmoid(F.linear(F.linear(x, b), a)) * h
        return x, h

    def multiply(self, mx: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The mLSTM's m = mx * (W_mh h): mx = W_mx x (B, H), h (B, H) -> m (B, H)."""
        return mx * F.linear(h, self.mul_h)

    def cell(
        self,
        gx: torch.Tensor,
        h: torch.Tensor,
        c: torch.Tensor | None,
        w: LayerWeights,
        h_gates: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """One step from the input term gx (B, G*H) and the state h, c (B, H) -> h_t, c_t (c
        None for a GRU / RNN) and the gates, PyTorch's formulas otherwise. `h_gates` (the
        mogrified h, the mLSTM's m) replaces h in the recurrent term only."""
        gh = self.recurrent_term(h if h_gates is None else h_gates, w[1], w[3])
        if self.kind == "gru":
            xr, xz, xn = gx.chunk(3, dim=-1)
            hr, hz, hn = gh.chunk(3, dim=-1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return torch.lerp(n, h.to(n.dtype), z), None, {"reset": r, "update": z, "new": n}
        if self.kind == "rnn":
            return torch.tanh(gx + gh), None, {}
        i, f, g, o = (gx + gh).chunk(4, dim=-1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = torch.addcmul(f * c, i, g)
        cn = c
        if self.layer_norm:
            cn = F.layer_norm(c.float(), (self.H,), self.ln_c_weight, self.ln_c_bias)
        h = o * torch.tanh(cn)
        return h, c, {"input": i, "forget": f, "cell": g, "output": o}

    def step(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w: LayerWeights
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """One step from the layer's input x (B, in) -> h_t, c_t, the gates."""
        h_gates = None
        if self.rounds:
            x, h_gates = self.mogrify(x, h)
        if self.multiplicative:
            h_gates = self.multiply(F.linear(x, self.mul_x), h if h_gates is None else h_gates)
        return self.cell(self.input_term(x, w[0], w[2]), h, c, w, h_gates)

    def run(
        self, x: torch.Tensor, h: torch.Tensor, c: torch.Tensor | None, w: LayerWeights
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A window: x (B, T, in), h, c (B, H) -> outputs (B, T, H), the last h and c."""
        # Steps are taken by unbind, not x[:, t]: each select's backward would write a zero
        # tensor of the whole window (B, T, G*H) and add into it, T times per window (3x the
        # step time of an LN-GRU at 96 x 32); unbind's backward stacks the T gradients once.
        outs = []
        if self.rounds:
            for xt in x.unbind(1):
                h, c, _ = self.step(xt, h, c, w)
                outs.append(h)
        else:
            gxs = self.input_term(x, w[0], w[2]).unbind(1)  # every step in one matmul
            # mLSTM: W_mx x of every step in one matmul too; only W_mh h waits for h.
            mxs = F.linear(x, self.mul_x).unbind(1) if self.multiplicative else (None,) * len(gxs)
            for gt, mt in zip(gxs, mxs, strict=True):
                h_gates = None if mt is None else self.multiply(mt, h)
                h, c, _ = self.cell(gt, h, c, w, h_gates)
                outs.append(h)
        return torch.stack(outs, dim=1), h, c
