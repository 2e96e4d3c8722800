"""Fast one-character steps for generation: an inference-only snapshot of a CharRNN.

Why not call the model: the fused nn.LSTM pays a per-call set-up cost that dominates at T = 1
on CPU, and every temporary of a step is a fresh allocation (for B = 64, H = 512 a (B, 4H)
tensor is 512 KB, which glibc serves with mmap + page faults). The snapshot instead:
- stacks the input and recurrent weights of each LSTM / RNN layer into one (G*H, in+H) matrix,
  so a layer is one matmul of [x; h] (a GRU keeps two: its n gate needs the recurrent term on
  its own);
- reorders LSTM gate rows to (i, f, o, g) and doubles the g rows (and a vanilla RNN's rows, and
  a GRU's n rows on both sides), so every activation is a sigmoid: tanh(x) = 2 sigmoid(2x) - 1,
  and PyTorch's CPU sigmoid is ~4x faster per element than its tanh (measured on the 2-core Zen4);
- keeps every buffer of a batch size alive in a runner and updates it in place.

Two layouts, chosen by precision and what the machine offers:
- fp32 on an x86-64 CPU with oneDNN (`RowRunner`): row-major (B, features) buffers, a new h
  written straight into the place of the next step's matmul input, and every recurrent matmul
  through oneDNN's linear with the weight pre-packed once (PyTorch's `mkldnn._linear_pointwise`,
  what torch.compile's CPU backend calls), bias and gate sigmoid fused into it. For the shapes of
  a 2x512 LSTM at B = 64 it ran at 0.94-0.97 of the machine's best fp32 2048^3 matmul rate,
  torch.addmm (MKL) at 0.75-0.84, and at B = 1 in half the time of torch.addmm (2-core Zen4;
  bench/RESULTS.md).
- otherwise (bf16 matmuls; GPUs; other CPUs) (`ColRunner`): feature-major (features, B)
  buffers, layer 0's input projection folded into a (G*H, V) table (W_ih @ embedding^T + biases),
  so it is a column gather, and matmuls W (G*H, K) @ X (K, B) by torch.mm, which for B = 64 runs
  ~1.3x faster on CPU than X^T @ W^T, while every gate is a contiguous block of rows (elementwise
  ops on contiguous blocks cost about half as much as on column slices). With dtype=torch.bfloat16
  the recurrent weights are bf16: the matmuls run on the hardware's bf16 units and read half the
  bytes, while biases, cell states, activations and the output layer stay fp32. That is the
  precision bf16-autocast training runs the same matmuls in.
The arithmetic is the written-out cells of cells.py; tests check it equals the model.
Cell variants without a fused kernel (layer norm, Mogrifier, mLSTM: variants.py) have no snapshot
layout: their Stepper's runners are `ModelRunner`s, the model's own `step` behind the same
interface, in fp32, so every caller of `Stepper(model).runner(state)` works with them.
"""

from __future__ import annotations

import platform

import torch

from .cells import GATES
from .model import CharRNN, State


def onednn_fp32(device: torch.device) -> bool:
    """Whether the fp32 sampler may run through oneDNN here: a CPU, PyTorch built with oneDNN,
    and x86-64, the only architecture it was measured on (on ARM, oneDNN's kernels may be slower
    than the BLAS that torch.mm uses)."""
    return (
        device.type == "cpu"
        and torch.backends.mkldnn.is_available()
        and platform.machine().lower() in ("x86_64", "amd64")
    )


class _OneDNNLinear:
    """x (B, K) fp32 -> x @ W^T + b (B, N), optionally through a sigmoid, by oneDNN with W
    pre-packed once (for any batch size: the packing's batch hint made no difference at B = 1
    or 64)."""

    def __init__(self, packed: torch.Tensor, b: torch.Tensor):
        self.w, self.b = packed, b

    def __call__(self, x: torch.Tensor, sigmoid: bool = False) -> torch.Tensor:
        attr = "sigmoid" if sigmoid else "none"
        return torch.ops.mkldnn._linear_pointwise(x, self.w, self.b, attr, [], "")

    @staticmethod
    def make(w: torch.Tensor, b: torch.Tensor) -> _OneDNNLinear | None:
        """None where oneDNN is not to be used (see onednn_fp32), an op is missing from this
        PyTorch version or takes other arguments (they are internal), or a result disagrees with
        torch.addmm on a probe."""
        if not onednn_fp32(w.device):
            return None
        w, b = w.float().contiguous(), b.float().contiguous()
        try:
            lin = _OneDNNLinear(torch.ops.mkldnn._reorder_linear_weight(w), b)
            probe = torch.linspace(-1, 1, 3 * w.shape[1]).reshape(3, -1)
            got, want = lin(probe), torch.addmm(b, probe, w.t())
        except (RuntimeError, AttributeError, NotImplementedError, TypeError):
            return None
        ok = got.shape == want.shape and torch.allclose(got, want, rtol=1e-4, atol=1e-4)
        return lin if ok else None


