"""CharTransformer: a small causal (GPT-style) transformer over characters.

embedding -> `layers` pre-LayerNorm blocks (causal self-attention through torch's fused
`scaled_dot_product_attention`, a 4x GELU MLP) -> LayerNorm -> linear head. Positions are
rotary (queries and keys rotated by their position's angles) or learned (added to the
embedding). Width `hidden`, `heads` heads of hidden / heads, context `block` characters.

It answers the calls the trainer makes of a CharRNN, with no state to carry: `init_state`
returns (), `forward(x, state)` returns (logits, ()), so the training loop runs it unchanged on
random block-long windows (data/batches.WindowBatcher). For generation it keeps a key/value
cache: `prefill(x)` reads a (B, t) prefix from an empty cache, `decode(x)` adds one character.
For inspection, `forward(x, probes=[])` runs the same blocks with the attention written out
(softmax(q k^T / sqrt(hd)) v instead of the fused kernel) and hands back each block's attention
weights and MLP units (`probe`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from ..errors import CharwiseError

State = tuple[torch.Tensor, ...]
Rotation = tuple[torch.Tensor, torch.Tensor]  # cos, sin: (t, head width / 2) each


def rotate(x: torch.Tensor, rot: Rotation) -> torch.Tensor:
    """Rotary positions (Su et al. 2021): x (B, heads, t, hd) with each pair (i, i + hd/2) of
    features rotated by its position's angle, so q . k depends on the distance between them."""
    cos, sin = rot
    a, b = x.chunk(2, dim=-1)
    return torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)


