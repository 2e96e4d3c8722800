"""The error breakdown on constructed cases: each oracle takes what it should, in order."""

from __future__ import annotations

import numpy as np
import pytest

from charwise.analysis import (
    BreakdownOptions,
    build_oracles,
    error_breakdown,
    error_breakdowns,
    ngram_oracle_probs,
)
from charwise.errors import CharwiseError

TEXT = 'alpha beta, alpha "gamma"\nbeta zeta!'
TRAIN = "beta " * 6 + "gamma gamma alpha"  # beta 6 times (not rare), gamma 2, alpha 1, zeta 0
OPTS = BreakdownOptions(ngram_orders=(1, 2), memory_spans=(15, 100))

# position -> (the model's probability, the category expected to take the error)
CASES = {
    1: (0.05, "2-gram"),  # 'l': the 2-gram gives it 0.7, the 1-gram only 0.2
    35: (0.05, "1-gram"),  # '!': punctuation, but the 1-gram comes first
    13: (0.05, "15-memory"),  # 'l' of the second alpha: alpha was 12 characters back
    27: (0.05, "100-memory"),  # 'e' of the second beta: beta was 20 back
    12: (0.05, "rare-1"),  # 'a' starting the second alpha: no memory for a first letter
    21: (0.05, "rare-2"),  # 'm' of gamma, twice in training
    32: (0.05, "rare-0"),  # 'e' of zeta, never in training
    6: (0.05, "after space"),  # 'b' of the first beta (not rare)
    26: (0.05, "after newline"),  # 'b' of the second beta
    25: (0.05, "after quote"),  # the newline after the closing quote
    10: (0.05, "punctuation"),  # ','
    9: (0.45, "boost-0.1"),
    7: (0.35, "boost-0.2"),
    8: (0.05, "rest"),
}


def _inputs():
    p = np.full(len(TEXT), 0.99)
    p[0] = np.nan
    for t, (pt, _) in CASES.items():
        p[t] = pt
    ng = {1: np.zeros(len(TEXT)), 2: np.zeros(len(TEXT))}
    ng[1][1], ng[2][1], ng[1][35] = 0.2, 0.7, 0.6
    return p, ng


def test_each_error_goes_to_the_first_oracle_that_explains_it():
    p, ng = _inputs()
    b = error_breakdown(p, build_oracles(TEXT, TRAIN, OPTS, ngram_probs=ng))
    got = {t: b.categories[b.category[t]] for t in CASES}
    assert got == {t: cat for t, (_, cat) in CASES.items()}
    assert b.scored == len(TEXT) - 1 and b.errors == len(CASES)
    not_errors = np.setdiff1d(np.arange(len(TEXT)), list(CASES))
    assert (b.category[not_errors] == -1).all()
    assert b.counts.sum() == b.errors and b.fractions.sum() == pytest.approx(1.0)
    groups = b.group_counts()
    assert groups["n-gram"] == 2 and groups["word model"] == 3 and groups["rest"] == 1
    d = b.to_dict()
    assert d["error_rate"] == pytest.approx(len(CASES) / (len(TEXT) - 1))
    assert [c["category"] for c in d["categories"]][:3] == ["1-gram", "2-gram", "15-memory"]


def test_memory_needs_the_whole_word_in_the_span():
    text = "abc xyz abcd"  # abcd was not seen whole: only its prefix abc
    p = np.full(len(text), 0.01)
    p[0] = np.nan
    ng = {1: np.zeros(len(text))}
    opts = BreakdownOptions(ngram_orders=(1,), memory_spans=(100,), rare_counts=())
    b = error_breakdown(p, build_oracles(text, "zzz", opts, ngram_probs=ng))
    assert "100-memory" not in {b.categories[c] for c in b.category[9:12]}
    text2 = "abcd xyz abcd"
    p2 = np.full(len(text2), 0.01)
    ng2 = {1: np.zeros(len(text2))}
    b2 = error_breakdown(p2, build_oracles(text2, "zzz", opts, ngram_probs=ng2))
    assert [b2.categories[c] for c in b2.category[10:13]] == ["100-memory"] * 3


def test_counted_ngram_oracle_and_bigger_models_with_fewer_errors():
    train = "abcabcabcabcabcabcabc " * 5
    text = "abcabcabc"
    probs = ngram_oracle_probs(text, train, (1, 2))
    assert (probs[1][1:] < 0.5).all()  # a unigram is ~1/3 on each letter
    assert (probs[2][1:] > 0.5).all()  # after 'a' comes 'b', always
    small = np.full(len(text), 0.1)
    small[0] = np.nan
    large = small.copy()
    large[1:5] = 0.9  # fewer errors: only characters 5.. are wrong
    opts = BreakdownOptions(ngram_orders=(1, 2))
    out = error_breakdowns({"small": small, "large": large}, text, train, opts)
    assert out["small"].errors == 8 and out["large"].errors == 4
    assert out["small"].group_counts()["n-gram"] == 8
    assert out["large"].counts[out["large"].categories.index("2-gram")] == 4


def test_bad_input():
    p, ng = _inputs()
    oracles = build_oracles(TEXT, TRAIN, OPTS, ngram_probs=ng)
    with pytest.raises(CharwiseError, match="one per character"):
        error_breakdown(p[:-1], oracles)
    with pytest.raises(CharwiseError, match="order 2"):
        build_oracles(TEXT, TRAIN, OPTS, ngram_probs={1: ng[1]})
    with pytest.raises(CharwiseError, match="increasing"):
        BreakdownOptions(boosts=(0.3, 0.1))
    with pytest.raises(CharwiseError, match="empty"):
        build_oracles(TEXT, "", OPTS, ngram_probs=ng)
