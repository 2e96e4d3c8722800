"""Interpretable cells against a null: the same scores against the property circularly shifted
in time (inspect.features). A cell that is the property beats it; noise does not, even where
the fixed thresholds alone would call it interpretable."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charwise.errors import CharwiseError
from charwise.inspect import RankOptions, Recording, rank_cells, text_properties
from charwise.inspect.features import (
    auc_columns,
    auc_from_ranks,
    column_ranks,
    corr_columns,
    null_offsets,
)
from charwise.inspect.properties import Property

CODE = "".join(
    f'{"    " * (i % 3)}v{i} = call("s {i}", [a, (b + {i})])  # n {i}\n' for i in range(120)
)


def _recording(acts: np.ndarray, text: str) -> Recording:
    """acts: (L, N, H) -> a Recording of h over text (predictions are placeholders)."""
    L, N, H = acts.shape
    chars = list(text[:N])
    tokens = sorted(set(chars))
    return Recording(
        "gru",
        L,
        H,
        np.array([tokens.index(c) for c in chars]),
        chars,
        tokens,
        np.full(N, 0.5, np.float32),
        np.zeros((N, 1), np.int32),
        np.ones((N, 1), np.float32),
        {"h": acts.astype(np.float16)},
    )


def _by_name(res) -> dict:
    return {p.name: p for p in res.properties}


def test_a_cell_equal_to_the_feature_beats_the_null():
    rng = np.random.default_rng(0)
    props = {p.name: p.values for p in text_properties(list(CODE))}
    acts = np.tanh(rng.normal(0, 0.5, size=(2, len(CODE), 24)))
    acts[1, :, 7] = props["in_quotes"] * 0.8 - 0.4  # the property itself
    acts[0, :, 2] = props["line_position"] / props["line_position"].max()
    res = rank_cells(_recording(acts, CODE), text_properties(list(CODE)), RankOptions())
    q, lp = _by_name(res)["in_quotes"], _by_name(res)["line_position"]
    assert (q.best[0].layer, q.best[0].cell) == (1, 7) and q.best[0].score == 1.0
    assert q.null < 0.9 and len(q.null_scores) == 19  # what chance gives the best cell
    assert (lp.best[0].layer, lp.best[0].cell) == (0, 2) and lp.best[0].score > lp.null
    called = {(layer, cell): name for layer, cell, name, _ in res.interpretable}
    assert called[(1, 7)] == "in_quotes" and called[(0, 2)] == "line_position"
    d = res.to_dict()
    assert d["null_shifts"] == 19 and d["null_quantile"] == 0.99
    assert {p["name"]: p["null"] for p in d["properties"]}["in_quotes"] == round(q.null, 4)


def test_random_activations_are_never_called_interpretable():
    for seed in range(3):
        acts = np.tanh(np.random.default_rng(seed).normal(0, 1, size=(2, len(CODE), 64)))
        res = rank_cells(_recording(acts, CODE), text_properties(list(CODE)))
        assert res.interpretable == ()
        for p in res.properties:
            assert p.interpretable == 0
            # the null is the right size: the real text's best noise cell is about as good
            assert p.best[0].score < p.null + 0.1, (p.name, p.best[0].score, p.null)


def test_slow_noise_over_few_spans_passes_the_thresholds_but_not_the_null():
    # Three long parenthesised stretches, and random-walk cells that drift slowly: over so few
    # spans the best of many drifting cells separates inside from outside by chance.
    text = ("word " * 150 + "(" + "inner " * 150 + ")\n") * 3
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(size=(1, len(text), 256)), axis=1)
    acts = np.tanh(walk / np.abs(walk).max(axis=1, keepdims=True))
    rec = _recording(acts, text)
    prop = [p for p in text_properties(list(text)) if p.name == "in_parens"]
    loose = rank_cells(rec, prop, RankOptions(min_spans=1, auc_threshold=0.8, null_shifts=0))
    assert loose.properties[0].best[0].score >= 0.8 and loose.interpretable  # fooled
    strict = rank_cells(rec, prop, RankOptions(min_spans=1, auc_threshold=0.8))
    assert strict.properties[0].null >= strict.properties[0].best[0].score - 0.05
    assert strict.interpretable == ()  # the null is not fooled
    assert rank_cells(rec, prop).skipped == ("in_parens",)  # 3 spans < min_spans 5


def test_ranks_give_the_histogram_auc_and_several_labellings_at_once():
    rng = np.random.default_rng(2)
    a = np.round(rng.normal(size=(400, 5)), 1).astype(np.float32)  # ties
    y = rng.random(400) < 0.3
    Y = np.stack([y, np.roll(y, 50), ~y], axis=1)
    r = column_ranks(a)
    assert np.allclose(np.sort(r[:, 0]).sum(), 400 * 401 / 2)
    many = auc_from_ranks(r, Y)
    assert many.shape == (3, 5)
    np.testing.assert_allclose(many[0], auc_columns(a, y))
    np.testing.assert_allclose(many[2], 1 - many[0], atol=1e-12)  # the complement
    for j in range(5):
        pos, neg = a[y, j], a[~y, j]
        brute = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
        assert many[0, j] == pytest.approx(brute / (len(pos) * len(neg)), abs=1e-12)
    v = rng.normal(size=(400, 2))
    np.testing.assert_allclose(corr_columns(a, v)[1], corr_columns(a, v[:, 1]), atol=1e-12)


def test_null_offsets_and_options():
    off = null_offsets(1000, 19)
    assert len(off) == 19 and off.min() == 50 and off.max() == 950
    assert len(null_offsets(1000, 0)) == 0
    rng = np.random.default_rng(0)
    text = CODE[:600]
    acts = np.tanh(rng.normal(size=(1, len(text), 8)))
    rec = _recording(acts, text)
    res = rank_cells(rec, text_properties(list(text)), RankOptions(null_shifts=0))
    assert all(math.isnan(p.null) for p in res.properties)
    assert res.to_dict()["properties"][0]["null"] is None
    with pytest.raises(CharwiseError):
        RankOptions(null_shifts=-1)
    with pytest.raises(CharwiseError):
        RankOptions(null_quantile=0)


def test_a_graded_user_property_gets_a_null_too():
    rng = np.random.default_rng(5)
    n = 800
    v = np.sin(np.arange(n) / 30.0).astype(np.float32)
    acts = np.tanh(rng.normal(size=(1, n, 16)))
    acts[0, :, 4] = 0.9 * v
    rec = _recording(acts, ("abc " * n)[:n])
    res = rank_cells(rec, [Property("wave", "graded", "a slow wave", v)])
    p = res.properties[0]
    assert (p.best[0].cell, p.best[0].score) == (4, pytest.approx(1.0))
    assert p.null < 0.99 and res.interpretable[0][:3] == (0, 4, "wave")


def test_the_report_shows_each_property_s_null():
    from charwise.inspect.report import interp_html

    rng = np.random.default_rng(0)
    props = {p.name: p.values for p in text_properties(list(CODE))}
    acts = np.tanh(rng.normal(0, 0.5, size=(1, len(CODE), 8)))
    acts[0, :, 3] = props["in_quotes"] - 0.5
    res = rank_cells(_recording(acts, CODE), text_properties(list(CODE)))
    page = interp_html(res)
    assert ">null</th>" in page and "shifted in time (19 shifts)" in page
    q = _by_name(res)["in_quotes"]
    assert f"<td>{q.null:.3f}</td>" in page


def test_a_cell_no_better_than_an_untrained_network_s_is_not_interpretable():
    props = {p.name: p.values for p in text_properties(list(CODE))}
    rng = np.random.default_rng(4)
    acts = np.tanh(rng.normal(0, 0.5, size=(1, len(CODE), 8)))
    acts[0, :, 1] = props["in_quotes"] - 0.5
    rec = _recording(acts, CODE)
    alone = rank_cells(rec, text_properties(list(CODE)))
    assert (0, 1, "in_quotes") in {x[:3] for x in alone.interpretable}
    assert math.isnan(_by_name(alone)["in_quotes"].untrained)
    # a "random" network whose cell 6 happens to track quotes as well: no evidence of learning
    echo = np.tanh(rng.normal(0, 0.5, size=(1, len(CODE), 8)))
    echo[0, :, 6] = props["in_quotes"] - 0.5
    res = rank_cells(rec, text_properties(list(CODE)), baseline=_recording(echo, CODE))
    q = _by_name(res)["in_quotes"]
    assert q.untrained == 1.0 and q.interpretable == 0
    assert "in_quotes" not in {x[2] for x in res.interpretable}
    noise = np.tanh(rng.normal(0, 0.5, size=(1, len(CODE), 8)))
    res = rank_cells(rec, text_properties(list(CODE)), baseline=_recording(noise, CODE))
    assert _by_name(res)["in_quotes"].untrained < 0.9
    assert (0, 1, "in_quotes") in {x[:3] for x in res.interpretable}
    assert res.to_dict()["properties"][0]["untrained"] is not None


def test_untrained_like_is_a_fresh_network_of_the_same_shape():
    import torch

    from charwise.config import ModelConfig
    from charwise.inspect.record import untrained_like
    from charwise.nn.model import CharRNN

    model = CharRNN(ModelConfig(vocab_size=11, kind="lstm", layers=2, hidden=8, embed=4))
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a, b = untrained_like(model), untrained_like(model)
    assert torch.equal(torch.rand(3), before)  # the caller's random stream untouched
    assert a.cfg == model.cfg and not a.training
    for (name, p), q in zip(a.named_parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q), name  # the same seed, the same network
    assert not torch.equal(a.head.weight, model.head.weight)