def attention_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal attention weights as scaled_dot_product_attention(is_causal=True) computes them:
    q, k (B, heads, t, hd) -> softmax(q k^T / sqrt(hd)) (B, heads, t, t), 0 above the diagonal.
    Its rows times v are the fused kernel's output (tests check it reproduces the logits)."""
    t = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    future = torch.ones(t, t, dtype=torch.bool, device=q.device).triu(1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


class Block(nn.Module):
    """x + attention(LN(x)), then x + MLP(LN(x)) (pre-LN: trains stably at Adam's 3e-3)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        d = cfg.hidden
        self.heads, self.dropout, self.attn_dropout = cfg.heads, cfg.dropout, cfg.attn_dropout
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def _split(self, x: torch.Tensor, rot: Rotation | None):
        """(B, t, D) -> q, k, v each (B, heads, t, D / heads); q and k rotated by `rot` (the
        rotary positions' cos, sin for these t positions, each (t, hd / 2)) when given."""
        B, t, D = x.shape
        qkv = self.qkv(self.ln1(x)).view(B, t, 3, self.heads, D // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if rot is not None:
            q, k = rotate(q, rot), rotate(k, rot)
        return q, k, v

    def _rest(self, x: torch.Tensor, att: torch.Tensor, probe: dict | None = None) -> torch.Tensor:
        """The block after attention: att (B, heads, t, hd) -> the block's output (B, t, D).
        With `probe` (a dict), probe["mlp"] = the MLP's units after the GELU, (B, t, 4D)."""
        B, _, t, _ = att.shape
        p = self.dropout if self.training else 0.0
        x = x + F.dropout(self.proj(att.transpose(1, 2).reshape(B, t, -1)), p, self.training)
        units = F.gelu(self.fc(self.ln2(x)))
        if probe is not None:
            probe["mlp"] = units
        return x + F.dropout(self.out(units), p, self.training)

    def forward(
        self,
        x: torch.Tensor,
        rot: Rotation | None = None,
        cache: list | None = None,
        probe: dict | None = None,
    ) -> torch.Tensor:
        """x (B, t, D) -> (B, t, D), every position attending to itself and those before it.
        With `cache` (an empty list), the keys and values are appended to it for decoding.
        With `probe` (a dict), the attention is written out and the block leaves in it
        "attn", the weights (B, heads, t, t) (row i: how position i spreads over 0..i, zero
        after i), and "mlp" (see _rest)."""
        q, k, v = self._split(x, rot)
        if cache is not None:
            cache.extend((k, v))
        if probe is not None:
            w = attention_weights(q, k)
            probe["attn"] = w
            drop = F.dropout(w, self.attn_dropout, self.training)
            return self._rest(x, drop @ v, probe)
        p = self.attn_dropout if self.training else 0.0
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        return self._rest(x, att)

    def step(
        self, x: torch.Tensor, rot: Rotation | None, kc: torch.Tensor, vc: torch.Tensor, n: int
    ) -> torch.Tensor:
        """One new position: x (B, 1, D), keys / values cached in kc, vc (B, heads, block, hd)
        of which n are filled; writes position n and attends over 0..n (no mask needed)."""
        q, k, v = self._split(x, rot)
        kc[:, :, n : n + 1] = k
        vc[:, :, n : n + 1] = v
        att = F.scaled_dot_product_attention(q, kc[:, :, : n + 1], vc[:, :, : n + 1])
        return self._rest(x, att)


class CharTransformer(nn.Module):
    carries_state = False  # every window is read from its start: no state between windows

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.hidden % cfg.heads:
            raise CharwiseError(f"hidden {cfg.hidden} is not divisible by heads {cfg.heads}")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.hidden)
        if cfg.positions == "learned":
            self.pos = nn.Embedding(cfg.block, cfg.hidden)
        else:  # rotary: fixed angles, not weights (not saved: they follow from the config)
            hd = cfg.hidden // cfg.heads
            freq = 10000.0 ** (-torch.arange(0, hd, 2, dtype=torch.float32) / hd)
            angle = torch.arange(cfg.block, dtype=torch.float32)[:, None] * freq  # (block, hd/2)
            self.register_buffer("rot_cos", angle.cos(), persistent=False)
            self.register_buffer("rot_sin", angle.sin(), persistent=False)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.norm = nn.LayerNorm(cfg.hidden)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation: N(0, 0.02), the projections into the residual stream scaled
        by 1/sqrt(2 layers) so the stream's variance does not grow with depth; zero biases."""
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                std = 0.02
                if name.endswith(("proj.weight", "out.weight")):
                    std /= math.sqrt(2 * self.cfg.layers)
                nn.init.normal_(p, std=std)

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(self, batch_size: int = 1, device=None) -> State:
        """No state: () (the trainer carries it unchanged between windows)."""
        return ()

    def _check(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise CharwiseError(f"x must hold integer character ids, not {x.dtype}")
        if x.dim() != 2:
            raise CharwiseError(f"x must have 2 dimension(s), got shape {tuple(x.shape)}")
        if start + x.shape[1] > self.cfg.block:
            raise CharwiseError(
                f"a window of {start + x.shape[1]} characters is longer than the model's "
                f"context of {self.cfg.block}"
            )
        if x.device.type == "cpu" and x.numel():
            lo, hi = int(x.min()), int(x.max())
            if lo < 0 or hi >= self.cfg.vocab_size:
                raise CharwiseError(
                    f"x holds id {lo if lo < 0 else hi}, outside the vocabulary's "
                    f"0..{self.cfg.vocab_size - 1}"
                )
        return x.long()

    def _embed(self, x: torch.Tensor, start: int = 0) -> tuple[torch.Tensor, Rotation | None]:
        """x (B, t) ids read from position `start` -> (B, t, D) inputs and the rotation of
        these positions (None with learned positions, added to the inputs instead)."""
        e = self.embed(x)
        end = start + x.shape[1]
        rot = None
        if self.cfg.positions == "learned":
            e = e + self.pos(torch.arange(start, end, device=x.device))
        else:
            rot = (self.rot_cos[start:end], self.rot_sin[start:end])
        return F.dropout(e, self.cfg.dropout, self.training), rot

    def forward(
        self,
        x: torch.Tensor,
        state: State | None = None,
        return_hidden: bool = False,
        probes: list[dict] | None = None,
    ):
        """x: (B, T) ids, T <= block -> logits (B, T, V) and () (no state); with return_hidden
        also the last block's normalised outputs (B, T, D). `state` is accepted and ignored,
        so the trainer's TBPTT call works unchanged. With `probes` (an empty list) the
        attention is written out and one dict per block is appended to it: "attn" (B, heads,
        T, T) weights and "mlp" (B, T, 4D) units (Block.forward)."""
        h, rot = self._embed(self._check(x))
        for blk in self.blocks:
            probe = None if probes is None else {}
            h = blk(h, rot, probe=probe)
            if probes is not None:
                probes.append(probe)
        h = self.norm(h)
        logits = self.head(h)
        return (logits, (), h) if return_hidden else (logits, ())

    # -- generation with a key/value cache -------------------------------------------------------
    def new_cache(self, batch: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        """Empty key/value buffers: 2 per layer, each (B, heads, block, hidden / heads)."""
        c = self.cfg
        shape = (batch, c.heads, c.block, c.hidden // c.heads)
        w = self.head.weight
        return [torch.zeros(shape, device=w.device, dtype=dtype) for _ in range(2 * c.layers)]

    def prefill(self, x: torch.Tensor, cache: list[torch.Tensor]) -> torch.Tensor:
        """Read x (B, t) from position 0 into `cache` (new_cache's): logits (B, V) of its last
        position (what follows x)."""
        h, rot = self._embed(self._check(x))
        t = x.shape[1]
        for i, blk in enumerate(self.blocks):
            kv: list[torch.Tensor] = []
            h = blk(h, rot, kv)
            cache[2 * i][:, :, :t] = kv[0]
            cache[2 * i + 1][:, :, :t] = kv[1]
        return self.head(self.norm(h[:, -1]))

    def decode(self, x: torch.Tensor, cache: list[torch.Tensor], n: int) -> torch.Tensor:
        """One character per stream at position n (n < block, positions 0..n-1 cached): x (B,)
        ids -> logits (B, V); the cache gains position n."""
        h, rot = self._embed(x.long()[:, None], n)
        for i, blk in enumerate(self.blocks):
            h = blk.step(h, rot, cache[2 * i], cache[2 * i + 1], n)
        return self.head(self.norm(h[:, 0]))
