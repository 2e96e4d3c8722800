"""The dynamic n-gram (ngram/cache.py): its read-text model is Witten-Bell over the counts of the
text before each character, as written out plainly here; it scores each character before
counting it; its static part is the n-gram's own loss; and the mix lowers the loss on a text
that repeats itself, at the weight and order its tuning finds best."""

from __future__ import annotations

import numpy as np
import pytest

from charwise.config import DataConfig
from charwise.data.vocab import Vocab
from charwise.ngram import NGramConfig, NGramModel
from charwise.ngram.cache import (
    NGramCacheConfig,
    cache_loss_over_ids,
    read_probs,
    static_probs,
    tune_cache,
)


def _plain(seq: list[int], order: int, vocab: int) -> list[float]:
    """P_read(seq[t]) for t >= 1, counting from scratch at every position."""
    out = []
    for t in range(1, len(seq)):
        p = 1.0 / vocab
        for k in range(min(order, t) + 1):
            ctx = seq[t - k : t]
            after = [seq[j] for j in range(k, t) if seq[j - k : j] == ctx]
            if after:
                d = len(set(after))
                p = (after.count(seq[t]) + d * p) / (len(after) + d)
        out.append(p)
    return out


@pytest.mark.parametrize("order", [0, 1, 3, 6])
def test_read_probabilities_are_witten_bell_over_the_text_before(order):
    rng = np.random.default_rng(order)
    seq = list(rng.integers(0, 4, 150)) + [0, 1, 2, 3] * 20  # noise, then a repeated phrase
    seq = [int(s) for s in seq]
    got = read_probs(np.array(seq), order, 5)  # one id (4) never occurs
    np.testing.assert_allclose(got, _plain(seq, order, 5), rtol=1e-12)
    # Scored before counted: a prefix's probabilities do not depend on what follows it.
    np.testing.assert_array_equal(read_probs(np.array(seq[:90]), order, 5), got[:89])


def _model(train: str, held: str) -> tuple[NGramModel, np.ndarray]:
    """A 4-gram counted on `train`, and `held` as ids (one vocabulary for both)."""
    vocab = Vocab.from_text(train + held)
    data = DataConfig(sources=("x",), split=(1.0, 0.0, 0.0))
    return NGramModel.fit(vocab.encode(train), vocab, NGramConfig(order=4), data), vocab.encode(
        held
    )


def test_the_mix_lowers_the_loss_on_a_text_that_repeats_itself():
    rng = np.random.default_rng(0)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    train = " ".join(rng.choice(words, 600))
    model, held = _model(train, "the phrase omega omega gets said again and again; " * 30)
    static_total, n = model.loss_over_ids(held)
    # The static part is the n-gram's own loss, probability by probability.
    assert -np.log(static_probs(model, held)).sum() == pytest.approx(static_total, rel=1e-9)
    cfg, grid = tune_cache(model, held, orders=(2, 6), lams=(0.1, 0.5))
    assert grid[cfg.cache_order, cfg.cache_lambda] == min(grid.values()) and len(grid) == 4
    total, m = cache_loss_over_ids(model, held, cfg)
    assert m == n and total / n == pytest.approx(grid[cfg.cache_order, cfg.cache_lambda], rel=1e-12)
    assert total / n < static_total / n - 0.5, (static_total / n, total / n)
    assert cfg == NGramCacheConfig(
        cache_order=6, cache_lambda=0.5
    )  # a long memory, trusted: it repeats
