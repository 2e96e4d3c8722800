"""CharRNN: embedding -> stacked LSTM / GRU / RNN (PyTorch's fused kernels) -> linear head.

State is a tuple of (L, B, H) tensors: (h, c) for an LSTM, (h,) for a GRU or RNN.
`forward` runs whole (B, T) windows through the fused kernel (oneDNN on CPU, cuDNN on GPU);
`step` advances one character with the written-out cells of cells.py, which skips the fused
kernel's per-call set-up cost that dominates when T = 1. With `layer_norm`, `mogrify` or
`multiplicative` the cells have no fused kernel: every path runs variants.py's written-out cells
on the fused module's weights plus each layer's extra parameters (`extras`). With
`tie_embedding` the head is head.py's TiedHead, which reads the embedding's matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import CharwiseError
from . import cells
from .head import TiedHead
from .variants import LayerExtras

State = tuple[torch.Tensor, ...]

_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    carries_state = True  # state flows from window to window (TBPTT; evaluation carries it)

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        # One fused multi-layer module holds the weights (and runs inference in one call).
        self.rnn = _RNN[cfg.kind](cfg.embed, cfg.hidden, num_layers=cfg.layers, batch_first=True)
        # Weightless single-layer shells (on the meta device, not registered as submodules) that
        # run one layer of `self.rnn` at a time while training with dropout: the layer's own
        # weights are swapped in by torch.func.functional_call, so gradients reach self.rnn.
        self._shells = [
            _RNN[cfg.kind](
                cfg.embed if k == 0 else cfg.hidden, cfg.hidden, batch_first=True, device="meta"
            )
            for k in range(cfg.layers)
        ]
        # Only variant models have extras, so a default model's checkpoint keys stay the same.
        if self.written_out:
            self.extras = nn.ModuleList(
                LayerExtras(
                    cfg.kind,
                    cfg.embed if k == 0 else cfg.hidden,
                    cfg.hidden,
                    cfg.layer_norm,
                    cfg.mogrify,
                    cfg.mogrify_rank,
                    cfg.multiplicative,
                )
                for k in range(cfg.layers)
            )
        self.head: nn.Linear | TiedHead = (
            TiedHead(self.embed, cfg.hidden)
            if cfg.tie_embedding
            else nn.Linear(cfg.hidden, cfg.vocab_size)
        )
        self.reset_parameters()

    @property
    def written_out(self) -> bool:
        """Whether the cell is a variant without a fused kernel (LN, Mogrifier, mLSTM)."""
        return self.cfg.layer_norm or self.cfg.mogrify > 0 or self.cfg.multiplicative

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embed.weight, std=1.0)
        if self.cfg.kind == "lstm":
            H = self.cfg.hidden
            with torch.no_grad():
                for k in range(self.cfg.layers):
                    # Forget-gate bias 1 (Jozefowicz et al. 2015; char-rnn, torch-rnn): the cell
                    # starts out remembering, so gradients flow through time from the first step.
                    getattr(self.rnn, f"bias_ih_l{k}")[H : 2 * H].fill_(1.0)
                    getattr(self.rnn, f"bias_hh_l{k}")[H : 2 * H].zero_()

    def output_layer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The head as one affine map of the top layer's h: W (V, H), b (V,) (tied: E @ P)."""
        head = self.head
        w = head.matrix() if isinstance(head, TiedHead) else head.weight
        return w, head.bias

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(self, batch_size: int = 1, device: torch.device | str | None = None) -> State:
        """Zero state: a tuple of (L, B, H) tensors ((h, c) for an LSTM, (h,) otherwise), in
        the weights' dtype (a model cast with .double() or .bfloat16() steps from its own)."""
        w = self.head.weight
        device = device if device is not None else w.device
        shape = (self.cfg.layers, batch_size, self.cfg.hidden)
        zeros = lambda: torch.zeros(shape, device=device, dtype=w.dtype)  # noqa: E731
        return (zeros(), zeros()) if self.cfg.kind == "lstm" else (zeros(),)

    def _ids(self, x: torch.Tensor, dims: int, what: str) -> torch.Tensor:
        """Character ids as int64 for the embedding, with a clear error for what it would fail
        on deep inside torch: floats, the wrong number of dimensions, ids outside the vocabulary
        (checked on a CPU only, where it costs no device sync). Any integer dtype is taken, so
        torch.from_numpy(vocab.encode(text)) (uint8 / int32) works as is."""
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise CharwiseError(f"{what} must hold integer character ids, not {x.dtype}")
        if x.dim() != dims:
            raise CharwiseError(f"{what} must have {dims} dimension(s), got shape {tuple(x.shape)}")
        if x.device.type == "cpu" and x.numel():
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi >= self.cfg.vocab_size:
                raise CharwiseError(
                    f"{what} holds id {lo if lo < 0 else hi}, outside the vocabulary's "
                    f"0..{self.cfg.vocab_size - 1}"
                )
        return x.long()

    def _check_state(self, state: State, batch: int) -> None:
        """The state must be init_state(batch)'s shape: a batch-1 x would otherwise broadcast
        against a wider state and return logits for the state's batch without complaint."""
        want = (self.cfg.layers, batch, self.cfg.hidden)
        n = 2 if self.cfg.kind == "lstm" else 1
        if len(state) != n or any(tuple(s.shape) != want for s in state):
            got = [tuple(s.shape) for s in state]
            raise CharwiseError(
                f"the state must be {n} tensor(s) of shape {want} (model.init_state({batch})), "
                f"got {got}"
            )

    def forward(self, x: torch.Tensor, state: State | None = None, return_hidden: bool = False):
        """x: (B, T) int64 -> logits (B, T, V) float and the new state (tuple of (L, B, H)).

        With return_hidden, also the top layer's outputs (B, T, H).
        """
        x = self._ids(x, 2, "x")
        e = self.embed(x)  # (B, T, E)
        cfg = self.cfg
        if state is not None:
            self._check_state(state, x.shape[0])
        if self.written_out:
            out, new = self._written_out(e, state)
        elif self.training and (cfg.dropout > 0 or cfg.weight_drop > 0 or cfg.embed_dropout > 0):
            out, new = self._regularised(e, state)
        else:
            args = (e,) if state is None else (e, state if cfg.kind == "lstm" else state[0])
            out, new = self.rnn(*args)
            new = tuple(new) if cfg.kind == "lstm" else (new,)
        logits = self.head(out)  # (B, T, V)
        return (logits, new, out) if return_hidden else (logits, new)

    def _regularised(self, e: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """Training forward, one fused layer call at a time: e (B, T, E) -> top outputs (B, T, H)
        after dropout, and the new state.

        Dropout is variational ("locked", Gal & Ghahramani 2016; AWD-LSTM): one mask per stream
        and window, the same at every time step, on each layer's output (the next layer's input
        and the head's). Besides regularising RNNs better than a fresh mask per character, it
        draws B*H random numbers instead of B*T*H: PyTorch's CPU Bernoulli sampler costs ~10 ns
        a number, which for per-character masks was ~10% of a 2x512 training step. `weight_drop`
        masks each W_hh once per window (DropConnect)."""
        cfg = self.cfg
        if state is None:
            state = self.init_state(e.shape[0], e.device)
        inp, hs, cs = locked_dropout(e, cfg.embed_dropout), [], []
        for k in range(cfg.layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
            if cfg.weight_drop > 0:
                w_hh = F.dropout(w_hh, cfg.weight_drop, True)
            params = {
                "weight_ih_l0": w_ih,
                "weight_hh_l0": w_hh,
                "bias_ih_l0": b_ih,
                "bias_hh_l0": b_hh,
            }
            if cfg.kind == "lstm":
                hx = (state[0][k : k + 1], state[1][k : k + 1])
                inp, (h, c) = torch.func.functional_call(self._shells[k], params, (inp, hx))
                cs.append(c)
            else:
                inp, h = torch.func.functional_call(
                    self._shells[k], params, (inp, state[0][k : k + 1])
                )
            hs.append(h)
            inp = locked_dropout(inp, cfg.dropout)
        new = (torch.cat(hs), torch.cat(cs)) if cs else (torch.cat(hs),)
        return inp, new

    def _written_out(self, e: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        """A variant's forward, layer by layer through variants.py: e (B, T, E) -> top outputs
        (B, T, H) and the new state, with the same locked dropout and DropConnect as
        _regularised when training."""
        cfg, drop = self.cfg, self.training
        if state is None:
            state = self.init_state(e.shape[0], e.device)
        inp = locked_dropout(e, cfg.embed_dropout if drop else 0.0)
        hs, cs = [], []
        for k in range(cfg.layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
            if drop and cfg.weight_drop > 0:
                w_hh = F.dropout(w_hh, cfg.weight_drop, True)
            c0 = state[1][k] if cfg.kind == "lstm" else None
            inp, h, c = self.extras[k].run(inp, state[0][k], c0, (w_ih, w_hh, b_ih, b_hh))
            hs.append(h.to(state[0].dtype))
            if c is not None:
                cs.append(c.to(state[1].dtype))
            inp = locked_dropout(inp, cfg.dropout if drop else 0.0)
        new = (torch.stack(hs), torch.stack(cs)) if cs else (torch.stack(hs),)
        return inp, new

    def step(self, x: torch.Tensor | int, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One character per stream: x (B,) int64 (or a Python int) -> logits (B, V), new state.

        The post's API: `state = model.init_state(); logits, state = model.step(x, state)`.
        In training mode dropout draws a fresh mask each call, as forward() does for a window
        of one step; in eval mode (what sampling uses) step and forward compute the same logits.
        """
        if not torch.is_tensor(x):
            x = torch.tensor([int(x)], device=self.head.weight.device)
        x = self._ids(x, 1, "x (one id per stream)")
        if state is None:
            state = self.init_state(x.shape[0])
        self._check_state(state, x.shape[0])
        return self.step_unchecked(x, state)

    def step_unchecked(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """step() without its input checks: x (B,) int64 ids, state as init_state(B) -> logits
        (B, V), new state. For tracing (the ONNX export): the id range check reads tensor
        values, which torch.export cannot trace."""
        inp = F.dropout(self.embed(x), self.cfg.embed_dropout, self.training)  # (B, E)
        hs, cs = [], []
        for k in range(self.cfg.layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
            if self.written_out:
                c0 = state[1][k] if self.cfg.kind == "lstm" else None
                h, c, _ = self.extras[k].step(inp, state[0][k], c0, (w_ih, w_hh, b_ih, b_hh))
                if c is not None:
                    cs.append(c)
                hs.append(h)
                inp = F.dropout(h, self.cfg.dropout, self.training)
                continue
            gx = F.linear(inp, w_ih, b_ih)
            if self.cfg.kind == "lstm":
                h, c, _ = cells.lstm_cell(gx, state[0][k], state[1][k], w_hh, b_hh)
                cs.append(c)
            elif self.cfg.kind == "gru":
                h, _ = cells.gru_cell(gx, state[0][k], w_hh, b_hh)
            else:
                h, _ = cells.rnn_cell(gx, state[0][k], w_hh, b_hh)
            hs.append(h)
            inp = F.dropout(h, self.cfg.dropout, self.training)
        logits = self.head(inp)
        new = (torch.stack(hs), torch.stack(cs)) if cs else (torch.stack(hs),)
        return logits, new

    def layer_weights(
        self, k: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Layer k's (W_ih (G*H, in), W_hh (G*H, H), b_ih (G*H,), b_hh (G*H,)), PyTorch's order."""
        r = self.rnn
        return (
            getattr(r, f"weight_ih_l{k}"),
            getattr(r, f"weight_hh_l{k}"),
            getattr(r, f"bias_ih_l{k}"),
            getattr(r, f"bias_hh_l{k}"),
        )


def locked_dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Dropout with one mask per sequence: x (B, T, H) * a (B, 1, H) mask scaled by 1/(1-p)."""
    if p == 0:
        return x
    mask = x.new_empty(x.shape[0], 1, x.shape[2]).bernoulli_(1 - p).div_(1 - p)
    return x * mask


def detach_state(state: State) -> State:
    """Cut the graph between TBPTT windows while keeping the values (the carried state)."""
    return tuple(s.detach() for s in state)
