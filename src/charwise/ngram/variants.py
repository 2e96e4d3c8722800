"""Other ways to turn the same counts into probabilities, for comparing against interpolated
Kneser-Ney (bench/ngram_gap.py): Kneser-Ney as a backoff model, and PPM with exclusion.

- Backoff Kneser-Ney (Katz-style, as SRILM builds it without -interpolate): a character seen
  after the context gets only its discounted count, max(c - D, 0) / denom; the discount mass is
  spread over the characters *not* seen there, in proportion to the lower order's probabilities:

      P_m(w | h) = (c - D) / denom                      if c(h w) - D(c) > 0
                 = bo(h) * P_{m-1}(w | h')             otherwise
      bo(h)      = (gamma(h) / denom) / (1 - sum_{v: c(h v) - D > 0} P_{m-1}(v | h'))

- PPM with exclusion (Cleary & Witten 1984; Moffat 1990), the compressors' character model, on
  raw counts at every length (tables counted with smoothing "wb"): start at the longest context
  seen; a character seen there gets its share, the rest escapes to the next shorter context,
  where the characters already seen in the longer one are *excluded* from the counts. Method C
  (PPM-C): P = c / (n + T), escape T / (n + T); method D (PPMD): P = (c - 1/2) / n, escape
  T / (2 n). n: the total count, T: the number of distinct characters (both after exclusion).
  The order -1 model is uniform over the characters not yet excluded. Static here: the counts
  come from the train split and do not adapt to the text being scored, unlike a compressor.

Both work on whole (Q, V) distributions, so they cost V times the memory of `prob_of`.
"""

from __future__ import annotations

import numpy as np

from .model import NGramTables, contexts_of

PPM_METHODS = ("C", "D")


def backoff_dist(tables: NGramTables, older: np.ndarray) -> np.ndarray:
    """(Q, order-1) contexts -> (Q, V) backoff Kneser-Ney distributions (tables of kind kn)."""
    Q, V = len(older), tables.V
    P = np.full((Q, V), 1.0 / V)
    for m, kind, node, pos in tables.walk(older):
        cnt, gam, den = tables.level_counts(m, kind, node, pos)
        kept = tables.alpha(m, cnt)
        seen = kept > 0  # a count discounted to nothing backs off, as if unseen (as SRILM)
        lower_seen = (P * seen).sum(1)
        free = 1.0 - lower_seen
        # If every character was seen after h, the discount mass has nowhere to go: the row is
        # renormalised below (bo = 0), as a backoff model does.
        bo = np.where(free > 1e-12, gam / den / np.maximum(free, 1e-300), 0.0)
        new = np.where(seen, kept / den[:, None], bo[:, None] * P)
        total = new.sum(1, keepdims=True)  # 0 in rows whose context was never seen
        new /= np.where(total > 0, total, 1.0)
        P = np.where((kind > 0)[:, None], new, P)
    return P


def ppm_dist(tables: NGramTables, older: np.ndarray, method: str = "C") -> np.ndarray:
    """(Q, order-1) contexts -> (Q, V) PPM distributions with exclusion (tables of kind wb,
    whose levels hold raw counts)."""
    Q, V = len(older), tables.V
    levels = [
        (m, kind.copy(), node.copy(), pos.copy()) for m, kind, node, pos in tables.walk(older)
    ]
    P, left = np.zeros((Q, V)), np.ones(Q)  # left: the probability mass still to give out
    excluded = np.zeros((Q, V), bool)
    for m, kind, node, pos in reversed(levels):  # longest context first
        cnt, _, _ = tables.level_counts(m, kind, node, pos)
        cnt[excluded] = 0.0
        n, T = cnt.sum(1), np.count_nonzero(cnt, axis=1).astype(np.float64)
        ok = n > 0
        ns, Ts = np.where(ok, n, 1.0), T
        if method == "C":
            share, esc = cnt / (ns + Ts)[:, None], Ts / (ns + Ts)
        else:
            share, esc = np.where(cnt > 0, cnt - 0.5, 0.0) / ns[:, None], Ts / (2 * ns)
        P += np.where(ok[:, None], left[:, None] * share, 0.0)
        left = np.where(ok, left * esc, left)
        excluded |= cnt > 0
    free = (~excluded).sum(1)
    P += np.where(free[:, None] > 0, left[:, None] * ~excluded / np.maximum(free, 1)[:, None], 0)
    return P / P.sum(1, keepdims=True)  # renormalises only where every character was excluded


def nats_with(dist_fn, tables: NGramTables, ids: np.ndarray, chunk: int = 1 << 14) -> float:
    """(N,) ids -> total nats of predicting ids[1:] with `dist_fn(tables, contexts)`."""
    ids = np.asarray(ids, dtype=np.int64)
    total = 0.0
    for t0 in range(1, len(ids), chunk):
        t = np.arange(t0, min(t0 + chunk, len(ids)))
        P = dist_fn(tables, contexts_of(ids, t, tables.order - 1, tables.V))
        total -= float(np.log(P[np.arange(len(t)), ids[t]]).sum())
    return total
