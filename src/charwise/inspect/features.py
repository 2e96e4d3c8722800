"""Interpretable cells: rank every cell by how well it tracks a named property of the text.

Binary properties are scored by AUC (the probability that the cell is higher at a random
position where the property holds than at one where it does not; a cell that is *lower* inside
scores 1 - AUC with sign -1), graded ones by the absolute Pearson correlation. A cell counts as
interpretable when it reaches AUC >= 0.9 or |r| >= 0.6 (defaults of `RankOptions`) for at least
one property; Karpathy & al. (2015) found about 5% of cells of their LSTMs interpretable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CharwiseError
from .properties import Property
from .record import Recording

_BINS = 512  # AUC from 512-bin histograms: exact for the ties of float16, O(N) per cell


@dataclass(frozen=True)
class RankOptions:
    top: int = 5  # best cells reported per property
    auc_threshold: float = 0.9  # a binary property's cell is interpretable at AUC >= this
    r_threshold: float = 0.6  # a graded property's cell is interpretable at |r| >= this
    min_count: int = 5  # a binary property needs this many positions on and off to be scored
    # No property is scored over fewer characters: over a handful of points |r| and the AUC are
    # near 1 by chance (over 2, |r| is always 1), which ranked most cells "interpretable" on a
    # tiny text.
    min_points: int = 100
    quantity: str | None = None  # which activation to rank; None: c for an LSTM, else h

    def __post_init__(self) -> None:
        if self.top < 1:
            raise CharwiseError("the number of best cells per property must be at least 1")
        if not 0.5 <= self.auc_threshold <= 1 or not 0 <= self.r_threshold <= 1:
            raise CharwiseError("thresholds: AUC in [0.5, 1], |r| in [0, 1]")


@dataclass(frozen=True)
class CellScore:
    layer: int
    cell: int
    score: float  # AUC (binary) or |r| (graded), the higher the better
    sign: int  # +1: the cell is higher where the property holds / grows; -1: lower


@dataclass(frozen=True)
class PropertyResult:
    name: str
    kind: str  # binary | graded
    metric: str  # auc | r
    description: str
    best: tuple[CellScore, ...]
    interpretable: int  # cells over the threshold for this property


@dataclass(frozen=True)
class Interpretability:
    quantity: str
    properties: tuple[PropertyResult, ...]  # only properties the text lets us score
    skipped: tuple[str, ...]  # properties constant (or nearly) over this text
    total_cells: int
    # (layer, cell, property, score) of every interpretable cell, best first
    interpretable: tuple[tuple[int, int, str, float], ...]
    auc_threshold: float
    r_threshold: float

    @property
    def fraction(self) -> float:
        return len(self.interpretable) / max(self.total_cells, 1)

    def to_dict(self) -> dict:
        return {
            "quantity": self.quantity,
            "total_cells": self.total_cells,
            "fraction": self.fraction,
            "auc_threshold": self.auc_threshold,
            "r_threshold": self.r_threshold,
            "skipped": list(self.skipped),
            "interpretable": [list(x) for x in self.interpretable],
            "properties": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "metric": p.metric,
                    "description": p.description,
                    "interpretable": p.interpretable,
                    "best": [
                        {
                            "layer": c.layer,
                            "cell": c.cell,
                            "score": round(c.score, 4),
                            "sign": c.sign,
                        }
                        for c in p.best
                    ],
                }
                for p in self.properties
            ],
        }


def auc_columns(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """a: (N, C) values, y: (N,) bool -> (C,) AUC of each column for separating y from ~y.

    Ties count one half (Mann-Whitney U). Values are binned into 512 bins per column, which is
    exact when a column has at most 512 distinct values and otherwise off by at most the mass
    sharing a bin.
    """
    N, C = a.shape
    lo, hi = a.min(axis=0), a.max(axis=0)
    scale = np.where(hi > lo, (_BINS - 1) / np.maximum(hi - lo, 1e-12), 0.0)
    bins = np.clip(((a - lo) * scale).astype(np.int64), 0, _BINS - 1)  # (N, C)
    flat = bins + np.arange(C) * _BINS
    pos = np.bincount(flat[y].ravel(), minlength=C * _BINS).reshape(C, _BINS)
    neg = np.bincount(flat[~y].ravel(), minlength=C * _BINS).reshape(C, _BINS)
    below = np.cumsum(neg, axis=1) - neg  # negatives strictly below each bin
    u = (pos * (below + 0.5 * neg)).sum(axis=1)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return u / max(n_pos * n_neg, 1)


def corr_columns(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a: (N, C), v: (N,) -> (C,) Pearson correlation (0 for a constant column)."""
    a = a.astype(np.float64)
    ac = a - a.mean(axis=0)
    vc = v.astype(np.float64) - v.mean()
    den = np.sqrt((ac**2).sum(axis=0) * (vc**2).sum())
    return np.where(den > 0, (ac * vc[:, None]).sum(axis=0) / np.where(den > 0, den, 1), 0.0)


