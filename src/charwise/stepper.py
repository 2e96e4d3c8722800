"""Fast one-character steps for generation: an inference-only snapshot of a CharRNN.

Why not call the model: the fused nn.LSTM pays a per-call set-up cost that dominates at T = 1
on CPU, and every temporary of a step is a fresh allocation (for B = 64, H = 512 a (B, 4H)
tensor is 512 KB, which glibc serves with mmap + page faults). The snapshot instead:
- folds layer 0's input projection into a (G*H, V) table (W_ih @ embedding^T + biases), so
  layer 0 is one column gather and one matmul;
- stacks the input and recurrent weights of every upper layer into one (G*H, in+H) matrix, so
  each upper layer is one matmul of [input; h];
- reorders LSTM gate rows to (i, f, o, g) and doubles the g rows (and a vanilla RNN's rows, and
  a GRU's n rows on both sides), so every activation is a sigmoid: tanh(x) = 2 sigmoid(2x) - 1,
  and PyTorch's CPU sigmoid is ~4x faster per element than its tanh (measured on the 2-core Zen4);
- keeps activations feature-major, (features, B): the matmuls become W (G*H, K) @ X (K, B), which
  on CPU runs ~1.3x faster than X^T @ W^T for B = 64 (measured: 154 vs 118 GFLOP/s for K = 1024,
  G*H = 2048 on the 2-core Zen4), and every gate is a contiguous block of rows;
- keeps every buffer of a batch size alive in a `Runner` and updates it in place.
- optionally (dtype=torch.bfloat16) keeps the recurrent weights in bf16: the matmuls run on the
  hardware's bf16 units (2.3x the fp32 peak on AVX512-BF16 CPUs at B = 64) and read half the
  bytes, while biases, cell states, activations and the output layer stay fp32. That is the
  precision bf16-autocast training runs the same matmuls in.
The arithmetic is the written-out cells of cells.py; tests check it equals the model.
"""

from __future__ import annotations

import torch

from .cells import GATES
from .model import CharRNN, State


