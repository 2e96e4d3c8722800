"""A dynamic n-gram: the static model mixed with an n-gram counted on the text read so far (the
cache model of Kuhn & De Mori 1990, for characters). It is the count-based counterpart of the
network's continuous cache (use/cache.py), so that a network scored with a cache is compared with
an n-gram that has one of its own:

    p(x_t) = (1 - lam) p_static(x_t | x_<t) + lam p_read(x_t | x_{t-K} .. x_{t-1})

p_read interpolates orders 0..K by Witten-Bell over the counts of every character read before t
(one stream, from the start of the text), down to a uniform distribution: for the context c of
order k, p_k(x) = (n(c, x) + d(c) p_{k-1}(x)) / (n(c) + d(c)), with n the counts and d(c) the
number of distinct characters seen after c; a context not yet seen keeps p_{k-1}. Each character
is scored before it is counted. Unlike the network's cache, whose memory is its last few thousand
states, this one remembers the whole text read: a generous baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CharwiseError
from ..fields import option, validate
from .model import contexts_of
from .run import NGramModel


@dataclass(frozen=True)
class NGramCacheConfig:
    """An n-gram run's cache (`charwise eval NGRAM_RUN --cache`): its --cache-lambda is the
    network cache's flag, with the same meaning; --cache-order is its own."""

    cache_order: int = option(8, ge=0)  # n-gram runs: longest context counted in the text read
    cache_lambda: float = option(0.1, gt=0, lt=1)  # the cache's weight in the mix

    def __post_init__(self) -> None:
        validate(self)


def static_probs(model: NGramModel, ids: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """(N,) ids -> (N-1,) float64 P_static(ids[t] | the text before t), t = 1 .. N-1."""
    ids = np.asarray(ids, dtype=np.int64)
    tables, out = model.tables, []
    for t0 in range(1, len(ids), chunk):
        t = np.arange(t0, min(t0 + chunk, len(ids)))
        out.append(tables.prob_of(contexts_of(ids, t, tables.order - 1, tables.V), ids[t]))
    return np.concatenate(out) if out else np.zeros(0)


def read_probs(ids: np.ndarray, order: int, vocab: int) -> np.ndarray:
    """(N,) ids -> (N-1,) float64 P_read(ids[t]): Witten-Bell over orders 0..order of the counts
    of ids[:t] (see the module's docstring), t = 1 .. N-1. Position 0 is read, not scored."""
    seq = [int(i) for i in np.asarray(ids).reshape(-1)]
    follow: dict[tuple[int, int], dict[int, int]] = {}  # (order, context code) -> next -> count
    total: dict[tuple[int, int], int] = {}
    out = np.empty(max(len(seq) - 1, 0))
    keys = [(0, 0)] * (order + 1)
    for t, x in enumerate(seq):
        # The contexts of position t, shortest first; a context's code is its characters in base
        # vocab + 1, nearest first (the +1 keeps a leading id 0 from vanishing).
        code, k_max = 0, min(order, t)
        for k in range(k_max + 1):
            if k:
                code = code * (vocab + 1) + seq[t - k] + 1
            keys[k] = (k, code)
        if t:
            p = 1.0 / vocab
            for k in range(k_max + 1):
                seen = follow.get(keys[k])
                if seen is not None:
                    d = len(seen)
                    p = (seen.get(x, 0) + d * p) / (total[keys[k]] + d)
            out[t - 1] = p
        for k in range(k_max + 1):
            seen = follow.setdefault(keys[k], {})
            seen[x] = seen.get(x, 0) + 1
            total[keys[k]] = total.get(keys[k], 0) + 1
    return out


def mixed_nats(static: np.ndarray, read: np.ndarray, lam: float) -> float:
    """Total nats of the mix of (Q,) static and (Q,) read-text probabilities at weight lam."""
    return float(-np.log((1.0 - lam) * static + lam * read).sum())


def cache_loss_over_ids(
    model: NGramModel,
    ids: np.ndarray,
    cfg: NGramCacheConfig | None = None,
    static: np.ndarray | None = None,
) -> tuple[float, int]:
    """(N,) ids -> (total nats of predicting ids[1:] with the dynamic n-gram, N-1). `static`:
    static_probs(model, ids) if the caller already has them."""
    cfg = cfg or NGramCacheConfig()
    if len(ids) < 2:
        raise CharwiseError("the text is too short to evaluate: it needs at least 2 characters")
    if static is None:
        static = static_probs(model, ids)
    read = read_probs(ids, cfg.cache_order, model.vocab.size)
    return mixed_nats(static, read, cfg.cache_lambda), len(ids) - 1


def tune_cache(
    model: NGramModel,
    ids: np.ndarray,
    orders: tuple[int, ...] = (3, 5, 8, 12, 20, 30),
    lams: tuple[float, ...] = (0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5),
) -> tuple[NGramCacheConfig, dict[tuple[int, float], float]]:
    """(N,) held-out ids -> (the order and weight with the lowest loss on them, every pair's
    nats/char)."""
    static = static_probs(model, ids)
    n = len(static)
    grid = {}
    for order in orders:
        read = read_probs(ids, order, model.vocab.size)
        for lam in lams:
            grid[order, lam] = mixed_nats(static, read, lam) / n
    best = min(grid, key=grid.__getitem__)
    return NGramCacheConfig(cache_order=best[0], cache_lambda=best[1]), grid
