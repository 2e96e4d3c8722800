"""The n-gram model: interpolated Kneser-Ney (or Witten-Bell) over the counted context levels.

For a context h of length m and a character w (h' is h without its oldest character):

    P_m(w | h) = (alpha(h, w) + gamma(h) * P_{m-1}(w | h')) / denom(h)      if h was seen
    P_m(w | h) = P_{m-1}(w | h')                                            otherwise
    P_{-1}(w)  = 1 / V                                                      (uniform)

Kneser-Ney (modified, Chen & Goodman 1998): alpha = max(c - D(c), 0) with D(c) in {D1, D2, D3+}
estimated from the level's counts of counts, gamma = the discount mass taken, denom = sum of c.
Witten-Bell: alpha = c, gamma = the number of distinct next characters T, denom = sum of c + T.
In both, sum_w alpha + gamma = denom, so every P_m sums to 1 over the vocabulary and every
character keeps a probability above zero: an unseen context or character never fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from .counting import Level, older_chars

SMOOTHINGS = ("kn", "wb")


def kn_discounts(counts: np.ndarray, extra_ones: int) -> np.ndarray:
    """Counts of one level (+ `extra_ones` more counts equal to 1) -> (D1, D2, D3+).

    Chen & Goodman's estimates; where a count of counts is zero (tiny texts) they fall back
    to Y = n1 / (n1 + 2 n2), and each D_k is kept in [0.05, k] so that c - D(c) >= 0 and some
    mass is always left for the lower order.
    """
    n = [int(np.count_nonzero(counts == k)) for k in (1, 2, 3, 4)]
    n[0] += extra_ones
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] > 0 else 0.5
    out = []
    for k in (1, 2, 3):
        d = k - (k + 1) * y * n[k] / n[k - 1] if n[k - 1] > 0 else float("nan")
        if not np.isfinite(d) or d <= 0:
            d = min(max(y, 0.05), 1.0)
        out.append(min(max(d, 0.05), float(k)))
    return np.array(out)


def _find(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of `keys` in `sorted_keys` and whether each is there."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
    idx = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return idx, sorted_keys[idx] == keys


class NGramTables:
    """The levels plus what the probabilities need per node: denom and gamma (float64)."""

    def __init__(
        self,
        levels: list[Level],
        train_ids: np.ndarray,
        vocab_size: int,
        smoothing: str,
        discounts: np.ndarray | None = None,
    ):
        """discounts: (order, 3) Kneser-Ney (D1, D2, D3+) per level, e.g. tuned on held-out text
        (ngram/tune.py); None estimates them from the counts of counts."""
        self.levels, self.V, self.smoothing = levels, vocab_size, smoothing
        self.train = np.asarray(train_ids, dtype=np.int64)
        self.order = len(levels)
        self.singletons = np.cumsum([len(lv.single_keys) for lv in levels])  # alive at level m
        self.denom, self.gamma, self.disc = [], [], []
        for m, lv in enumerate(levels):
            node = lv.pair_keys // vocab_size
            c = lv.pair_counts
            denom = np.bincount(node, weights=c, minlength=lv.n_nodes).astype(np.float64)
            if smoothing == "kn":
                d = (
                    kn_discounts(c, int(self.singletons[m]))
                    if discounts is None
                    else np.asarray(discounts[m], dtype=np.float64)
                )
                gamma = np.bincount(node, weights=d[np.minimum(c, 3) - 1], minlength=lv.n_nodes)
            else:
                d = np.zeros(3)
                gamma = np.bincount(node, minlength=lv.n_nodes).astype(np.float64)
                denom = denom + gamma
            self.denom.append(denom)
            self.gamma.append(gamma)
            self.disc.append(d)

    def alpha(self, m: int, c: np.ndarray) -> np.ndarray:
        """Counts (any shape, 0 = unseen) -> the discounted mass kept at level m."""
        c = np.asarray(c, dtype=np.float64)
        if self.smoothing == "wb":
            return c
        d = self.disc[m][np.clip(c, 1, 3).astype(np.int64) - 1]
        return np.where(c > 0, c - d, 0.0)

    def single_gamma_denom(self, m: int) -> tuple[float, float]:
        """A singleton context has one continuation, seen once."""
        return (float(self.disc[m][0]), 1.0) if self.smoothing == "kn" else (1.0, 2.0)

    # -- finding the contexts -----------------------------------------------------------------
    def walk(self, older: np.ndarray) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """older: (Q, order-1) int64, column d = the character d+1 before the target (V = before
        the start). Yields, for each level m, (m, kind, node, pos) arrays of shape (Q,):
        kind 1 = a node context (index `node`), 2 = a singleton (training position `pos`),
        0 = not seen in training (so neither is any longer context)."""
        Q, base = len(older), self.V + 1
        kind = np.ones(Q, np.int8)
        node, pos = np.zeros(Q, np.int64), np.zeros(Q, np.int64)
        for m, lv in enumerate(self.levels):
            if m > 0:
                c = older[:, m - 1]
                was_node, was_single = kind == 1, kind == 2
                if was_single.any():  # a singleton continues while the text agrees with training
                    same = older_chars(self.train, pos[was_single], m, self.V) == c[was_single]
                    kind[was_single] = np.where(same, 2, 0)
                if was_node.any():
                    key = node[was_node] * base + c[was_node]
                    idx, hit = _find(lv.node_keys, key)
                    sidx, shit = _find(lv.single_keys, key)
                    kind[was_node] = np.where(hit, 1, np.where(shit, 2, 0))
                    node[was_node] = np.where(hit, idx, 0)
                    if shit.any():
                        pos[was_node] = np.where(shit, lv.single_pos[sidx], 0)
            yield m, kind, node, pos
            if not kind.any():
                return

    # -- probabilities --------------------------------------------------------------------------
    def prob_of(self, older: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(Q, order-1) contexts, (Q,) next characters -> (Q,) float64 P(w | context)."""
        w = np.asarray(w, dtype=np.int64)
        p = np.full(len(w), 1.0 / self.V)
        for m, kind, node, pos in self.walk(older):
            lv = self.levels[m]
            isn, iss = kind == 1, kind == 2
            num, gam, den = np.zeros(len(w)), np.zeros(len(w)), np.ones(len(w))
            if isn.any():
                idx, hit = _find(lv.pair_keys, node[isn] * self.V + w[isn])
                num[isn] = self.alpha(m, np.where(hit, lv.pair_counts[idx], 0))
                gam[isn], den[isn] = self.gamma[m][node[isn]], self.denom[m][node[isn]]
            if iss.any():
                num[iss] = self.alpha(m, (self.train[pos[iss]] == w[iss]).astype(np.int64))
                gam[iss], den[iss] = self.single_gamma_denom(m)
            p = np.where(kind > 0, (num + gam * p) / den, p)
        return p

    def level_counts(
        self, m: int, kind: np.ndarray, node: np.ndarray, pos: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One level of `walk` -> (Q, V) counts of each next character after each context (0
        where unseen; raw or continuation counts as the level holds them), and (Q,) gamma and
        denom (0 and 1 for contexts never seen)."""
        lv, Q, V = self.levels[m], len(kind), self.V
        cnt, gam, den = np.zeros((Q, V)), np.zeros(Q), np.ones(Q)
        rows = np.nonzero(kind == 1)[0]
        if len(rows):
            lo = np.searchsorted(lv.pair_keys, node[rows] * V)
            hi = np.searchsorted(lv.pair_keys, node[rows] * V + V)
            lens = hi - lo
            k = np.repeat(lo - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())
            cnt[np.repeat(rows, lens), lv.pair_keys[k] % V] = lv.pair_counts[k]
            gam[rows], den[rows] = self.gamma[m][node[rows]], self.denom[m][node[rows]]
        rows = np.nonzero(kind == 2)[0]
        if len(rows):
            cnt[rows, self.train[pos[rows]]] = 1.0
            gam[rows], den[rows] = self.single_gamma_denom(m)
        return cnt, gam, den

    def dist(self, older: np.ndarray) -> np.ndarray:
        """(Q, order-1) contexts -> (Q, V) float64 distributions over the next character."""
        Q, V = len(older), self.V
        P = np.full((Q, V), 1.0 / V)
        for m, kind, node, pos in self.walk(older):
            cnt, gam, den = self.level_counts(m, kind, node, pos)
            seen = (kind > 0)[:, None]
            P = np.where(seen, (self.alpha(m, cnt) + gam[:, None] * P) / den[:, None], P)
        return P


def contexts_of(ids: np.ndarray, targets: np.ndarray, width: int, pad: int) -> np.ndarray:
    """(N,) ids, (Q,) target positions -> (Q, width) int64: column d = ids[t - 1 - d] (or pad)."""
    out = np.full((len(targets), width), pad, dtype=np.int64)
    for d in range(width):
        out[:, d] = older_chars(ids, targets, d + 1, pad)
    return out


def total_nats(
    tables: NGramTables,
    ids: np.ndarray,
    chunk: int = 1 << 16,
    progress: Callable[[int], None] | None = None,
) -> tuple[float, int]:
    """(N,) ids -> (nats over predicting ids[1:] from the preceding text, N-1)."""
    ids = np.asarray(ids, dtype=np.int64)
    total = 0.0
    for t0 in range(1, len(ids), chunk):
        t = np.arange(t0, min(t0 + chunk, len(ids)))
        p = tables.prob_of(contexts_of(ids, t, tables.order - 1, tables.V), ids[t])
        total -= float(np.log(p).sum())
        if progress:
            progress(int(t[-1]))
    return total, max(len(ids) - 1, 0)
