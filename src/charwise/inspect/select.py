"""LSTMVis's select and match views (Strobelt et al. 2017), on a Recording.

select: the user marks a span of text; the cells that are *on* (above a threshold) at every
character of the span and *off* for `pad` characters on either side are the ones that "mean"
that span. A cell that is on outside and off inside counts too, with sign -1.
match: the positions elsewhere where (a fraction of) those cells are on together again, as
spans, most like the selected one first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CharwiseError
from .recording import Recording


@dataclass(frozen=True)
class SelectedCell:
    layer: int
    cell: int
    sign: int  # +1: on inside, off outside; -1: the reverse
    margin: float  # smallest value inside minus largest outside (after the sign), > 0


@dataclass(frozen=True)
class Match:
    start: int
    end: int  # exclusive
    score: float  # length similarity to the selection (1 = same length) x fraction of cells on


def _check_span(rec: Recording, start: int, end: int) -> None:
    if not 0 <= start < end <= rec.n:
        raise CharwiseError(
            f"the selected span [{start}, {end}) is not inside the text (0..{rec.n})"
        )


def select_cells(
    rec: Recording,
    start: int,
    end: int,
    threshold: float = 0.3,
    pad: int = 1,
    quantity: str | None = None,
    limit: int = 20,
) -> list[SelectedCell]:
    """Cells on over ids[start:end] and off for `pad` characters before and after, best first.

    Values are the display values (tanh(c) for an LSTM's c). At the text's edges the missing
    outside characters are not required.
    """
    _check_span(rec, start, end)
    q = quantity or rec.display_quantity
    found: list[SelectedCell] = []
    outside = np.r_[max(0, start - pad) : start, end : min(rec.n, end + pad)]
    for layer in range(rec.layers):
        a = rec.display(q, layer)  # (N, H)
        inside = a[start:end]
        for sign in (1, -1):
            lo = (sign * inside).min(axis=0)
            hi = (sign * a[outside]).max(axis=0) if len(outside) else np.full(rec.hidden, -np.inf)
            ok = (lo > threshold) & (hi < threshold)
            for cell in np.nonzero(ok)[0]:
                margin = float(lo[cell] - (hi[cell] if np.isfinite(hi[cell]) else threshold))
                found.append(SelectedCell(layer, int(cell), sign, margin))
    found.sort(key=lambda c: -c.margin)
    return found[:limit]


def match_spans(
    rec: Recording,
    cells: list[SelectedCell],
    span_len: int,
    threshold: float = 0.3,
    min_fraction: float = 1.0,
    exclude: tuple[int, int] | None = None,
    quantity: str | None = None,
    limit: int = 20,
) -> list[Match]:
    """Runs of characters where at least min_fraction of `cells` are on (sign applied), ranked
    by how close their length is to span_len, then by the fraction of cells on."""
    if not cells:
        return []
    if not 0 < min_fraction <= 1:
        raise CharwiseError("the match fraction must be in (0, 1]")
    q = quantity or rec.display_quantity
    on = np.zeros(rec.n, dtype=np.float32)
    for c in cells:
        on += c.sign * rec.display(q, c.layer)[:, c.cell] > threshold
    frac = on / len(cells)
    hit = np.r_[False, frac >= min_fraction - 1e-6, False]
    edges = np.flatnonzero(np.diff(hit.astype(np.int8)))
    out = []
    for s, e in zip(edges[::2], edges[1::2], strict=True):
        if exclude and s < exclude[1] and e > exclude[0]:
            continue
        similarity = min(e - s, span_len) / max(e - s, span_len)
        out.append(Match(int(s), int(e), float(similarity * frac[s:e].mean())))
    out.sort(key=lambda m: (-m.score, m.start))
    return out[:limit]
