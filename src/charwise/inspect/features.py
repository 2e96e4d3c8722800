"""Interpretable cells: rank every cell by how well it tracks a named property of the text.

Binary properties are scored by AUC (the probability that the cell is higher at a random
position where the property holds than at one where it does not; a cell that is *lower* inside
scores 1 - AUC with sign -1), graded ones by the absolute Pearson correlation. A cell counts as
interpretable when it reaches AUC >= 0.9 or |r| >= 0.6 (defaults of `RankOptions`) for at least
one property *and* beats the null; Karpathy & al. (2015) found about 5% of cells of their LSTMs
interpretable.

The null: the same scores against the property circularly shifted in time by K offsets spread
over 5%..95% of the text (19 by default). A shift keeps the property's spans and the cells'
own slow drifts, and only breaks their alignment, so a property with few long spans (three
parenthesised stretches in 5,000 characters) gets high scores by chance, and the null shows it.
For each shift the best score over all cells is kept: the property's `null` is the 0.99
quantile of these K maxima, what the best of the L*H cells reaches by chance, and a cell must
score above it. A binary property is scored only with at least `min_spans` separate stretches
on and off.

A second null, given a `baseline` recording of an untrained network of the same shape over the
same text (record.untrained_like): its best cell's score per property. A cell that tracks a
property no better than a random network's best cell does (an echo of the input: `in_brackets`
over C's short `a[i]` is mostly "a `[` was just read") has not shown that it learned it, and is
not called interpretable either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..errors import CharwiseError
from .properties import Property
from .recording import TANH_SHOWN, Recording

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
    # Separate stretches on (and off) a binary property needs: one long quote is one example.
    min_spans: int = 5
    quantity: str | None = None  # which activation to rank; None: c for an LSTM, else h
    null_shifts: int = 19  # circular shifts of each property for the null (0: no null)
    null_quantile: float = 0.99  # of the best cell's shifted scores: the score to beat

    def __post_init__(self) -> None:
        if self.top < 1:
            raise CharwiseError("the number of best cells per property must be at least 1")
        if not 0.5 <= self.auc_threshold <= 1 or not 0 <= self.r_threshold <= 1:
            raise CharwiseError("thresholds: AUC in [0.5, 1], |r| in [0, 1]")
        if self.null_shifts < 0 or not 0 < self.null_quantile <= 1 or self.min_spans < 1:
            raise CharwiseError("null: shifts >= 0, quantile in (0, 1]; min_spans >= 1")


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
    interpretable: int  # cells over the threshold and the null for this property
    # The null_quantile of the best cell's score against the shifted property (NaN: no null)
    null: float = float("nan")
    null_scores: tuple[float, ...] = ()  # the best cell's score at each shift
    untrained: float = float("nan")  # the best score of an untrained network's cells (NaN: none)


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
    null_shifts: int = 0
    null_quantile: float = 0.99

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
            "null_shifts": self.null_shifts,
            "null_quantile": self.null_quantile,
            "skipped": list(self.skipped),
            "interpretable": [list(x) for x in self.interpretable],
            "properties": [
                {
                    "name": p.name,
                    "kind": p.kind,
                    "metric": p.metric,
                    "description": p.description,
                    "interpretable": p.interpretable,
                    "null": None if math.isnan(p.null) else round(p.null, 4),
                    "null_scores": [round(x, 4) for x in p.null_scores],
                    "untrained": None if math.isnan(p.untrained) else round(p.untrained, 4),
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


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b through torch: numpy's OpenBLAS threads spin against each other on a loaded CPU
    (30x slower measured on the 2-core box), torch keeps to its own thread setting."""
    return (torch.from_numpy(np.ascontiguousarray(a)) @ torch.from_numpy(b)).numpy()


