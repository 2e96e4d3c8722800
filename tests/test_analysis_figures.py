"""Each analysis draws a PNG of its numbers (matplotlib, the `analysis` extra)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charwise.analysis import (
    BreakdownOptions,
    Dynamics,
    GateSaturation,
    SaturationOptions,
    build_oracles,
    error_breakdown,
    loss_by_distance,
)
from charwise.analysis.figures import (
    breakdown_figure,
    dynamics_figure,
    long_range_figure,
    saturation_figure,
)
from charwise.errors import CharwiseError

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    data = path.read_bytes()
    return data[:8] == PNG and len(data) > 2000  # a drawn figure, not an empty canvas


def test_saturation_figure(tmp_path):
    rng = np.random.default_rng(0)
    sat = GateSaturation("lstm", 2, 8, 100, ("input", "forget", "output"), SaturationOptions())
    for g in sat.gates:
        for k in range(2):
            left = rng.uniform(0, 0.5, 8)
            sat.left[g, k], sat.right[g, k] = left, rng.uniform(0, 1 - left)
    assert _is_png(saturation_figure(sat, tmp_path / "sub" / "sat.png"))


def test_long_range_figure(tmp_path):
    text = "{x}" + "{" + "x" * 30 + "}"
    a = np.ones(len(text))
    lr = loss_by_distance(text, {"LSTM": a, "20-gram": 2 * a}, edges=(1, 10, 50, math.inf))
    assert _is_png(long_range_figure(lr, tmp_path / "lr.png"))


def test_breakdown_figure_counts_and_fractions(tmp_path):
    text = "the cat, the hat."
    opts = BreakdownOptions(ngram_orders=(1,))
    oracles = build_oracles(text, "the cat", opts, ngram_probs={1: np.zeros(len(text))})
    rng = np.random.default_rng(1)
    out = {
        name: error_breakdown(np.r_[np.nan, rng.uniform(0, hi, len(text) - 1)], oracles)
        for name, hi in (("1x64", 0.6), ("3x512", 1.0))
    }
    assert _is_png(breakdown_figure(out, tmp_path / "b.png"))
    assert _is_png(breakdown_figure(out, tmp_path / "f.png", fractions=True))
    other = build_oracles(
        text,
        "the cat",
        BreakdownOptions(ngram_orders=(1,), boosts=(0.2,)),
        ngram_probs={1: np.zeros(len(text))},
    )
    out["odd"] = error_breakdown(np.full(len(text), 0.1), other)
    with pytest.raises(CharwiseError, match="different options"):
        breakdown_figure(out, tmp_path / "x.png")


def test_dynamics_figure(tmp_path):
    orders = np.arange(1, 21)
    js = np.array([0.3 - 0.01 * orders * (i + 1) / 3 for i in range(3)])
    dyn = Dynamics(np.array([100, 500, 2000]), orders, js)
    assert _is_png(dynamics_figure(dyn, tmp_path / "d.png"))