class Stepper:
    """Weights of a CharRNN laid out for single steps. `step(x, state)` -> (logits, state).

    `dtype` is the matmul precision of the recurrent layers: torch.float32 (exact to the model
    within float rounding) or torch.bfloat16.
    """

    def __init__(self, model: CharRNN, dtype: torch.dtype = torch.float32):
        cfg = model.cfg
        # A variant's weights alone would give a plain cell's (wrong) numbers: it steps itself.
        self.model = model if model.written_out else None
        if self.model is not None:
            self.row_major = False
            return
        self.kind, self.L, self.H, self.V = cfg.kind, cfg.layers, cfg.hidden, cfg.vocab_size
        self.E = cfg.embed
        if dtype not in (torch.float32, torch.bfloat16):
            raise ValueError(f"unsupported sampling dtype {dtype}")
        self.dtype = dtype
        # An LSTM's runners keep h / 2 and 2 c (see _lstm_cell); every weight that reads h is
        # doubled to match (exact: powers of two).
        self.h_scale, self.c_scale = (2.0, 0.5) if self.kind == "lstm" else (1.0, 1.0)
        with torch.no_grad():
            weights = [self._laid_out(model, k) for k in range(cfg.layers)]
            emb = model.embed.weight.detach().float()
            head_w, head_b = (t.detach().float() for t in model.output_layer())
            head_w = head_w * self.h_scale  # (V, H); a tied head's E @ P
            self.row_major = dtype == torch.float32 and self._build_onednn(
                weights, emb, head_w, head_b
            )
            if not self.row_major:
                self._build_col(weights, emb, head_w, head_b)

    def _laid_out(self, model: CharRNN, k: int) -> tuple[torch.Tensor, ...]:
        """Layer k's fp32 (w_ih, w_hh, b_ih, b_hh) in the stepper's gate-row order and scale,
        with the columns that read a stored h scaled by h_scale."""
        w_ih, w_hh, b_ih, b_hh = (t.detach().float() for t in model.layer_weights(k))
        w_hh = w_hh * self.h_scale
        w_ih = w_ih * self.h_scale if k else w_ih
        perm, scale = _row_layout(self.kind, self.H, w_ih.device)
        return (
            w_ih[perm] * scale,
            w_hh[perm] * scale,
            b_ih[perm] * scale[:, 0],
            b_hh[perm] * scale[:, 0],
        )

    def _build_onednn(self, weights, emb, head_w, head_b) -> bool:
        """Row-major layout: per layer (one linear on [x; h],) or a GRU's (on x, on h)."""
        layers = []
        for w_ih, w_hh, b_ih, b_hh in weights:
            if self.kind == "gru":  # GRU keeps b_hn inside r * (W_hn h + b_hn): no stacking
                lins = (_OneDNNLinear.make(w_ih, b_ih), _OneDNNLinear.make(w_hh, b_hh))
            else:
                lins = (_OneDNNLinear.make(torch.cat([w_ih, w_hh], dim=1), b_ih + b_hh),)
            layers.append(lins)
        if any(lin is None for lins in layers for lin in lins):
            return False
        # The head stays torch.addmm: for (64, 512) -> 65 it took 47 us, oneDNN 57-123.
        self.layers, self.emb = layers, emb.contiguous()
        self.head_w, self.head_b = head_w, head_b
        return True

    def _build_col(self, weights, emb, head_w, head_b) -> None:
        """Feature-major layout: per layer (W: (G*H, in+H) stacked, or W_ih (G*H, in) for a GRU
        and layer 0, W_hh (G*H, H) or None, bias column (G*H, 1), GRU's b_hh column or None);
        the matmul weights in `dtype`, except layer 0's W_ih, which only builds table0."""
        dtype, self.layers = self.dtype, []
        for k, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
            if self.kind == "gru":
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
        # (G*H, V): layer 0's input term (with its biases) for every character, in fp32.
        self.table0 = torch.addmm(b0, w0, emb.t()).contiguous()
        self.head_w, self.head_b = head_w, head_b[:, None]  # (V, H), (V, 1)

    def runner(self, state: State) -> RowRunner | ColRunner | ModelRunner:
        """A stateful runner for state[0].shape[1] streams, starting from `state`."""
        if self.model is not None:
            return ModelRunner(self.model, state)
        return RowRunner(self, state) if self.row_major else ColRunner(self, state)

    @torch.inference_mode()
    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """x (B,) int64, state tuple of (L, B, H) -> logits (B, V), new state (inputs untouched)."""
        r = self.runner(state)
        logits = r.advance(x)
        return logits.clone(), r.state()