def _scorable(kind: str, values: np.ndarray, opts: RankOptions) -> bool:
    if len(values) < opts.min_points:
        return False
    if kind == "binary":
        on = int((values > 0.5).sum())
        return min(on, len(values) - on) >= opts.min_count
    return bool(np.ptp(values) > 0)


def rank_cells(
    rec: Recording,
    props: list[Property],
    opts: RankOptions | None = None,
    max_chars: int | None = None,
) -> Interpretability:
    """Score every cell of every layer against every property; see the module docstring.

    Works through the (N, H) activations a few columns at a time, so a memory-mapped
    recording is never loaded whole. max_chars: use only the first max_chars characters.
    """
    opts = opts or RankOptions()
    q = opts.quantity or rec.display_quantity
    n = min(rec.n, max_chars or rec.n)
    usable = [p for p in props if _scorable(p.kind, p.values[:n], opts)]
    skipped = tuple(p.name for p in props if not _scorable(p.kind, p.values[:n], opts))
    H, L = rec.hidden, rec.layers
    scores = {p.name: np.zeros((L, H)) for p in usable}  # AUC or signed r
    block = max(1, min(H, 2_000_000 // max(n, 1)))  # columns per block: ~16 MB of int64 bins
    for layer in range(L):
        src = rec.act(q, layer)
        for c0 in range(0, H, block):
            a = src[:n, c0 : c0 + block].astype(np.float32)
            if q == "c":
                a = np.tanh(a)
            for p in usable:
                v = p.values[:n]
                f = auc_columns(a, v > 0.5) if p.kind == "binary" else corr_columns(a, v)
                scores[p.name][layer, c0 : c0 + block] = f
    results, best_of_cell = [], {}
    for p in usable:
        s = scores[p.name]
        strength = np.maximum(s, 1 - s) if p.kind == "binary" else np.abs(s)
        sign = np.where(s >= (0.5 if p.kind == "binary" else 0.0), 1, -1)
        thr = opts.auc_threshold if p.kind == "binary" else opts.r_threshold
        order = np.argsort(-strength, axis=None, kind="stable")[: opts.top]
        best = tuple(
            CellScore(int(i // H), int(i % H), float(strength.flat[i]), int(sign.flat[i]))
            for i in order
        )
        over = np.argwhere(strength >= thr)
        for layer, cell in over:
            key = (int(layer), int(cell))
            if strength[layer, cell] > best_of_cell.get(key, ("", -1.0))[1]:
                best_of_cell[key] = (p.name, float(strength[layer, cell]))
        results.append(
            PropertyResult(
                p.name, p.kind, "auc" if p.kind == "binary" else "r", p.description, best, len(over)
            )
        )
    interp = sorted(
        ((k[0], k[1], v[0], v[1]) for k, v in best_of_cell.items()), key=lambda x: -x[3]
    )
    return Interpretability(
        q, tuple(results), skipped, L * H, tuple(interp), opts.auc_threshold, opts.r_threshold
    )
