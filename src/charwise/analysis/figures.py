"""The analyses as PNG figures, drawn as the paper drew them.

matplotlib is an optional dependency (`pip install charwise[analysis]`). Figures are built with
its object API on an Agg canvas (matplotlib.figure.Figure, no pyplot): no global figure state,
no display needed, and nothing changes the caller's matplotlib backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CharwiseError
from .breakdown import GROUPS, Breakdown
from .dynamics import Dynamics
from .longrange import LongRange
from .saturation import GateSaturation

try:  # optional: _figure says how to get it
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError:
    colormaps = FigureCanvasAgg = Figure = None

DPI = 120
# One hue per group of the error breakdown; its categories are shades of it.
_GROUP_MAPS = {
    "n-gram": "Blues",
    "dynamic memory": "Purples",
    "rare words": "Greens",
    "word model": "Oranges",
    "punctuation": "Reds",
    "boost": "Greys",
    "rest": "Greys",
}


def _figure(width: float, height: float):
    if Figure is None:
        raise CharwiseError("figures need matplotlib: pip install 'charwise[analysis]'")
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    return path


def saturation_figure(sat: GateSaturation, path: str | Path, title: str | None = None) -> Path:
    """One panel per gate (rows) and layer (columns); a point per unit at (fraction of the text
    left-saturated, fraction right-saturated). Points lie under the x + y = 1 line."""
    rows, cols = len(sat.gates), sat.layers
    fig = _figure(2.6 * cols + 0.6, 2.5 * rows + 0.6)
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True))
    for i, g in enumerate(sat.gates):
        for k in range(cols):
            ax = axes[i, k]
            ax.plot([0, 1], [1, 0], color="0.85", lw=0.8, zorder=0)
            ax.scatter(sat.left[g, k], sat.right[g, k], s=9, alpha=0.6, lw=0)
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{g} gate, layer {k + 1}", fontsize=9)
            if i == rows - 1:
                ax.set_xlabel(f"fraction left-saturated (< {sat.opts.low:g})", fontsize=8)
            if k == 0:
                ax.set_ylabel(f"fraction right-saturated (> {sat.opts.high:g})", fontsize=8)
    fig.suptitle(title or f"{sat.kind.upper()} gate saturation over {sat.chars:,} characters")
    return _save(fig, path)


def _bin_label(lo: float, hi: float) -> str:
    if math.isinf(hi):
        return f"{lo:g}+"
    return f"{lo:g}" if hi - lo == 1 else f"{lo:g}-{hi - 1:g}"


def long_range_figure(lr: LongRange, path: str | Path, title: str | None = None) -> Path:
    """Mean loss on the closing character per distance bin, a line per model; the number of
    closing characters per bin as grey bars behind (right axis)."""
    fig = _figure(7.5, 4.2)
    ax = fig.subplots()
    x = np.arange(len(lr.counts))
    back = ax.twinx()
    back.bar(x, lr.counts, color="0.9", width=0.8)
    back.set_ylabel("closing characters per bin", color="0.5")
    ax.set_zorder(back.get_zorder() + 1)
    ax.patch.set_visible(False)
    for name, v in lr.mean_loss.items():
        ax.plot(x, v, marker="o", ms=4, label=name)
    labels = [_bin_label(lr.edges[i], lr.edges[i + 1]) for i in range(len(x))]
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_xlabel(f"distance from '{lr.close_char}' back to its '{lr.open_char}' (characters)")
    ax.set_ylabel(f"mean loss on '{lr.close_char}' (nats)")
    ax.legend()
    ax.set_title(title or f"Loss on '{lr.close_char}' by distance to its match")
    return _save(fig, path)


def _shades(group: str, n: int) -> list[Any]:
    cmap = colormaps[_GROUP_MAPS.get(group, "Greys")]
    if group == "rest":
        return [cmap(0.85)] * n
    lo, hi = (0.2, 0.55) if group == "boost" else (0.35, 0.9)
    return [cmap(v) for v in np.linspace(hi, lo, n)] if n > 1 else [cmap((lo + hi) / 2)]


def breakdown_figure(
    breakdowns: Mapping[str, Breakdown],
    path: str | Path,
    fractions: bool = False,
    title: str | None = None,
) -> Path:
    """Stacked bars, one per model (e.g. per size): each model's errors split by the oracle
    that took them, bottom (n-gram) to top (the rest); shades within a colour are the
    categories of one group. fractions: shares of each model's errors instead of counts."""
    if not breakdowns:
        raise CharwiseError("no breakdowns to draw")
    names = list(breakdowns)
    first = breakdowns[names[0]]
    if any(b.categories != first.categories for b in breakdowns.values()):
        raise CharwiseError("the breakdowns were made with different options")
    fig = _figure(1.3 * len(names) + 3.8, 4.8)
    ax = fig.subplots()
    colors = []
    for g in GROUPS:
        colors += _shades(g, sum(1 for x in first.groups if x == g))
    bottom = np.zeros(len(names))
    handles = {}
    for c, group in enumerate(first.groups):
        h = np.array([float(breakdowns[n].counts[c]) for n in names])
        if fractions:
            h = h / np.array([max(breakdowns[n].errors, 1) for n in names])
        bars = ax.bar(names, h, bottom=bottom, color=colors[c], edgecolor="white", lw=0.3)
        handles.setdefault(group, bars)
        bottom += h
    ax.set_ylabel("share of errors" if fractions else "errors (p < threshold)")
    ax.legend(
        [handles[g] for g in reversed(GROUPS) if g in handles],
        [g for g in reversed(GROUPS) if g in handles],
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        fontsize=8,
    )
    ax.set_title(title or "Errors explained by each oracle")
    return _save(fig, path)


def dynamics_figure(dyn: Dynamics, path: str | Path, title: str | None = None) -> Path:
    """JS divergence to the n-gram against its order, a line per checkpoint, light to dark as
    training goes on."""
    fig = _figure(6.5, 4.2)
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    C = len(dyn.steps)
    for i, step in enumerate(dyn.steps.tolist()):
        ax.plot(
            dyn.orders,
            dyn.js[i],
            marker="o",
            ms=3,
            color=cmap(0.9 - 0.8 * i / max(C - 1, 1)),
            label=f"step {step:,}",
        )
    ax.set_xticks(dyn.orders)
    ax.set_xlabel("n-gram order")
    ax.set_ylabel("mean Jensen-Shannon divergence (nats)")
    ax.legend(fontsize=8, ncols=2 if C > 8 else 1)
    ax.set_title(title or "Distance to the n-grams during training")
    return _save(fig, path)
