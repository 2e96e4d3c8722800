"""Kneser-Ney discounts tuned on held-out text (`charwise ngram --discounts tune`).

Chen & Goodman's discounts come from the counts of counts, a closed-form estimate of what
leaving-one-out would choose; they recommend tuning them on held-out data when one has it
(their section 5.2.2: modified KN "with parameters optimized on held-out data"). Here the held-out
text is the run's own validation split, so the test split stays unseen.

How: P(w | h) at every level is linear in the discounts given the lower level's probability,

    P_m = (max(c - D(c), 0) + (D1 n1 + D2 n2 + D3 n3) * P_{m-1}) / denom

where c is the (continuation) count of (h, w) and n1, n2, n3 the number of characters after h
with count 1, 2, 3+. None of c, n1, n2, n3, denom depends on the discounts, so they are read from
the tables once per held-out position and level, and the held-out loss becomes a small
differentiable function of the (order, 3) discounts: L-BFGS on it in float64, started from the
counts-of-counts estimates, with each D_k kept in (0.05, k) by a sigmoid: the same range as the
estimates', so some mass always goes to the lower order and no character gets probability 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .model import NGramTables, _find, contexts_of


@dataclass
class LevelFeatures:
    """The held-out positions whose context of length m was seen in training (K of Q).

    rows: (K,) int64 which positions; c: (K,) float64 the count of (context, next);
    cls: (K, 3) the context's n1, n2, n3+; denom: (K,) the sum of its counts.
    """

    rows: torch.Tensor
    c: torch.Tensor
    cls: torch.Tensor
    denom: torch.Tensor


def _node_classes(tables: NGramTables, m: int) -> np.ndarray:
    """(n_nodes, 3) how many continuations of each node context have count 1, 2 and 3+."""
    lv = tables.levels[m]
    node = lv.pair_keys // tables.V
    k = np.minimum(lv.pair_counts, 3) - 1
    out = np.zeros((lv.n_nodes, 3))
    np.add.at(out, (node, k), 1.0)
    return out


def held_out_features(
    tables: NGramTables, ids: np.ndarray, positions: np.ndarray | None = None
) -> list[LevelFeatures]:
    """(N,) held-out ids -> per level, what predicting ids[positions] (default ids[1:]) from the
    characters before each needs besides the discounts."""
    ids = np.asarray(ids, dtype=np.int64)
    t = np.arange(1, len(ids)) if positions is None else np.asarray(positions, dtype=np.int64)
    older, w = contexts_of(ids, t, tables.order - 1, tables.V), ids[t]
    classes = [_node_classes(tables, m) for m in range(tables.order)]
    out: list[LevelFeatures] = []
    for m, kind, node, pos in tables.walk(older):
        lv = tables.levels[m]
        rows = np.nonzero(kind > 0)[0]
        c, cls, den = np.zeros(len(rows)), np.zeros((len(rows), 3)), np.ones(len(rows))
        isn = kind[rows] == 1
        r = rows[isn]
        idx, hit = _find(lv.pair_keys, node[r] * tables.V + w[r])
        c[isn] = np.where(hit, lv.pair_counts[idx], 0)
        cls[isn], den[isn] = classes[m][node[r]], tables.denom[m][node[r]]
        iss = ~isn  # a singleton context: one continuation, count 1
        c[iss] = tables.train[pos[rows[iss]]] == w[rows[iss]]
        cls[iss] = (1.0, 0.0, 0.0)
        out.append(LevelFeatures(*(torch.from_numpy(a) for a in (rows, c, cls, den))))
    return out


def held_out_nats(
    features: list[LevelFeatures],
    D: torch.Tensor,
    n: int,
    V: int,
    strength: torch.Tensor | None = None,
) -> torch.Tensor:
    """(order, 3) discounts -> total nats over the n held-out predictions (differentiable).

    strength: (order,) theta >= 0 added to gamma and denom at every seen context, as in a
    hierarchical Pitman-Yor model's predictive rule with one table per type (Teh 2006);
    None (0) is Kneser-Ney."""
    p = torch.full((n,), 1.0 / V, dtype=torch.float64)
    for m, f in enumerate(features):
        th = strength[m] if strength is not None else 0.0
        d_of_c = D[m][torch.clamp(f.c, 1, 3).long() - 1]
        kept = torch.where(f.c > 0, f.c - d_of_c, torch.zeros_like(f.c))
        new = (kept + (f.cls @ D[m] + th) * p[f.rows]) / (f.denom + th)
        p = p.index_copy(0, f.rows, new)
    return -torch.log(p).sum()


def fit_smoothing(
    tables: NGramTables,
    features: list[LevelFeatures],
    n: int,
    strength: bool = False,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Held-out features of n predictions -> ((order, 3) discounts, (order,) strengths or None)
    minimising their loss."""
    lo, k = 0.05, torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    span = k - lo
    start = torch.tensor(np.array(tables.disc), dtype=torch.float64)
    frac = ((start - lo) / span).clamp(1e-3, 1 - 1e-3)
    theta = torch.logit(frac).requires_grad_(True)
    log_s = torch.full((tables.order,), -6.0, dtype=torch.float64, requires_grad=True)

    def discounts() -> torch.Tensor:
        return lo + span * torch.sigmoid(theta)

    def strengths() -> torch.Tensor | None:
        return torch.exp(log_s) if strength else None

    opt = torch.optim.LBFGS(
        [theta, log_s] if strength else [theta],
        max_iter=max_iter,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-9,
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = held_out_nats(features, discounts(), n, tables.V, strengths()) / n
        loss.backward()
        return loss

    # Many small ops per level: one thread runs them fastest (on a loaded 2-core machine, two
    # threads ran an evaluation 25 times slower).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        opt.step(closure)
    finally:
        torch.set_num_threads(threads)
    s = strengths()
    return discounts().detach().numpy(), None if s is None else s.detach().numpy()


def tune_discounts(tables: NGramTables, held_out: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """(N,) held-out ids -> (order, 3) discounts minimising their loss (float64)."""
    features = held_out_features(tables, held_out)
    return fit_smoothing(tables, features, len(held_out) - 1, max_iter=max_iter)[0]
