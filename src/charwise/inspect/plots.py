"""Inline SVG line plots (no plotting library, no network): the training curves of a run."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

COLOURS = {"train": "#3b6fd1", "val": "#d1493b"}


def read_jsonl(path: Path) -> list[dict]:
    """Records of a .jsonl file; unreadable lines (a crash mid-write) are skipped."""
    out = []
    if not Path(path).exists():
        return out
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}" if abs(v) >= 1 else f"{v:.2g}"


def line_plot(
    series: list[tuple[str, list[float], list[float]]],
    xlabel: str,
    ylabel: str,
    width: int = 460,
    height: int = 260,
) -> str:
    """series: (name, xs, ys) -> an <svg> element with axes, ticks and a legend."""
    pts = [
        (x, y)
        for _, xs, ys in series
        for x, y in zip(xs, ys, strict=True)
        if y is not None and math.isfinite(y)
    ]
    if not pts:
        return '<p class="cw-empty">no training records</p>'
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    ml, mr, mt, mb = 52, 12, 12, 38
    sx = lambda x: ml + (x - x0) / (x1 - x0) * (width - ml - mr)  # noqa: E731
    sy = lambda y: height - mb - (y - y0) / (y1 - y0) * (height - mt - mb)  # noqa: E731
    label = html.escape(f"{ylabel} vs {xlabel}")
    parts = [
        f'<svg class="cw-plot" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{label}">'
    ]
    for t in _ticks(y0, y1):
        parts.append(
            f'<line x1="{ml}" x2="{width - mr}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
            f'class="grid"/><text x="{ml - 4}" y="{sy(t) + 4:.1f}" text-anchor="end">'
            f"{_fmt(t)}</text>"
        )
    for t in _ticks(x0, x1):
        parts.append(
            f'<text x="{sx(t):.1f}" y="{height - mb + 16}" text-anchor="middle">{_fmt(t)}</text>'
        )
    base, mid = height - mb, (mt + height - mb) / 2
    parts.append(
        f'<line x1="{ml}" x2="{ml}" y1="{mt}" y2="{base}" class="axis"/>'
        f'<line x1="{ml}" x2="{width - mr}" y1="{base}" y2="{base}" class="axis"/>'
        f'<text x="{(ml + width - mr) / 2}" y="{height - 4}" text-anchor="middle">'
        f"{html.escape(xlabel)}</text>"
        f'<text x="12" y="{mid}" text-anchor="middle" '
        f'transform="rotate(-90 12 {mid})">{html.escape(ylabel)}</text>'
    )
    for i, (name, xs, ys) in enumerate(series):
        xy = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None and math.isfinite(y)]
        if not xy:
            continue
        colour = COLOURS.get(name, "#555")
        d = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in xy)
        parts.append(
            f'<polyline class="series-{html.escape(name)}" points="{d}" fill="none" '
            f'stroke="{colour}" stroke-width="1.6"/>'
        )
        if len(xy) < 40:  # few points (validations): mark them
            parts += [
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="{colour}"/>'
                for x, y in xy
            ]
        parts.append(
            f'<text x="{width - mr - 4}" y="{mt + 14 + 14 * i}" text-anchor="end" '
            f'fill="{colour}">{html.escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def training_curves(log: list[dict]) -> str:
    """Train and validation bits per char against steps and against time, as two SVG plots."""
    train = [r for r in log if r.get("event") == "train" and "bpc" in r]
    val = [r for r in log if r.get("event") == "val" and "val_bpc" in r]
    out = []
    for key, label in (("step", "step"), ("elapsed", "training time (s)")):
        series = [
            ("train", [r.get(key, 0) for r in train], [r["bpc"] for r in train]),
            ("val", [r.get(key, 0) for r in val], [r["val_bpc"] for r in val]),
        ]
        out.append(line_plot(series, label, "bits per char"))
    return "".join(out)
