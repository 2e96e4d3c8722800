"""charwise's Kneser-Ney against an independent plain-dictionary implementation (kn_oracle.py):
the same probabilities to 1e-9, on small texts, at several orders, for seen and unseen contexts
and for the first characters of a text, and distributions that sum to 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from charwise.config import DataConfig
from charwise.data.vocab import Vocab
from charwise.ngram import NGramConfig, NGramModel
from kn_oracle import KNOracle, chen_goodman_discounts

ENGLISH = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the "
    "age of foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the "
    "season of Light, it was the season of Darkness, it was the spring of hope, it was the "
    "winter of despair.\n"
)
QUERY = "It was the age of hope; the zebra's quiet epoch of Light.\nIt was"


def _random_text(seed: int, n: int, alphabet: str = "abcde ") -> str:
    """A text from a skewed order-1 Markov chain: many distinct n-grams with counts 1..4+."""
    rng = np.random.default_rng(seed)
    k = len(alphabet)
    trans = rng.dirichlet(np.full(k, 0.4), size=k)
    out, s = [], 0
    for _ in range(n):
        s = rng.choice(k, p=trans[s])
        out.append(alphabet[s])
    return "".join(out)


def _fit(train: str, query: str, order: int) -> tuple[NGramModel, Vocab]:
    vocab = Vocab.from_text(train + query)  # query characters may be absent from training
    ids = vocab.encode(train).astype(np.int64)
    model = NGramModel.fit(ids, vocab, NGramConfig(order=order), DataConfig(sources=("x",)))
    return model, vocab


CASES = [
    ("english", ENGLISH, QUERY),
    ("random", _random_text(0, 3000), _random_text(1, 400) + "zq"),  # z, q: never in training
]


@pytest.mark.parametrize("order", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("name,train,query", CASES, ids=[c[0] for c in CASES])
def test_probabilities_equal_the_oracle(name, train, query, order):
    model, vocab = _fit(train, query, order)
    oracle = KNOracle(list(vocab.encode(train)), vocab.size, order)
    q = vocab.encode(query).astype(np.int64)
    # Every character of the query from the first on, so the histories shorter than order-1
    # (the text's start, padded) are covered, as are contexts never seen in training.
    for t in range(len(q)):
        history = q[:t]
        got = model.distribution(history)
        want = oracle.dist(list(history))
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=f"position {t}")
        assert math.isclose(sum(want), 1.0, abs_tol=1e-12)
        np.testing.assert_allclose(got.sum(), 1.0, atol=1e-12)
    # evaluation goes through the other path (prob_of); the totals agree too
    nats, n = model.loss_over_ids(q)
    want = -sum(math.log(oracle.prob(list(q[:t]), int(q[t]))) for t in range(1, len(q)))
    assert n == len(q) - 1
    assert nats == pytest.approx(want, rel=1e-12, abs=1e-9)


def test_the_cases_cover_what_they_claim():
    # unseen contexts at the highest order, and characters never seen in training
    model, vocab = _fit(ENGLISH, QUERY, 5)
    oracle = KNOracle(list(vocab.encode(ENGLISH)), vocab.size, 5)
    q = list(vocab.encode(QUERY))
    unseen = [t for t in range(4, len(q)) if tuple(q[t - 4 : t]) not in oracle.counts[4]]
    assert len(unseen) > 10
    assert vocab.encode("z")[0] not in set(vocab.encode(ENGLISH).tolist())
    # the random text gives counts of counts n1..n4 > 0 at context lengths 2..5: the plain
    # Chen & Goodman estimates, no guard; the English one is small enough to need the guard
    ids = list(Vocab.from_text(CASES[1][1]).encode(CASES[1][1]))
    assert not any(KNOracle(ids, 6, 6).guarded[2:])
    assert all(KNOracle(list(vocab.encode(ENGLISH)), vocab.size, 8).guarded[2:7])


def test_discount_estimates_by_hand():
    # n1=4, n2=2, n3=1, n4=1: Y = 4/8 = 0.5, D1 = 1 - 2*0.5*2/4 = 0.5,
    # D2 = 2 - 3*0.5*1/2 = 1.25, D3+ = 3 - 4*0.5*1/1 = 1.0
    d, guarded = chen_goodman_discounts([1, 1, 1, 1, 2, 2, 3, 4, 7])
    assert d == pytest.approx((0.5, 1.25, 1.0)) and not guarded
    model, vocab = _fit(CASES[1][1], "", 3)
    oracle = KNOracle(list(vocab.encode(CASES[1][1])), vocab.size, 3)
    np.testing.assert_allclose(model.describe()["discounts"], oracle.D, atol=5e-5)  # rounded


def test_given_discounts_are_used():
    # The tuned discounts (--discounts tune) go through the same formulas: give the oracle and
    # charwise the same arbitrary discounts and they agree.
    train, query = CASES[1][1], CASES[1][2]
    vocab = Vocab.from_text(train + query)
    ids = vocab.encode(train).astype(np.int64)
    disc = np.array([[0.3, 0.9, 1.7], [0.6, 1.1, 1.4], [0.8, 1.5, 2.2], [0.9, 1.2, 1.3]])
    model = NGramModel.fit(
        ids, vocab, NGramConfig(order=4), DataConfig(sources=("x",)), discounts=disc
    )
    oracle = KNOracle(list(ids), vocab.size, 4, discounts=disc)
    q = vocab.encode(query)
    for t in range(0, len(q), 7):
        np.testing.assert_allclose(
            model.distribution(q[:t]), oracle.dist(list(q[:t])), rtol=0, atol=1e-9
        )
