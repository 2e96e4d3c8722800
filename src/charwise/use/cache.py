"""The continuous cache (Grave, Joulin & Usunier 2017, "Improving Neural Language Models with a
Continuous Cache"), for characters: while a text is scored, each stream keeps its last `size`
top-layer hidden states h_i with the character that followed each; the next character's
probability mixes the network's with the cache's,

    p_cache(c) = sum_i softmax_i(theta * h_t . h_i / H) [x_{i+1} = c]
    p(c)       = (1 - lambda_t) p_model(c) + lambda_t p_cache(c)

so a name, a word or a line the text has used recently is predicted from where it last occurred.
The cache stores no gradient and costs one (size x hidden) product per character.

lambda_t is not fixed, as in the paper, but a gate learnt while reading (one logistic unit over
four numbers: 1, the cache's and the model's top probabilities, the largest attention weight),
trained by online gradient steps on the mixture's own loss (one every GATE_EVERY characters of
each stream's text, on their mean over the streams): the cache is trusted where it is
confident and the network is not. It starts at `lam` (the paper's fixed weight), so `gate_lr = 0`
is the paper's method. Each character is scored before its target joins the cache or trains the
gate, so the loss is an honest online loss. Measured on a 600 s GRU (bench/RESULTS.md): 1.4521 ->
1.3544 nats/char static, 1.3474 -> 1.3141 with dynamic evaluation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..fields import option, validate

GATE_EVERY = 25  # positions of the text per step of the mixing gate


@dataclass(frozen=True)
class CacheConfig:
    """The continuous cache's settings (bench/RESULTS.md: measured on tinyshakespeare's
    validation text with a 2x512 GRU; 1,000 to 4,000 entries and theta 20-36 were within 0.002
    of each other). theta is per hidden unit (the paper's theta times the hidden size) because
    h . h_i grows with the number of saturated units, so one default can carry across widths."""

    cache_size: int = option(2000, ge=1)  # hidden states kept per stream
    cache_theta: float = option(25.0, gt=0)  # sharpness: scores are theta * (h . h_i) / hidden
    cache_lambda: float = option(0.1, gt=0, lt=1)  # the cache's weight in the mix at the start
    cache_gate_lr: float = option(10.0, ge=0)  # the mixing gate's learning rate (0: fixed weight)

    def __post_init__(self) -> None:
        validate(self)


def cache_streams(n: int, cfg: CacheConfig, most: int = 32) -> int:
    """Side-by-side streams (speed) for scoring n ids with the cache. Each stream caches only its
    own piece: no more of them than there are pieces at least a cache long, or a short text would
    never fill one."""
    return max(1, min(most, (n - 1) // cfg.cache_size))


class ContinuousCache:
    """Per-stream rings of (hidden state, next character) and the mixing gate, for K streams
    read side by side. `score` mixes one window's predictions with the cache, then stores the
    window."""

    def __init__(self, cfg: CacheConfig, streams: int, vocab: int, device: torch.device):
        self.cfg, self.K, self.V, self.device = cfg, streams, vocab, device
        M = cfg.cache_size
        self.keys: torch.Tensor | None = None  # (K, M, H), made at the first window (H from h)
        self.vals = torch.full((streams, M), -1, dtype=torch.long, device=device)  # -1: empty
        # Each slot's position in the text (the same for every stream: windows are aligned), so
        # a position sees exactly the `size` states before it, wherever the windows are cut.
        self.pos = torch.full((M,), -(2**62), dtype=torch.long, device=device)
        self.seen = 0  # positions read so far
        self.ptr = 0
        # Gate weights over (1, max p_cache, max p_model, max attention weight).
        lam = cfg.cache_lambda
        self.gate = torch.tensor([math.log(lam / (1 - lam)), 0.0, 0.0, 0.0], device=device)
        self._grad = torch.zeros(4, device=device)  # the gate's gradient since its last step
        self._count = torch.zeros((), device=device)  # positions it sums

    @torch.no_grad()
    def score(self, h: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """h (K, w, H) top-layer outputs, logits (K, w, V), y (K, w) targets (-100: not scored,
        not stored) -> the mixture's total nats over the scored targets (a 0-d tensor)."""
        K, w, H = h.shape
        h = h.detach().float()
        if self.keys is None:
            self.keys = torch.zeros(self.K, self.cfg.cache_size, H, device=self.device)
        valid = y >= 0
        yv = torch.where(valid, y, -1)
        # Scores against the ring and, causally, against this window's earlier positions:
        # position t may use entry j < t, whose target x_{j+1} has been read by then, if it is
        # one of the last `size` (t - j <= size).
        M = self.cfg.cache_size
        t = torch.arange(w, device=h.device)
        lag = t[:, None] - t[None, :]  # (w, w): t - j
        seg_bad = ((lag <= 0) | (lag > M))[None] | ~valid[:, None, :]  # (K, w, w)
        stale = (self.seen + t)[:, None] - self.pos[None, :] > M  # (w, M)
        ring_bad = (self.vals < 0)[:, None, :] | stale[None]  # (K, w, M)
        bad = torch.cat([ring_bad, seg_bad], -1)  # (K, w, M + w)
        hs = h * (self.cfg.cache_theta / H)  # scaled here: (K, w, H) is smaller than the scores
        sc = torch.cat([torch.bmm(hs, self.keys.transpose(1, 2)), torch.bmm(hs, h.mT)], -1)
        sc.masked_fill_(bad, -math.inf)
        has = ~bad.all(-1)  # (K, w): the cache holds something for this position
        # A position with nothing cached gets a finite softmax (all weight on entry 0); its
        # lambda is 0 below and it trains nothing, so what p_cache says there is never used.
        sc[..., 0].masked_fill_(~has, 0.0)
        att = torch.softmax(sc, -1)
        vals = torch.cat([self.vals, yv], 1)  # (K, M + w)
        # p_cache: each entry's weight added to its character's (empty entries have weight 0).
        # A scatter, not a product with one-hot rows: its cost does not grow with the vocabulary.
        idx = vals.clamp(min=0)[:, None, :].expand(K, w, -1)
        pc = torch.zeros(K, w, self.V, device=h.device).scatter_add_(2, idx, att)  # (K, w, V)
        pm = torch.softmax(logits.detach().float(), -1)
        yc = y.clamp(min=0)[..., None]
        pcy, pmy = pc.gather(-1, yc)[..., 0], pm.gather(-1, yc)[..., 0]
        feats = torch.stack([torch.ones_like(pcy), pc.amax(-1), pm.amax(-1), att.amax(-1)], -1)
        used = valid & has
        acc = torch.float32 if h.device.type == "mps" else torch.float64  # MPS has no float64
        nats = torch.zeros((), dtype=acc, device=h.device)
        # The gate steps every GATE_EVERY positions of the text (not per window, so the result
        # does not depend on where windows are cut): each piece is scored with the gate as it
        # stands, then adds its gradient.
        a = 0
        while a < w:
            b = min(w, a + GATE_EVERY - (self.seen + a) % GATE_EVERY)
            f, u = feats[:, a:b], used[:, a:b]
            lam = torch.sigmoid(f @ self.gate) * has[:, a:b]
            p = ((1 - lam) * pmy[:, a:b] + lam * pcy[:, a:b]).clamp(min=1e-30)
            nats -= (torch.log(p) * valid[:, a:b]).sum()
            if self.cfg.cache_gate_lr > 0:
                # d(-log p)/d(gate logit) = -(p_cache - p_model) / p * lambda (1 - lambda).
                gz = -(pcy[:, a:b] - pmy[:, a:b]) / p * lam * (1 - lam) * u
                self._grad += (gz[..., None] * f).sum((0, 1))
                self._count += u.sum()
                if (self.seen + b) % GATE_EVERY == 0:
                    self.gate -= self.cfg.cache_gate_lr * self._grad / self._count.clamp(min=1)
                    self._grad.zero_()
                    self._count.zero_()
            a = b
        self._store(h, yv)
        return nats

    def _store(self, h: torch.Tensor, yv: torch.Tensor) -> None:
        """Write the window's (h, target) pairs into the rings, oldest entries overwritten."""
        M, w = self.vals.shape[1], h.shape[1]
        first = self.seen
        self.seen += w
        if w > M:
            h, yv, first, w = h[:, -M:], yv[:, -M:], first + w - M, M
        idx = (self.ptr + torch.arange(w, device=h.device)) % M
        self.keys[:, idx] = h
        self.vals[:, idx] = yv
        self.pos[idx] = first + torch.arange(w, device=h.device)
        self.ptr = (self.ptr + w) % M
