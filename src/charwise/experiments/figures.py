"""The experiments page's figures (PNG): a run's training curve, the names experiment's real vs
novel shares, the paper table's losses against size. Drawn like analysis/figures.py: matplotlib's
object API on an Agg canvas, no pyplot state, the optional `analysis` extra."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..analysis.figures import _figure, _save
from ..training.records import LOG_FILE

KIND_COLORS = {"lstm": "tab:blue", "gru": "tab:orange", "rnn": "tab:green"}
LAYER_MARKERS = {1: "o", 2: "s", 3: "^"}


def _records(run_dir: Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / LOG_FILE
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def curve_figure(
    run_dir: Path,
    path: Path,
    title: str,
    unit: str = "char",
    marks: tuple[int, ...] = (),
    baseline: tuple[str, float] | None = None,
) -> Path | None:
    """Training (per log window) and validation bits per `unit` against the step; `marks`
    (the evolution steps) as dotted lines; `baseline` (label, bits) as a horizontal line (the
    n-gram's validation loss). None when the run logged nothing."""
    recs = _records(run_dir)
    train = [(r["step"], r["bpc"]) for r in recs if r.get("event") == "train" and r.get("bpc")]
    val = [(r["step"], r["val_bpc"]) for r in recs if r.get("event") == "val" and r.get("val_bpc")]
    if not train:
        return None
    fig = _figure(6.0, 3.4)
    ax = fig.add_subplot()
    ax.plot(
        [s for s, _ in train],
        [b for _, b in train],
        lw=1,
        color="tab:blue",
        alpha=0.8,
        label="train (log window)",
    )
    if val:
        ax.plot(
            [s for s, _ in val],
            [b for _, b in val],
            "o-",
            color="tab:red",
            ms=4,
            label="validation",
        )
    for s in marks:
        ax.axvline(s, color="grey", ls=":", lw=0.8)
    if baseline is not None:
        ax.axhline(baseline[1], color="tab:green", ls="--", lw=1, label=baseline[0])
        # Zoom on where the run meets the baseline: the first steps' ~6 bits would flatten it.
        near = [b for _, b in val] + [baseline[1]]
        low = min(near + [b for _, b in train])
        ax.set_ylim(low - 0.05 * (max(near) - low + 0.1), max(near) + 0.5 * (max(near) - low + 0.1))
    ax.set_xlabel("step")
    ax.set_ylabel(f"bits per {unit}")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def names_figure(views: list[dict[str, Any]], path: Path) -> Path | None:
    """Per temperature: the share of sampled names found in the list against new ones."""
    views = [v for v in views if v.get("lines")]
    if not views:
        return None
    fig = _figure(4.5, 3.0)
    ax = fig.add_subplot()
    xs = [str(v["temperature"]) for v in views]
    real = [v["real_share"] for v in views]
    novel = [v["novel_share"] for v in views]
    ax.bar(xs, real, color="tab:grey", label="in the list")
    ax.bar(xs, novel, bottom=real, color="tab:green", label="new names")
    ax.set_xlabel("temperature")
    ax.set_ylabel("share of sampled names")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def table_figure(metrics: dict[str, Any], path: Path) -> Path | None:
    """Test nats per character against parameters, one panel per text: a colour per kind, a
    marker per depth; our n-gram and the published figures as horizontal lines."""
    cells = [c for c in metrics["cells"] if c["test_nats"] is not None]
    texts = metrics["texts"]
    if not cells:
        return None
    fig = _figure(4.2 * len(texts), 3.4)
    for i, (key, label) in enumerate(texts.items()):
        ax = fig.add_subplot(1, len(texts), i + 1)
        for c in cells:
            if c["text"] != key:
                continue
            if c.get("kind"):
                ax.scatter(
                    c["params"],
                    c["test_nats"],
                    color=KIND_COLORS.get(c["kind"], "black"),
                    marker=LAYER_MARKERS.get(c["layers"], "x"),
                    s=30,
                )
            else:
                ax.axhline(
                    c["test_nats"], color="black", ls="--", lw=1, label=f"ours: {c['model']}"
                )
        styles = iter([("purple", ":"), ("grey", "-."), ("brown", ":")] * 4)
        for p in metrics["published"]:
            if p["text"] == key:
                color, ls = next(styles)
                ax.axhline(p["test_nats"], color=color, ls=ls, lw=1, label=f"paper: {p['model']}")
        for kind, color in KIND_COLORS.items():
            ax.scatter([], [], color=color, label=kind.upper())
        ax.set_xscale("log")
        ax.set_xlabel("parameters (marker: o 1, s 2, ^ 3 layers)")
        ax.set_ylabel("test nats per character")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)