def column_ranks(a: np.ndarray) -> np.ndarray:
    """a: (N, C) values -> (N, C) float64 mid-ranks within each column (ties share the mean
    rank), from 512-bin histograms: exact when a column has at most 512 distinct values (float16
    activations), otherwise ties within a bin. O(N) per column."""
    N, C = a.shape
    lo, hi = a.min(axis=0), a.max(axis=0)
    scale = np.where(hi > lo, (_BINS - 1) / np.maximum(hi - lo, 1e-12), 0.0)
    bins = np.clip(((a - lo) * scale).astype(np.int64), 0, _BINS - 1)  # (N, C)
    flat = bins + np.arange(C) * _BINS
    count = np.bincount(flat.ravel(), minlength=C * _BINS).astype(np.float64)
    below = np.cumsum(count) - count  # (C * bins) values strictly below, counted per column
    below -= np.repeat(np.arange(C) * N, _BINS)  # ... from the column's own start
    mid = below + (count + 1) / 2  # the mean rank of a bin's values (ranks from 1)
    return mid[flat]


def auc_from_ranks(ranks: np.ndarray, y: np.ndarray) -> np.ndarray:
    """ranks: (N, C) from column_ranks, y: (N,) or (N, S) bool -> (C,) or (S, C) AUC of each
    column for separating y from ~y (Mann-Whitney U: ties count one half). Several labellings
    at once are one matrix product."""
    Y = y.reshape(len(y), -1)
    n_pos = Y.sum(axis=0).astype(np.float64)  # (S,)
    n_neg = len(Y) - n_pos
    u = _matmul(Y.T.astype(ranks.dtype), ranks) - (n_pos * (n_pos + 1) / 2)[:, None]  # (S, C)
    auc = u / np.maximum(n_pos * n_neg, 1)[:, None]
    return auc[0] if y.ndim == 1 else auc


