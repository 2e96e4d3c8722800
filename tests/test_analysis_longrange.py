"""Long-range: braces matched by hand, binned by distance, each model averaged per bin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charwise.analysis import (
    loss_by_distance,
    losses,
    matching_pairs,
    ngram_char_probs,
    ngram_tables,
)
from charwise.errors import CharwiseError


def test_matching_pairs_nest_and_skip_the_unmatched():
    text = "a{b{c}d}e}{"
    #       0123456789A: (3,5) inner, (1,7) outer; '}' at 9 has no opener, '{' at 10 no closer
    np.testing.assert_array_equal(matching_pairs(text), [[3, 5], [1, 7]])
    np.testing.assert_array_equal(matching_pairs("(x)", "(", ")"), [[0, 2]])
    assert matching_pairs("no braces").shape == (0, 2)
    with pytest.raises(CharwiseError, match="two different single characters"):
        matching_pairs(text, "{", "{")


def _text_with_distances(distances):
    """Blocks '{' + 'x' * (d - 1) + '}' separated by ';': each '}' is d after its '{'."""
    parts, closes = [], []
    pos = 0
    for d in distances:
        block = "{" + "x" * (d - 1) + "}"
        closes.append(pos + d)
        parts.append(block + ";")
        pos += len(block) + 1
    return "".join(parts), np.array(closes)


def test_binning_and_means_by_hand():
    dists = [1, 5, 9, 10, 15, 25, 200]
    text, closes = _text_with_distances(dists)
    a = np.full(len(text), 7.0)  # a model whose loss on '}' is its distance
    a[closes] = dists
    b = np.full(len(text), 3.0)  # and one with the same loss everywhere
    lr = loss_by_distance(text, {"rnn": a, "ngram": b}, edges=(1, 10, 20, 100, math.inf))
    np.testing.assert_array_equal(lr.counts, [3, 2, 1, 1])  # 10 is in [10, 20), not [1, 10)
    np.testing.assert_allclose(lr.mean_loss["rnn"], [5.0, 12.5, 25.0, 200.0])
    np.testing.assert_allclose(lr.mean_loss["ngram"], 3.0)
    rows = lr.to_dict()["bins"]
    assert rows[0] == {"from": 1.0, "to": 10.0, "count": 3, "rnn": 5.0, "ngram": 3.0}
    assert rows[-1]["to"] is None


def test_empty_bins_are_nan_and_a_nan_loss_drops_the_brace_for_every_model():
    text, closes = _text_with_distances([3, 4, 50])
    a = np.ones(len(text))
    b = np.ones(len(text))
    b[closes[1]] = np.nan
    lr = loss_by_distance(text, {"a": a, "b": b}, edges=(1, 10, 20, 60))
    np.testing.assert_array_equal(lr.counts, [1, 0, 1])
    assert np.isnan(lr.mean_loss["a"][1]) and lr.to_dict()["bins"][1]["a"] is None


def test_with_real_losses_the_long_context_model_wins_far_from_the_brace():
    # In this text what follows a block depends only on how long the block is: a 3-gram cannot
    # tell, a 30-gram can. Both are counted on the same text (an "oracle" setting).
    blocks = ["{" + "x" * (d - 1) + "}" + ("a" if d % 2 else "b") for d in (4, 5, 6, 7) * 20]
    text = "".join(blocks)
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text])
    loss3 = losses(ngram_char_probs(ngram_tables(ids, len(chars), 3), ids))
    loss30 = losses(ngram_char_probs(ngram_tables(ids, len(chars), 30), ids))
    lr = loss_by_distance(text, {"3-gram": loss3, "30-gram": loss30}, edges=(1, 10))
    assert lr.counts[0] == 80
    assert lr.mean_loss["30-gram"][0] < lr.mean_loss["3-gram"][0]


def test_bad_input():
    with pytest.raises(CharwiseError, match="one per character"):
        loss_by_distance("{}", {"a": np.ones(3)})
    with pytest.raises(CharwiseError, match="at least one"):
        loss_by_distance("{}", {})
    with pytest.raises(CharwiseError, match="increasing"):
        loss_by_distance("{}", {"a": np.ones(2)}, edges=(5, 1))
