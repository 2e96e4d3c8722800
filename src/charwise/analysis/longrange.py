"""Long-range structure (Karpathy, Johnson & Fei-Fei 2015, section 4.3, the closing-brace case
study on the Linux kernel): the loss on each `}` as a function of how far back its matching `{`
is, for an RNN against a 20-gram.

A 20-gram sees 19 characters: beyond that it cannot know that a block is open, and its loss on
`}` stops depending on the distance. The paper's LSTM beat the 20-gram at every distance and
gained most up to about 60 characters.

Distance: the position of `}` minus that of its matching `{` (so `{}` is 1). Braces are matched
with a stack over the whole text; a `}` with no open `{` before it is left out, as are `{` never
closed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CharwiseError

# Distance bins [edges[i], edges[i+1]): fine where the paper saw the gap change (up to ~60-100
# characters), wider beyond, the last open-ended.
DEFAULT_EDGES = (1, 10, 20, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000, math.inf)


def matching_pairs(text: str, open_char: str = "{", close_char: str = "}") -> np.ndarray:
    """(K, 2) int64 rows (open position, close position) of the matched pairs, by close."""
    if len(open_char) != 1 or len(close_char) != 1 or open_char == close_char:
        raise CharwiseError("the brackets must be two different single characters")
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    where = np.nonzero((codes == ord(open_char)) | (codes == ord(close_char)))[0]
    stack: list[int] = []
    pairs = []
    # A Python loop over the brackets only (a few percent of a C text), not over the text.
    for pos, is_open in zip(where.tolist(), (codes[where] == ord(open_char)).tolist(), strict=True):
        if is_open:
            stack.append(pos)
        elif stack:
            pairs.append((stack.pop(), pos))
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


@dataclass
class LongRange:
    """Mean loss (nats) on the closing character per distance bin, for each model."""

    edges: tuple[float, ...]  # (B+1,) bin edges in characters
    counts: np.ndarray  # (B,) int64 closing characters per bin
    mean_loss: dict[str, np.ndarray]  # model name -> (B,) float64, NaN where a bin is empty
    open_char: str = "{"
    close_char: str = "}"

    def rows(self) -> list[dict[str, Any]]:
        """One row per bin: its range, its count and each model's mean loss."""
        out = []
        for i, n in enumerate(self.counts.tolist()):
            hi = self.edges[i + 1]
            row: dict[str, Any] = {
                "from": self.edges[i],
                "to": None if math.isinf(hi) else hi,  # exclusive; None: open-ended
                "count": n,
            }
            for name, v in self.mean_loss.items():
                row[name] = None if np.isnan(v[i]) else float(v[i])
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": self.open_char,
            "close": self.close_char,
            "models": list(self.mean_loss),
            "bins": self.rows(),
        }


def loss_by_distance(
    text: str,
    losses: Mapping[str, np.ndarray],
    open_char: str = "{",
    close_char: str = "}",
    edges: tuple[float, ...] = DEFAULT_EDGES,
) -> LongRange:
    """Bin the closing characters of `text` by distance to their opener; average each model's
    loss on them per bin.

    losses: model name -> (N,) per-character losses in nats (analysis.predictions' convention:
    losses[t] is the loss on character t). A closing character where any model's loss is NaN
    is left out for all, so every model is averaged over the same characters.
    """
    if not losses:
        raise CharwiseError("give at least one model's per-character losses")
    edges = tuple(float(e) for e in edges)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise CharwiseError("distance bin edges must be at least two increasing numbers")
    arrays = {name: np.asarray(v, dtype=np.float64) for name, v in losses.items()}
    for name, v in arrays.items():
        if v.shape != (len(text),):
            raise CharwiseError(
                f"{name}: {v.shape[0] if v.ndim == 1 else v.shape} losses for a text of "
                f"{len(text)} characters; give one per character"
            )
    pairs = matching_pairs(text, open_char, close_char)
    close, dist = pairs[:, 1], pairs[:, 1] - pairs[:, 0]
    ok = np.ones(len(close), dtype=bool)
    for v in arrays.values():
        ok &= np.isfinite(v[close])
    close, dist = close[ok], dist[ok]
    b = np.searchsorted(np.asarray(edges), dist, side="right") - 1  # bin of each distance
    inside = (b >= 0) & (b < len(edges) - 1)
    b, close = b[inside], close[inside]
    B = len(edges) - 1
    counts = np.bincount(b, minlength=B).astype(np.int64)
    mean = {}
    for name, v in arrays.items():
        sums = np.bincount(b, weights=v[close], minlength=B)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[name] = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return LongRange(edges, counts, mean, open_char, close_char)
