"""Text properties, the interpretable-cell ranking (planted cells must rank first), and the
LSTMVis-style select and match."""

from __future__ import annotations

import re

import numpy as np
import pytest

from charwise.errors import CharwiseError
from charwise.inspect import (
    RankOptions,
    Recording,
    match_spans,
    rank_cells,
    select_cells,
    text_properties,
)
from charwise.inspect.features import auc_columns, corr_columns
from charwise.inspect.properties import builtin_properties, parse_feature

CODE = "".join(
    f'{"    " * (i % 3)}x{i} = f("s {i}", [a, (b)]) # note {i}\n'
    if i % 4
    else f'y = {{"k": {i}}}\n'
    for i in range(60)
)


def _props(text: str) -> dict[str, np.ndarray]:
    return builtin_properties(list(text))


def test_builtin_properties_by_hand():
    text = 'ab "cd" (e[f]) # g"\n  h'
    p = _props(text)
    on = lambda name: "".join(c for c, v in zip(text, p[name], strict=True) if v)  # noqa: E731
    assert on("in_quotes") == '"cd"'  # the quote inside the comment opens nothing
    assert on("in_parens") == "(e[f])"
    assert on("in_brackets") == "[f]"
    assert on("in_comment") == '# g"'
    assert on("word_start") == "acefgh"
    assert list(p["nesting_depth"][8:14]) == [1, 1, 2, 2, 1, 0]
    assert list(p["line_position"][:3]) == [1, 2, 3] and p["line_position"][19] == 0
    assert list(p["indentation"][20:]) == [1, 2, 2]


def test_quotes_recover_after_a_blank_line():
    p = _props('x" y\n\nz "q" w')  # starts inside a quote: the blank line resets
    text = 'x" y\n\nz "q" w'
    assert "".join(c for c, v in zip(text, p["in_quotes"], strict=True) if v) == '" y\n"q"'


def test_user_features():
    props = {p.name: p for p in text_properties(list("ab12c3"), ["digit=[0-9]", "pair=\\d\\d"])}
    assert list(props["digit"].values) == [0, 0, 1, 1, 0, 1]
    assert list(props["pair"].values) == [0, 0, 1, 1, 0, 0]
    assert props["digit"].kind == "binary"
    for bad, why in [
        ("digit", "must look like NAME=REGEX"),
        ("=x", "must look like NAME=REGEX"),
        ("x=", "must look like NAME=REGEX"),
        ("1x=a", "name '1x' must be a word"),
        ("x=(", "x: bad regular expression"),
    ]:
        with pytest.raises(CharwiseError, match=why):
            parse_feature(bad)
    with pytest.raises(CharwiseError, match="in_quotes: that name is already used"):
        text_properties(list("ab"), ["in_quotes=a"])
    assert parse_feature('q="[^"]*"')[1].pattern == '"[^"]*"'
    assert isinstance(parse_feature("a=b=c")[1], re.Pattern)


def test_auc_and_correlation_match_brute_force():
    rng = np.random.default_rng(0)
    a = np.round(rng.normal(size=(300, 4)), 1)  # many ties
    y = rng.random(300) < 0.3
    a[:, 2] += 2 * y  # a column that separates well
    got = auc_columns(a, y)
    for j in range(4):
        pos, neg = a[y, j], a[~y, j]
        brute = (pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()
        assert got[j] == pytest.approx(brute / (len(pos) * len(neg)), abs=0.01)
    v = rng.normal(size=300)
    expected = [np.corrcoef(a[:, j], v)[0, 1] for j in range(4)]
    np.testing.assert_allclose(corr_columns(a, v), expected, atol=1e-9)


def _planted(text: str, L: int = 2, H: int = 16, seed: int = 0) -> Recording:
    """A recording built by hand: noise everywhere, plus planted cells:
    L1 c5 = inside quotes, L0 c3 = -(inside a comment), L1 c9 = position in line."""
    rng = np.random.default_rng(seed)
    N = len(text)
    p = _props(text)
    c = rng.normal(0, 0.4, size=(L, N, H))
    c[1, :, 5] = np.where(p["in_quotes"] > 0, 2.0, -2.0) + rng.normal(0, 0.05, N)
    c[0, :, 3] = np.where(p["in_comment"] > 0, -1.5, 1.5)
    c[1, :, 9] = np.arctanh(np.clip(p["line_position"] / 60, 0, 0.95))
    chars = list(text)
    tokens = sorted(set(chars))
    ids = np.array([tokens.index(ch) for ch in chars])
    return Recording(
        "lstm",
        L,
        H,
        ids,
        chars,
        tokens,
        np.full(N, 0.5, np.float32),
        np.zeros((N, 1), np.int32),
        np.ones((N, 1), np.float32),
        {"c": c.astype(np.float16), "h": np.tanh(c).astype(np.float16)},
    )


def test_planted_cells_rank_first():
    rec = _planted(CODE)
    res = rank_cells(rec, text_properties(rec.chars), RankOptions(top=3))
    by = {p.name: p for p in res.properties}
    best = by["in_quotes"].best[0]
    assert (best.layer, best.cell, best.sign) == (1, 5, 1) and best.score > 0.99
    assert by["in_quotes"].best[1].score < 0.9  # the noise cells are far behind
    best = by["in_comment"].best[0]
    assert (best.layer, best.cell, best.sign) == (0, 3, -1) and best.score == pytest.approx(1.0)
    best = by["line_position"].best[0]
    assert (best.layer, best.cell, best.sign) == (1, 9, 1) and by["line_position"].metric == "r"
    cells = {(layer, cell) for layer, cell, _, _ in res.interpretable}
    assert {(1, 5), (0, 3), (1, 9)} <= cells
    assert res.fraction == pytest.approx(len(res.interpretable) / 32)
    assert res.interpretable[0][3] >= res.interpretable[-1][3]  # best first
    assert "in_braces" not in res.skipped and res.to_dict()["total_cells"] == 32


def test_constant_properties_are_skipped_not_scored():
    rec = _planted("plain words only, over and over\n" * 5)
    res = rank_cells(rec, text_properties(rec.chars))
    assert {"in_quotes", "in_parens", "in_comment", "nesting_depth"} <= set(res.skipped)
    assert "word_start" in {p.name for p in res.properties}


def test_select_finds_the_span_cell_and_match_finds_the_other_spans():
    text = 'say "hi" and "yo" or "no" then "ok"\n'
    rec = _planted(text * 3)
    start = text.index('"hi"')
    sel = select_cells(rec, start, start + 4, threshold=0.5)
    assert (sel[0].layer, sel[0].cell, sel[0].sign) == (1, 5, 1)
    matches = match_spans(rec, sel[:1], 4, threshold=0.5, exclude=(start, start + 4))
    full = text * 3
    spans = {full[m.start : m.end] for m in matches}
    assert spans == {'"yo"', '"no"', '"ok"', '"hi"'}
    assert len(matches) == 11 and all(m.score == pytest.approx(1.0) for m in matches)
    # Outside quotes the same cell is the "off inside, on outside" (sign -1) answer.
    gap = text.index(" and ")  # exactly the text between two quoted words
    sel = select_cells(rec, gap, gap + 5, threshold=0.5)
    assert any((c.layer, c.cell, c.sign) == (1, 5, -1) for c in sel)
    with pytest.raises(CharwiseError, match=r"the selected span \[5, 5\) is not inside the text"):
        select_cells(rec, 5, 5)
