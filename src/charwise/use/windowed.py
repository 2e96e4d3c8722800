"""Using a model that reads a bounded context (the transformer, no state carried): scoring a text
with sliding windows, and generation with a key/value cache that rolls forward.

Both keep every predicted character at least block / 2 characters of context (or all the text
before it, near the start): evaluation slides windows of `block` by a stride of block / 2 and
scores only each window's last stride of targets; the sampler caches keys and values up to
`block` positions and, when full, reads the last block / 2 characters afresh into an empty cache.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CharwiseError


def windows(n: int, block: int, stride: int) -> list[tuple[int, int, int]]:
    """The windows scoring targets 1..n (target t is ids[t], read from ids[:t]): (start a, first
    scored target, last scored target e). A window reads ids[a:e] (e - a = block, or all of
    ids[:e] for a text shorter than a window) and scores targets it has not scored before, so
    every target is counted once, each with at least block - stride characters of context."""
    out, done = [], 0
    while done < n:
        e = min(n, block if done == 0 else done + stride)
        out.append((max(0, e - block), done + 1, e))
        done = e
    return out


@torch.inference_mode()
def windowed_loss(
    model,
    ids: np.ndarray,
    batch: int = 32,
    device: torch.device | str | None = None,
    amp_dtype=None,
    stride: int | None = None,
) -> tuple[float, int]:
    """(N,) ids -> (total nats over the N-1 predicted characters, N-1), by windows of the
    model's block moved `stride` (block // 2) at a time, `batch` windows per forward."""
    n = len(ids) - 1
    if n < 1:
        raise CharwiseError("the text is too short to evaluate: it needs at least 2 characters")
    T = model.cfg.block
    stride = stride or max(1, T // 2)
    device = device or model.head.weight.device
    was_training = model.training
    model.eval()
    acc = torch.float32 if torch.device(device).type == "mps" else torch.float64
    total = torch.zeros((), dtype=acc, device=device)
    wins = windows(n, T, stride)
    for i in range(0, len(wins), batch):
        group = wins[i : i + batch]
        w = max(e - a for a, _, e in group)  # = T except for a text shorter than one window
        x = np.zeros((len(group), w), dtype=np.int64)
        y = np.full((len(group), w), -100, dtype=np.int64)  # -100: read, not scored
        for r, (a, first, e) in enumerate(group):
            x[r, : e - a] = ids[a:e]
            y[r, first - 1 - a : e - a] = ids[first : e + 1]
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.autocast(
            device_type=torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None
        ):
            logits, _ = model(x)
        total += F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            y.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
    model.train(was_training)
    return float(total), n


class CachedRunner:
    """Generation for M streams with a key/value cache: `advance(x)` takes (M,) ids, the last
    character of each stream, and returns (M, V) logits for the next one.

    The cache holds up to `block` positions. When it is full, the last block / 2 characters
    (the one given included) are read afresh from position 0: one forward over block / 2
    characters every block / 2 steps, so each step costs about one cached step plus one
    character of a window read, and every prediction has at least block / 2 characters of
    context, as in windowed_loss. (A rolling window re-read at every step would cost a whole
    window per character; shifting a learned-position cache in place is not what the model
    was trained on.)"""

    def __init__(self, model, prime: list[int], M: int, dtype: torch.dtype = torch.float32):
        self.model, self.dtype = model, dtype
        self.block = model.cfg.block
        self.reread = max(1, self.block // 2)
        self.device = model.head.weight.device
        self.cache = model.new_cache(M)
        # The ids read so far, the latest `block` of each stream (M, <= block).
        past = torch.tensor([prime[-(self.block - 1) :]] if prime else [[]], dtype=torch.long)
        self.past = past.to(self.device).expand(M, -1).contiguous()
        self.n = self.past.shape[1]
        if self.n:
            with self._autocast():
                self.model.prefill(self.past, self.cache)

    def _autocast(self):
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16
        )

    def advance(self, x: torch.Tensor) -> torch.Tensor:
        self.past = torch.cat([self.past[:, -(self.block - 1) :], x[:, None]], 1)
        with self._autocast():
            if self.n < self.block:
                logits = self.model.decode(x, self.cache, self.n)
                self.n += 1
            else:
                logits = self.model.prefill(self.past[:, -self.reread :], self.cache)
                self.n = self.reread
        return logits.float()

    def keep(self, rows: torch.Tensor) -> None:
        """Keep these rows (a Decoder's reordering for beam search): rows (n',) of the n."""
        rows = rows.to(self.device)
        self.past = self.past.index_select(0, rows)
        self.cache = [c.index_select(0, rows) for c in self.cache]