def auc_columns(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """a: (N, C) values, y: (N,) bool -> (C,) AUC of each column for separating y from ~y.

    Ties count one half (Mann-Whitney U). Values are binned into 512 bins per column, which is
    exact when a column has at most 512 distinct values and otherwise off by at most the mass
    sharing a bin.
    """
    return auc_from_ranks(column_ranks(a), y)


def _standardized(x: np.ndarray) -> np.ndarray:
    """(N, K) -> columns centred and scaled to unit norm (a constant column stays 0)."""
    x = x.astype(np.float64)
    x = x - x.mean(axis=0)
    norm = np.sqrt((x**2).sum(axis=0))
    return x / np.where(norm > 0, norm, 1)


def corr_columns(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """a: (N, C), v: (N,) or (N, S) -> (C,) or (S, C) Pearson correlation (0 for a constant
    column)."""
    r = _matmul(_standardized(v.reshape(len(v), -1)).T, _standardized(a))
    return r[0] if v.ndim == 1 else r


def _spans(on: np.ndarray) -> int:
    """Number of separate runs of True in (N,) bool."""
    return int(np.count_nonzero(np.diff(np.r_[False, on].astype(np.int8)) == 1))


def _scorable(kind: str, values: np.ndarray, opts: RankOptions) -> bool:
    if len(values) < opts.min_points:
        return False
    if kind == "binary":
        on = values > 0.5
        n_on = int(on.sum())
        if min(n_on, len(values) - n_on) < opts.min_count:
            return False
        return min(_spans(on), _spans(~on)) >= opts.min_spans
    return bool(np.ptp(values) > 0)


def null_offsets(n: int, shifts: int) -> np.ndarray:
    """(shifts,) circular shifts spread evenly over 5%..95% of a text of n characters."""
    if shifts <= 0 or n < 2:
        return np.zeros(0, dtype=np.int64)
    off = np.rint(np.linspace(0.05, 0.95, shifts) * n).astype(np.int64)
    return np.clip(off, 1, n - 1)


def _labellings(v: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(N,) -> (N, 1 + S): the property itself, then circularly shifted by each offset."""
    return np.stack([v, *(np.roll(v, int(k)) for k in offsets)], axis=1)


def _strength(kind: str, s: np.ndarray) -> np.ndarray:
    return np.maximum(s, 1 - s) if kind == "binary" else np.abs(s)


def rank_cells(
    rec: Recording,
    props: list[Property],
    opts: RankOptions | None = None,
    max_chars: int | None = None,
    baseline: Recording | None = None,
) -> Interpretability:
    """Score every cell of every layer against every property and its shifted copies (the
    null); see the module docstring.

    Works through the (N, H) activations a few columns at a time, so a memory-mapped
    recording is never loaded whole. max_chars: use only the first max_chars characters.
    baseline: an untrained network's recording over the same text, whose best cells a cell must
    also beat.
    """
    opts = opts or RankOptions()
    q = opts.quantity or rec.display_quantity
    n = min(rec.n, max_chars or rec.n)
    usable = [p for p in props if _scorable(p.kind, p.values[:n], opts)]
    skipped = tuple(p.name for p in props if not _scorable(p.kind, p.values[:n], opts))
    untrained = {}
    if baseline is not None:
        if baseline.n < n:
            raise CharwiseError("the baseline recording is shorter than the text it is for")
        base = rank_cells(baseline, usable, replace(opts, null_shifts=0, top=1), n)
        untrained = {p.name: p.best[0].score for p in base.properties}
    H, L = rec.hidden, rec.layers
    offsets = null_offsets(n, opts.null_shifts)
    S = len(offsets)
    labels = {p.name: _labellings(p.values[:n], offsets) for p in usable}  # (n, 1 + S)
    # graded: correlations are products of standardized columns, (1 + S, n) @ (n, C)
    labels_z = {
        p.name: _standardized(labels[p.name]).T.copy() for p in usable if p.kind == "graded"
    }
    scores = {p.name: np.zeros((L, H)) for p in usable}  # AUC or signed r
    null_best = {p.name: np.zeros(S) for p in usable}  # best cell's strength at each shift
    block = max(1, min(H, 2_000_000 // max(n, 1)))  # columns per block: ~16 MB of ranks
    for layer in range(L):
        src = rec.act(q, layer)
        for c0 in range(0, H, block):
            a = src[:n, c0 : c0 + block].astype(np.float32)
            if q in TANH_SHOWN:  # as shown: AUCs are unchanged, correlations are of tanh
                a = np.tanh(a)
            kinds = {p.kind for p in usable}
            ranks = column_ranks(a) if "binary" in kinds else None
            za = _standardized(a) if "graded" in kinds else None  # (n, C), once per block
            for p in usable:
                y = labels[p.name]
                f = (
                    auc_from_ranks(ranks, y > 0.5)
                    if p.kind == "binary"
                    else _matmul(labels_z[p.name], za)
                )
                scores[p.name][layer, c0 : c0 + block] = f[0]
                if S:
                    best = _strength(p.kind, f[1:]).max(axis=1)  # (S,)
                    null_best[p.name] = np.maximum(null_best[p.name], best)
    results, best_of_cell = [], {}
    for p in usable:
        s = scores[p.name]
        strength = _strength(p.kind, s)
        sign = np.where(s >= (0.5 if p.kind == "binary" else 0.0), 1, -1)
        thr = opts.auc_threshold if p.kind == "binary" else opts.r_threshold
        null = float(np.quantile(null_best[p.name], opts.null_quantile)) if S else math.nan
        order = np.argsort(-strength, axis=None, kind="stable")[: opts.top]
        best = tuple(
            CellScore(int(i // H), int(i % H), float(strength.flat[i]), int(sign.flat[i]))
            for i in order
        )
        bar = max(null if S else -math.inf, untrained.get(p.name, -math.inf))
        over = np.argwhere((strength >= thr) & (strength > bar))
        for layer, cell in over:
            key = (int(layer), int(cell))
            if strength[layer, cell] > best_of_cell.get(key, ("", -1.0))[1]:
                best_of_cell[key] = (p.name, float(strength[layer, cell]))
        results.append(
            PropertyResult(
                p.name,
                p.kind,
                "auc" if p.kind == "binary" else "r",
                p.description,
                best,
                len(over),
                null,
                tuple(float(x) for x in null_best[p.name]),
                untrained.get(p.name, math.nan),
            )
        )
    interp = sorted(
        ((k[0], k[1], v[0], v[1]) for k, v in best_of_cell.items()), key=lambda x: -x[3]
    )
    return Interpretability(
        q,
        tuple(results),
        skipped,
        L * H,
        tuple(interp),
        opts.auc_threshold,
        opts.r_threshold,
        S,
        opts.null_quantile,
    )