class Stepper:
    """Weights of a CharRNN laid out for single steps. `step(x, state)` -> (logits, state).

    `dtype` is the matmul precision of the recurrent layers: torch.float32 (exact to the model
    within float rounding) or torch.bfloat16.
    """

    def __init__(self, model: CharRNN, dtype: torch.dtype = torch.float32):
        cfg = model.cfg
        self.kind, self.L, self.H, self.V = cfg.kind, cfg.layers, cfg.hidden, cfg.vocab_size
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"unsupported sampling dtype {dtype}")
        self.dtype = dtype
        H = cfg.hidden
        # per layer: (W: (G*H, in+H) stacked, or W_ih (G*H, in) for a GRU and layer 0,
        #             W_hh (G*H, H) or None, bias column (G*H, 1), GRU's b_hh column or None);
        # the matmul weights in `dtype`, except layer 0's W_ih, which only builds table0.
        self.layers: list[tuple] = []
        with torch.no_grad():
            for k in range(cfg.layers):
                w_ih, w_hh, b_ih, b_hh = (t.detach().float() for t in model.layer_weights(k))
                perm, scale = _row_layout(self.kind, H, w_ih.device)
                w_ih, w_hh = w_ih[perm] * scale, w_hh[perm] * scale
                b_ih, b_hh = b_ih[perm] * scale[:, 0], b_hh[perm] * scale[:, 0]
                if self.kind == "gru":  # GRU keeps b_hn inside r * (W_hn h + b_hn): no stacking
                    w_in = w_ih if k == 0 else w_ih.to(dtype).contiguous()
                    w_rec = w_hh.to(dtype).contiguous()
                    self.layers.append((w_in, w_rec, b_ih[:, None], b_hh[:, None]))
                elif k == 0:
                    self.layers.append(
                        (w_ih, w_hh.to(dtype).contiguous(), (b_ih + b_hh)[:, None], None)
                    )
                else:
                    w_cat = torch.cat([w_ih, w_hh], dim=1).to(dtype).contiguous()  # (G*H, in+H)
                    self.layers.append((w_cat, None, (b_ih + b_hh)[:, None], None))
            w0, _, b0, _ = self.layers[0]
            emb = model.embed.weight.detach().float()
            # (G*H, V): layer 0's input term (with its biases) for every character, in fp32.
            self.table0 = torch.addmm(b0, w0, emb.t()).contiguous()
            self.head_w = model.head.weight.detach().float().contiguous()  # (V, H)
            self.head_b = model.head.bias.detach().float()[:, None]  # (V, 1)

    def runner(self, state: State) -> Runner:
        """A stateful runner for state[0].shape[1] streams, starting from `state`."""
        return Runner(self, state)

    @torch.inference_mode()
    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x (B,) int64, state tuple of (L, B, H) -> logits (B, V), new state (inputs untouched)."""
        r = self.runner(state)
        logits = r.advance(x)
        return logits.clone(), r.state()


def _row_layout(kind: str, H: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The stepper's gate-row order and scale: (G*H,) permutation and (G*H, 1) factors.

    Rows whose activation is a tanh are doubled so it can run as a sigmoid (tanh(x) =
    2 sigmoid(2x) - 1): an LSTM's g rows (moved last: (i, f, g, o) -> (i, f, o, g), so one sigmoid
    covers a contiguous block), a GRU's n rows (n = tanh(a + r*b): both a's and b's rows), all of
    a vanilla RNN's."""
    rows = torch.arange(GATES[kind] * H, device=device)
    if kind == "lstm":
        rows = torch.cat([rows[: 2 * H], rows[3 * H :], rows[2 * H : 3 * H]])
    tanh_rows = {"lstm": slice(3 * H, None), "gru": slice(2 * H, None), "rnn": slice(None)}[kind]
    scale = torch.ones(len(rows), 1, device=device)
    scale[tanh_rows] = 2.0
    return rows, scale


