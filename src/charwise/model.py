"""CharRNN: embedding -> stacked LSTM / GRU / RNN (PyTorch's fused kernels) -> linear head.

State is a tuple of (L, B, H) tensors: (h, c) for an LSTM, (h,) for a GRU or RNN.
`forward` runs whole (B, T) windows through the fused kernel (oneDNN on CPU, cuDNN on GPU);
`step` advances one character with the written-out cells of cells.py, which skips the fused
kernel's per-call set-up cost that dominates when T = 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import cells
from .config import ModelConfig

State = tuple[torch.Tensor, ...]

_RNN = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embed)
        self.rnn = _RNN[cfg.kind](
            cfg.embed,
            cfg.hidden,
            num_layers=cfg.layers,
            batch_first=True,
            dropout=cfg.dropout if cfg.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)
        self.reset_parameters()

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

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(self, batch_size: int = 1, device: torch.device | str | None = None) -> State:
        """Zero state: a tuple of (L, B, H) tensors ((h, c) for an LSTM, (h,) otherwise)."""
        device = device if device is not None else self.head.weight.device
        zeros = lambda: torch.zeros(self.cfg.layers, batch_size, self.cfg.hidden, device=device)  # noqa: E731
        return (zeros(), zeros()) if self.cfg.kind == "lstm" else (zeros(),)

    def forward(self, x: torch.Tensor, state: State | None = None, return_hidden: bool = False):
        """x: (B, T) int64 -> logits (B, T, V) float and the new state (tuple of (L, B, H)).

        With return_hidden, also the top layer's outputs (B, T, H).
        """
        e = self.embed(x)  # (B, T, E)
        args = (e,) if state is None else (e, state if self.cfg.kind == "lstm" else state[0])
        if self.training and self.cfg.weight_drop > 0:
            # DropConnect (Merity et al. 2017, AWD-LSTM): one mask per window on every W_hh,
            # the same at each time step, so the fused kernel still runs; gradients reach the
            # kept weights through the mask.
            p = self.cfg.weight_drop
            dropped = {
                f"weight_hh_l{k}": F.dropout(getattr(self.rnn, f"weight_hh_l{k}"), p, True)
                for k in range(self.cfg.layers)
            }
            out, new = torch.func.functional_call(self.rnn, dropped, args)
        else:
            out, new = self.rnn(*args)
        new = tuple(new) if self.cfg.kind == "lstm" else (new,)
        logits = self.head(self.drop(out))  # (B, T, V)
        return (logits, new, out) if return_hidden else (logits, new)

    def step(self, x: torch.Tensor | int, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One character per stream: x (B,) int64 (or a Python int) -> logits (B, V), new state.

        The post's API: `state = model.init_state(); logits, state = model.step(x, state)`.
        """
        if not torch.is_tensor(x):
            x = torch.tensor([int(x)], device=self.head.weight.device)
        if state is None:
            state = self.init_state(x.shape[0])
        inp = self.embed(x)  # (B, E)
        hs, cs = [], []
        for k in range(self.cfg.layers):
            w_ih, w_hh, b_ih, b_hh = self.layer_weights(k)
            gx = F.linear(inp, w_ih, b_ih)
            if self.cfg.kind == "lstm":
                h, c, _ = cells.lstm_cell(gx, state[0][k], state[1][k], w_hh, b_hh)
                cs.append(c)
            elif self.cfg.kind == "gru":
                h, _ = cells.gru_cell(gx, state[0][k], w_hh, b_hh)
            else:
                h, _ = cells.rnn_cell(gx, state[0][k], w_hh, b_hh)
            hs.append(h)
            inp = F.dropout(h, self.cfg.dropout, self.training) if k < self.cfg.layers - 1 else h
        logits = self.head(self.drop(inp))
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


def detach_state(state: State) -> State:
    """Cut the graph between TBPTT windows while keeping the values (the carried state)."""
    return tuple(s.detach() for s in state)
