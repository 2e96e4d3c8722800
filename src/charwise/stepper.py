"""Fast one-character steps for generation: an inference-only snapshot of a CharRNN.

Why not call the model: the fused nn.LSTM pays a per-call set-up cost that dominates at T = 1
on CPU, and every temporary of a (B, 4H) step is a fresh allocation (for B = 64, H = 512 that
is 512 KB, which glibc serves with mmap + page faults). The snapshot instead:
- folds layer 0's input projection into a (V, G*H) table (embedding @ W_ih^T + biases), so
  layer 0 is one row gather and one matmul;
- stacks the input and recurrent weights of every upper layer into one (in+H, G*H) matrix, so
  each upper layer is one matmul of [input, h];
- reorders LSTM gate rows to (i, f, o, g), so one sigmoid and one tanh cover all four gates;
- keeps every buffer of a batch size alive in a `Runner` and updates it in place.
The arithmetic is the written-out cells of cells.py; tests check it equals the model.
"""

from __future__ import annotations

import torch

from .model import CharRNN, State


class Stepper:
    """Weights of a CharRNN laid out for single steps. `step(x, state)` -> (logits, state)."""

    def __init__(self, model: CharRNN):
        cfg = model.cfg
        self.kind, self.L, self.H, self.V = cfg.kind, cfg.layers, cfg.hidden, cfg.vocab_size
        H = cfg.hidden
        with torch.no_grad():
            self.layers = []  # per layer: (w_cat (in+H, G*H) or w_hh (H, G*H), bias, b_hh or None)
            for k in range(cfg.layers):
                w_ih, w_hh, b_ih, b_hh = (t.detach().float() for t in model.layer_weights(k))
                if self.kind == "lstm":  # (i, f, g, o) -> (i, f, o, g)
                    perm = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H),
                                      torch.arange(2 * H, 3 * H)]).to(w_ih.device)
                    w_ih, w_hh, b_ih, b_hh = w_ih[perm], w_hh[perm], b_ih[perm], b_hh[perm]
                if self.kind == "gru":  # GRU keeps b_hn inside r * (W_hn h + b_hn): no stacking
                    self.layers.append((w_ih.t().contiguous(), w_hh.t().contiguous(), b_ih, b_hh))
                    continue
                b = b_ih + b_hh
                if k == 0:
                    self.layers.append((w_ih.t().contiguous(), w_hh.t().contiguous(), b, None))
                else:
                    w_cat = torch.cat([w_ih.t(), w_hh.t()]).contiguous()  # (in+H, G*H)
                    self.layers.append((w_cat, None, b, None))
            w0, _, b0, _ = self.layers[0]
            emb = model.embed.weight.detach().float()
            self.table0 = torch.addmm(b0, emb, w0)  # (V, G*H): layer 0's input term per character
            self.head_w = model.head.weight.detach().float().t().contiguous()  # (H, V)
            self.head_b = model.head.bias.detach().float()

    def runner(self, state: State) -> Runner:
        """A stateful runner for len(state[0][0]) streams, starting from `state`."""
        return Runner(self, state)

    @torch.inference_mode()
    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x (B,) int64, state tuple of (L, B, H) -> logits (B, V), new state (inputs untouched)."""
        r = self.runner(state)
        logits = r.advance(x)
        return logits.clone(), r.state()


class Runner:
    """In-place single steps for a fixed number of streams B. Buffers per upper layer k:
    xh[k] (B, 2H) = [h_{k-1}, h_k] (the matmul's input), z[k] (B, G*H) pre-activations."""

    @torch.inference_mode()
    def __init__(self, st: Stepper, state: State):
        self.st = st
        L, H = st.L, st.H
        B = state[0].shape[1]
        dev = st.head_w.device
        G = st.table0.shape[1] // H
        self.z = [torch.empty(B, G * H, device=dev) for _ in range(L)]
        # Layer 0's h has no input half; upper layers keep [input, h] side by side.
        self.xh = [torch.empty(B, (H if k else 0) + H, device=dev) for k in range(L)]
        lstm = st.kind == "lstm"
        self.c = [state[1][k].detach().float().clone() for k in range(L)] if lstm else []
        for k in range(L):
            self.h(k).copy_(state[0][k])
        self.tmp = torch.empty(B, H, device=dev)
        self.logits = torch.empty(B, st.V, device=dev)

    def h(self, k: int) -> torch.Tensor:
        """Layer k's hidden state (B, H), a view into its buffer."""
        return self.xh[k][:, -self.st.H:]

    @torch.inference_mode()
    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,) int64 -> logits (B, V) (a buffer overwritten by the next call)."""
        st, H = self.st, self.st.H
        for k, (w, w_hh, b, b_hh) in enumerate(st.layers):
            z = self.z[k]
            if k == 0:
                torch.index_select(st.table0, 0, x, out=z)
            if st.kind == "gru":
                self._gru(k, z, w, w_hh, b, b_hh)
            else:
                if k == 0:
                    z.addmm_(self.h(0), w_hh)
                else:
                    self.xh[k][:, :H].copy_(self.h(k - 1))
                    torch.addmm(b, self.xh[k], w, out=z)
                if st.kind == "lstm":  # z: (B, 4H) in (i, f, o, g) order
                    z[:, : 3 * H].sigmoid_()
                    z[:, 3 * H:].tanh_()
                    c = self.c[k]
                    c.mul_(z[:, H: 2 * H]).addcmul_(z[:, :H], z[:, 3 * H:])
                    torch.tanh(c, out=self.tmp)
                    torch.mul(z[:, 2 * H: 3 * H], self.tmp, out=self.h(k))
                else:
                    torch.tanh(z, out=self.h(k))
        return torch.addmm(st.head_b, self.h(st.L - 1), st.head_w, out=self.logits)

    def _gru(self, k, z, w_ih, w_hh, b_ih, b_hh) -> None:
        H, h = self.st.H, self.h(k)
        if k:
            torch.addmm(b_ih, self.h(k - 1), w_ih, out=z)
        gh = torch.addmm(b_hh, h, w_hh)
        rz = (z[:, : 2 * H] + gh[:, : 2 * H]).sigmoid_()
        n = torch.tanh(z[:, 2 * H:] + rz[:, :H] * gh[:, 2 * H:])
        h.copy_(torch.lerp(n, h, rz[:, H:]))

    def state(self) -> State:
        """The current state as a fresh tuple of (L, B, H) tensors."""
        hs = torch.stack([self.h(k) for k in range(self.st.L)])
        return (hs, torch.stack(self.c)) if self.c else (hs,)