class Runner:
    """In-place single steps for a fixed number of streams B, feature-major buffers:
    xh[k] (in+H, B) = [h_{k-1}; h_k], the matmul input of layer k in the stepper's dtype
    ((H, B) = h_0 for layer 0); hs[k] (H, B) fp32 hidden states (views into xh in fp32);
    z[k] (G*H, B) fp32 pre-activations; c[k] (H, B) LSTM cell states; logits (V, B)."""

    @torch.inference_mode()
    def __init__(self, st: Stepper, state: State):
        self.st = st
        L, H, B = st.L, st.H, state[0].shape[1]
        dev = st.head_w.device
        G = st.table0.shape[0] // H
        self.fp32 = st.dtype == torch.float32
        self.z = [torch.empty(G * H, B, device=dev) for _ in range(L)]
        self.xh = [
            torch.empty((H if k else 0) + H, B, device=dev, dtype=st.dtype) for k in range(L)
        ]
        # bf16: the matmul's output, added to the fp32 bias by one elementwise op.
        self.zb = None if self.fp32 else torch.empty(G * H, B, device=dev, dtype=st.dtype)
        self.hs = [
            self.xh[k][-H:] if self.fp32 else torch.empty(H, B, device=dev) for k in range(L)
        ]
        for k in range(L):
            self.hs[k].copy_(state[0][k].t())
            if not self.fp32:
                self.xh[k][-H:].copy_(self.hs[k])
        lstm = st.kind == "lstm"
        self.c = [state[1][k].t().float().contiguous() for k in range(L)] if lstm else []
        # GRU: W_hh h + b_hh, kept apart from the input term for n = tanh(x_n + r * (...)).
        self.gh = torch.empty(G * H, B, device=dev) if st.kind == "gru" else None
        self.tmp = torch.empty(H, B, device=dev)
        self.logits = torch.empty(st.V, B, device=dev)

    def h(self, k: int) -> torch.Tensor:
        """Layer k's hidden state, (H, B) fp32."""
        return self.hs[k]

    @torch.inference_mode()
    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,) int64 -> logits (B, V) (a view of a buffer that the next call overwrites)."""
        st, H = self.st, self.st.H
        for k, (w, w_hh, b, b_hh) in enumerate(st.layers):
            z = self.z[k]
            if k == 0:
                torch.index_select(st.table0, 1, x, out=z)
            if k:  # the layer below's h, already in the matmul dtype at the end of its buffer
                self.xh[k][:H].copy_(self.xh[k - 1][-H:])
            if st.kind == "gru":
                self._gru(k, z, w, w_hh, b, b_hh)
            else:
                self._lstm_or_rnn(k, z, w, w_hh, b)
            if not self.fp32:  # the next layer and the next step read h in the matmul dtype
                self.xh[k][-H:].copy_(self.hs[k])
        torch.addmm(st.head_b, st.head_w, self.hs[st.L - 1], out=self.logits)
        return self.logits.t()

    def _lstm_or_rnn(self, k: int, z, w, w_hh, b) -> None:
        """Layer k of an LSTM or vanilla RNN, in place: z (G*H, B) holds layer 0's input term;
        upper layers use the stacked W (G*H, in+H) on [input; h]."""
        H, h = self.st.H, self.hs[k]
        if self.fp32:
            if k == 0:
                z.addmm_(w_hh, self.xh[0])
            else:
                torch.addmm(b, w, self.xh[k], out=z)
        else:
            torch.mm(w_hh if k == 0 else w, self.xh[k], out=self.zb)
            if k == 0:
                z.add_(self.zb)
            else:
                torch.add(self.zb, b, out=z)
        z.sigmoid_()
        if self.st.kind == "lstm":  # rows of z: i, f, o, and g pre-doubled: tanh = 2 sig - 1
            g = z[3 * H :].mul_(2).sub_(1)
            c = self.c[k]
            c.mul_(z[H : 2 * H]).addcmul_(z[:H], g)
            t = torch.mul(c, 2, out=self.tmp).sigmoid_().mul_(2).sub_(1)  # tanh(c)
            torch.mul(z[2 * H : 3 * H], t, out=h)
        else:
            torch.mul(z, 2, out=h).sub_(1)

    def _gru(self, k: int, z, w_ih, w_hh, b_ih, b_hh) -> None:
        """Layer k of a GRU, in place: z (3H, B) holds the input term (layer 0: gathered from
        table0); the n rows of every weight and bias are pre-doubled (see Stepper)."""
        H, h, gh, xh = self.st.H, self.hs[k], self.gh, self.xh[k]
        if self.fp32:
            if k:
                torch.addmm(b_ih, w_ih, xh[:H], out=z)
            torch.addmm(b_hh, w_hh, xh[-H:], out=gh)
        else:  # bf16 matmuls, fp32 sums
            if k:
                torch.add(torch.mm(w_ih, xh[:H], out=self.zb), b_ih, out=z)
            torch.add(torch.mm(w_hh, xh[-H:], out=self.zb), b_hh, out=gh)
        rz = z[: 2 * H].add_(gh[: 2 * H]).sigmoid_()  # r, u
        n = z[2 * H :].addcmul_(rz[:H], gh[2 * H :]).sigmoid_().mul_(2).sub_(1)  # tanh
        # h = (1 - u) * n + u * h = n + u * (h - n)
        torch.sub(h, n, out=self.tmp).mul_(rz[H:])
        torch.add(n, self.tmp, out=h)

    def state(self) -> State:
        """The current state as a fresh tuple of (L, B, H) tensors."""
        hs = torch.stack([self.hs[k].t() for k in range(self.st.L)])
        return (hs, torch.stack([c.t() for c in self.c])) if self.c else (hs,)