class ModelRunner:
    """A variant cell's single steps (Stepper.runner for a layer-norm or Mogrifier model): the
    model's own step_unchecked, with RowRunner's interface (advance(x) -> logits, state())."""

    def __init__(self, model: CharRNN, state: State):
        self.model, self.s = model, tuple(t.float() for t in state)

    @torch.inference_mode()
    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,) int64 -> logits (B, V)."""
        logits, self.s = self.model.step_unchecked(x, self.s)
        return logits

    def state(self) -> State:
        return tuple(t.clone() for t in self.s)


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


def _lstm_cell(z: torch.Tensor, C: torch.Tensor, hh: torch.Tensor, tmp: torch.Tensor, d: int):
    """In place, on the scaled state C = 2 c and hh = h / 2, which saves three of nine passes
    over (B, H) per step: z holds sigmoid(gates) in blocks (i, f, o, g') along dim d, the g block
    from doubled rows (tanh(x) = 2 sigmoid(2x) - 1, so g = 2 g' - 1); C, hh, tmp have z's shape
    with one block along d.
        C  <- f C + 2 i g = f C + 4 i g' - 2 i
        hh <- o tanh(c) / 2 = o (sigmoid(C) - 1/2)"""
    i, f, o, g = z.chunk(4, d)
    C.mul_(f).addcmul_(i, g, value=4).sub_(i, alpha=2)
    t = torch.sigmoid(C, out=tmp).sub_(0.5)
    torch.mul(o, t, out=hh)


def _gru_cell(gi: torch.Tensor, gh: torch.Tensor, h: torch.Tensor, tmp: torch.Tensor, d: int):
    """In place: gi, gh the input and recurrent terms (biases included) in blocks (r, u, n)
    along dim d, n rows pre-doubled; h the state (updated), tmp scratch of h's shape."""
    H = h.shape[d]
    rz = gi.narrow(d, 0, 2 * H).add_(gh.narrow(d, 0, 2 * H)).sigmoid_()  # r, u
    n = gi.narrow(d, 2 * H, H).addcmul_(rz.narrow(d, 0, H), gh.narrow(d, 2 * H, H))
    n.sigmoid_().mul_(2).sub_(1)  # tanh
    # h = (1 - u) * n + u * h = n + u * (h - n)
    torch.sub(h, n, out=tmp).mul_(rz.narrow(d, H, H))
    torch.add(n, tmp, out=h)


class RowRunner:
    """In-place single steps for B streams, fp32 through oneDNN, row-major buffers, each matmul
    input contiguous (oneDNN took ~13% longer on a column slice of a wider buffer):
    LSTM / RNN: xs[k] (B, in+H) = [x_k | h_k], layer k's one matmul input; GRU: xin[k] (B, in)
    and hs[k] (B, H) apart, its two matmul inputs. x_0 is the embedding of the input character,
    x_k (k > 0) a copy of h_{k-1}; c[k] (B, H) LSTM cell states. An LSTM's hs and c hold h / 2
    and 2 c (see _lstm_cell); state() undoes the scaling."""

    @torch.inference_mode()
    def __init__(self, st: Stepper, state: State):
        self.st = st
        L, H, B = st.L, st.H, state[0].shape[1]
        ins = [st.E if k == 0 else H for k in range(L)]
        if st.kind == "gru":
            self.xin = [torch.zeros(B, n) for n in ins]
            self.hs = [torch.zeros(B, H) for _ in range(L)]
        else:
            self.xs = [torch.zeros(B, n + H) for n in ins]
            self.xin = [xs[:, :n] for xs, n in zip(self.xs, ins, strict=True)]
            self.hs = [xs[:, n:] for xs, n in zip(self.xs, ins, strict=True)]
        for k in range(L):
            self.hs[k].copy_(state[0][k]).div_(st.h_scale)
        lstm = st.kind == "lstm"
        self.c = [state[1][k].float().div(st.c_scale) for k in range(L)] if lstm else []
        self.tmp = torch.empty(B, H)
        self.logits = torch.empty(B, st.V)

    @torch.inference_mode()
    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (B,) int64 -> logits (B, V) (a buffer that the next call overwrites)."""
        st = self.st
        torch.index_select(st.emb, 0, x, out=self.xin[0])
        for k, lins in enumerate(st.layers):
            if k:
                self.xin[k].copy_(self.hs[k - 1])
            if st.kind == "gru":
                gi, gh = lins[0](self.xin[k]), lins[1](self.hs[k])
                _gru_cell(gi, gh, self.hs[k], self.tmp, 1)
            else:
                z = lins[0](self.xs[k], sigmoid=True)
                if st.kind == "lstm":
                    _lstm_cell(z, self.c[k], self.hs[k], self.tmp, 1)
                else:
                    torch.mul(z, 2, out=self.hs[k]).sub_(1)
        return torch.addmm(st.head_b, self.hs[-1], st.head_w.t(), out=self.logits)

    def state(self) -> State:
        """The current state as a fresh tuple of (L, B, H) tensors."""
        hs = torch.stack(self.hs).mul_(self.st.h_scale)
        return (hs, torch.stack(self.c).mul_(self.st.c_scale)) if self.c else (hs,)


class ColRunner:
    """In-place single steps for B streams, feature-major buffers:
    xh[k] (in+H, B) = [h_{k-1}; h_k], the matmul input of layer k in the stepper's dtype
    ((H, B) = h_0 for layer 0); hs[k] (H, B) fp32 hidden states (views into xh in fp32);
    z[k] (G*H, B) fp32 pre-activations; c[k] (H, B) LSTM cell states; logits (V, B). An LSTM's
    hs and c hold h / 2 and 2 c (see _lstm_cell); state() undoes the scaling."""

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
            self.hs[k].copy_(state[0][k].t()).div_(st.h_scale)
            if not self.fp32:
                self.xh[k][-H:].copy_(self.hs[k])
        lstm = st.kind == "lstm"
        self.c = (
            [state[1][k].t().float().div(st.c_scale).contiguous() for k in range(L)] if lstm else []
        )
        # GRU: W_hh h + b_hh, kept apart from the input term for n = tanh(x_n + r * (...)).
        self.gh = torch.empty(G * H, B, device=dev) if st.kind == "gru" else None
        self.tmp = torch.empty(H, B, device=dev)
        self.logits = torch.empty(st.V, B, device=dev)

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
        if self.st.kind == "lstm":
            _lstm_cell(z, self.c[k], self.hs[k], self.tmp, 0)
        else:
            torch.mul(z, 2, out=self.hs[k]).sub_(1)

    def _gru(self, k: int, z, w_ih, w_hh, b_ih, b_hh) -> None:
        """Layer k of a GRU, in place: z (3H, B) holds the input term (layer 0: gathered from
        table0); the n rows of every weight and bias are pre-doubled (see Stepper)."""
        H, gh, xh = self.st.H, self.gh, self.xh[k]
        if self.fp32:
            if k:
                torch.addmm(b_ih, w_ih, xh[:H], out=z)
            torch.addmm(b_hh, w_hh, xh[-H:], out=gh)
        else:  # bf16 matmuls, fp32 sums
            if k:
                torch.add(torch.mm(w_ih, xh[:H], out=self.zb), b_ih, out=z)
            torch.add(torch.mm(w_hh, xh[-H:], out=self.zb), b_hh, out=gh)
        _gru_cell(z, gh, self.hs[k], self.tmp, 0)

    def state(self) -> State:
        """The current state as a fresh tuple of (L, B, H) tensors."""
        hs = torch.stack([self.hs[k].t() for k in range(self.st.L)]).mul_(self.st.h_scale)
        if not self.c:
            return (hs,)
        return hs, torch.stack([c.t() for c in self.c]).mul_(self.st.c_scale)
