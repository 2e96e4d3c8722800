"""Loss over any text, state carried: nats and bits per character, perplexity.

The text's (input, target) pairs are cut into `streams` contiguous pieces run side by side; each
piece carries its hidden state from window to window. A piece starts reading `context` characters
before its first scored target (a burn-in that is read, not scored), so every character is
predicted with at least that much preceding text, as in one pass over the whole text with the
state carried: cutting 111,540 characters into 32 pieces from zero states raised a 2x512 LSTM's
loss by 0.0024 nats/char; with 256 characters of burn-in 32 or 64 pieces agree with one pass to
1e-5 (bench/RESULTS.md).
Every target is counted once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CharwiseError
from ..nn.model import CharRNN
from .cache import CacheConfig, ContinuousCache
from .windowed import windowed_loss

LN2 = math.log(2.0)


@dataclass(frozen=True)
class EvalResult:
    nats_per_char: float
    bits_per_char: float
    perplexity: float
    chars: int  # characters predicted
    unknown_chars: int = 0  # characters outside the vocabulary, left out of the text
    unknown: str = ""  # which ones

    def to_dict(self) -> dict:
        return asdict(self)


def result_from_nats(nats_total: float, n: int, unknown: int = 0, desc: str = "") -> EvalResult:
    npc = nats_total / max(n, 1)
    return EvalResult(npc, npc / LN2, math.exp(min(npc, 700.0)), n, unknown, desc)


@torch.inference_mode()
def loss_over_ids(
    model: CharRNN,
    ids: np.ndarray,
    streams: int = 32,
    window: int = 256,
    device: torch.device | str | None = None,
    amp_dtype=None,
    context: int = 256,
    cache: CacheConfig | None = None,
) -> tuple[float, int]:
    """(N,) ids -> (total nats over the N-1 predicted characters, N-1). A model that carries
    no state (the transformer) is scored by sliding windows instead (windowed.py). With `cache`,
    each prediction is mixed with a continuous cache of the stream's recent hidden states
    (cache.py)."""
    if cache is not None and not model.carries_state:
        raise CharwiseError(
            "the continuous cache reads an RNN's hidden states; this model has none"
        )
    if not model.carries_state:
        return windowed_loss(model, ids, batch=streams, device=device, amp_dtype=amp_dtype)
    n = len(ids) - 1
    if n < 1:
        raise CharwiseError("the text is too short to evaluate: it needs at least 2 characters")
    device = device or model.head.weight.device
    streams = max(1, min(streams, n // 64 or 1))  # short texts: fewer, longer pieces
    piece = -(-n // streams)  # ceil
    # Stream s scores targets [s*piece, end_s) and starts reading burn_s characters earlier.
    first = [s * piece for s in range(streams)]
    start = [max(0, f - context) for f in first]
    end = [min(f + piece, n) for f in first]
    steps = max(e - a for a, e in zip(start, end, strict=True))
    was_training = model.training
    model.eval()
    state = None
    # Summed on the device (no host sync per window); MPS has no float64.
    acc = torch.float32 if torch.device(device).type == "mps" else torch.float64
    total = torch.zeros((), dtype=acc, device=device)
    mem = None if cache is None else ContinuousCache(cache, streams, model.cfg.vocab_size, device)
    for t0 in range(0, steps, window):
        # Stream s reads ids[start_s + t0 :][:w]. Windows are cut from `ids` as needed, so a
        # memory-mapped text of any size costs (streams, window) of RAM, not a copy of it.
        w = min(window, steps - t0)
        x = np.zeros((streams, w), dtype=np.int64)
        y = np.full((streams, w), -100, dtype=np.int64)  # -100: not scored (padding, burn-in)
        for s in range(streams):
            a = start[s] + t0
            b = min(a + w, end[s])
            if b > a:
                x[s, : b - a] = ids[a:b]
                y[s, : b - a] = ids[a + 1 : b + 1]
                y[s, : max(0, min(first[s], b) - a)] = -100  # burn-in: read, not scored
        x, y = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.autocast(
            device_type=torch.device(device).type, dtype=amp_dtype, enabled=amp_dtype is not None
        ):
            logits, state, h = model(x, state, return_hidden=True)  # h: already computed
        if mem is not None:
            total += mem.score(h, logits, y)
        else:
            total += F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                y.reshape(-1),
                ignore_index=-100,
                reduction="sum",
            )
    model.train(was_training)
    return float(total), n
