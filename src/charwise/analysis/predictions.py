"""What the analyses compare: per-character predictions of an RNN and of n-grams over a text.

One convention for every per-character array in analysis/: an array `x` of length N (the text's
length) holds at x[t] what a model said about character t from the characters before it, and
x[0] is NaN (nothing precedes the first character, so nothing predicted it). Losses are nats.

The RNN runs the way `charwise eval` does (use/evaluate.py): the text cut into `streams` pieces
run side by side, state carried from window to window, each piece reading `context` characters
before its first scored one. With streams=1 it is one pass from a zero state, the pass
`charwise.inspect.record` makes; with 256 characters of burn-in, 32 pieces agreed with one pass
to 1e-5 nats/char (bench/RESULTS.md), at a fraction of the time.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CharwiseError
from ..ngram.counting import build_levels
from ..ngram.model import SMOOTHINGS, NGramTables, contexts_of

# n-gram queries per numpy pass: (CHUNK, V) float64 stays within the caches' reach (a 10-gram's
# distributions took 0.33 CPU s per 32k positions in chunks of 1-4k, 0.63 s in chunks of 16k).
CHUNK = 4096


def as_ids(ids: np.ndarray, what: str = "ids") -> np.ndarray:
    """(N,) integer ids as int64, or a CharwiseError naming what was wrong."""
    arr = np.asarray(ids)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise CharwiseError(f"{what} must be a 1-D array of integer character ids")
    return arr.astype(np.int64, copy=False)


# -- n-grams --------------------------------------------------------------------------------------
def ngram_tables(
    train_ids: np.ndarray, vocab_size: int, order: int, smoothing: str = "kn"
) -> NGramTables:
    """Count an n-gram of `order` on (M,) training ids: the tables `charwise ngram` saves."""
    train_ids = as_ids(train_ids, "the training ids")
    if len(train_ids) == 0:
        raise CharwiseError("the training text is empty: nothing to count")
    if order < 1:
        raise CharwiseError("an n-gram order must be at least 1")
    if smoothing not in SMOOTHINGS:
        raise CharwiseError(f"unknown smoothing {smoothing!r}; choose one of {SMOOTHINGS}")
    if int(train_ids.max()) >= vocab_size:
        raise CharwiseError("a training id is outside the vocabulary")
    return NGramTables(
        build_levels(train_ids, vocab_size, order, smoothing), train_ids, vocab_size, smoothing
    )


def ngram_char_probs(tables: NGramTables, ids: np.ndarray) -> np.ndarray:
    """(N,) ids -> (N,) float64 P(ids[t] | the order-1 characters before it); NaN at 0.

    Contexts are built as `ngram.model.total_nats` builds them (the padding symbol V stands for
    "before the start of the text"), so -sum(log p[1:]) is the n-gram's loss on the text.
    """
    ids = as_ids(ids)
    p = np.full(len(ids), np.nan)
    for t0 in range(1, len(ids), CHUNK):
        t = np.arange(t0, min(t0 + CHUNK, len(ids)))
        p[t] = tables.prob_of(contexts_of(ids, t, tables.order - 1, tables.V), ids[t])
    return p


def ngram_distributions(tables: NGramTables, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(K,) positions t >= 1 of (N,) ids -> (K, V) float64: the n-gram's distribution over
    character t given the characters before it."""
    positions = np.asarray(positions)
    out = np.empty((len(positions), tables.V))
    for k0 in range(0, len(positions), CHUNK):
        ctx = contexts_of(ids, positions[k0 : k0 + CHUNK], tables.order - 1, tables.V)
        out[k0 : k0 + CHUNK] = tables.dist(ctx)
    return out


# -- the RNN --------------------------------------------------------------------------------------
@torch.inference_mode()
def rnn_blocks(
    model, ids: np.ndarray, streams: int = 32, window: int = 256, context: int = 256
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (positions (K,) int64, probs (K, V) float32) until every t in 1..N-1 came once:
    probs[k] is the model's distribution over character positions[k] given the text before it.

    model: a CharRNN (evaluated in eval mode on its own device). The order of the blocks depends
    only on len(ids) and the three settings, so several models run with the same settings yield
    the same positions block by block (training_dynamics relies on it).
    """
    ids = as_ids(ids)
    n = len(ids) - 1  # inputs 0..n-1 predict characters 1..n
    if n < 1:
        raise CharwiseError("the text is too short: it needs at least 2 characters")
    if streams < 1 or window < 1 or context < 0:
        raise CharwiseError("streams and window must be at least 1, context at least 0")
    device = model.head.weight.device
    streams = max(1, min(streams, n // 64 or 1))  # short texts: fewer, longer pieces
    piece = -(-n // streams)
    first = [s * piece for s in range(streams)]  # stream s scores inputs [first, end)
    start = [max(0, f - context) for f in first]  # ... reading from start (burn-in)
    end = [min(f + piece, n) for f in first]
    steps = max(e - a for a, e in zip(start, end, strict=True))
    was_training = model.training
    model.eval()
    state = None
    try:
        for t0 in range(0, steps, window):
            w = min(window, steps - t0)
            x = np.zeros((streams, w), dtype=np.int64)
            rows, cols, pos = [], [], []
            for s in range(streams):
                a = start[s] + t0
                b = min(a + w, end[s])
                if b > a:
                    x[s, : b - a] = ids[a:b]
                    lo = max(a, first[s])  # inputs before `first` are burn-in: read, not kept
                    if b > lo:
                        rows.append(np.full(b - lo, s))
                        cols.append(np.arange(lo - a, b - a))
                        pos.append(np.arange(lo + 1, b + 1))  # input i predicts character i+1
            logits, state = model(torch.from_numpy(x).to(device), state)
            if pos:
                r = torch.from_numpy(np.concatenate(rows)).to(device)
                c = torch.from_numpy(np.concatenate(cols)).to(device)
                probs = F.softmax(logits[r, c].float(), dim=-1)
                yield np.concatenate(pos), probs.cpu().numpy()
    finally:
        model.train(was_training)


def rnn_char_probs(
    model, ids: np.ndarray, streams: int = 32, window: int = 256, context: int = 256
) -> np.ndarray:
    """(N,) ids -> (N,) float64 P(ids[t] | ids[:t]) under a CharRNN; NaN at 0."""
    ids = as_ids(ids)
    p = np.full(len(ids), np.nan)
    for pos, probs in rnn_blocks(model, ids, streams, window, context):
        p[pos] = probs[np.arange(len(pos)), ids[pos]]
    return p


def recording_char_probs(rec) -> np.ndarray:
    """A charwise.inspect Recording -> (N,) float64 in this module's convention: its p_next[t]
    is the probability of character t+1, so it moves one place right."""
    p = np.full(rec.n, np.nan)
    p[1:] = rec.p_next[:-1]
    return p


def losses(p: np.ndarray) -> np.ndarray:
    """Per-character probabilities -> per-character losses in nats (NaN stays NaN)."""
    # A probability that underflowed to 0 counts as 1e-300 (690.8 nats), not as infinity.
    return -np.log(np.maximum(np.asarray(p, dtype=np.float64), 1e-300))
