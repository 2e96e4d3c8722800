"""Per-character predictions: the batched RNN pass equals one pass (and `record`), the n-gram
probabilities add up to the n-gram's own loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from charwise.analysis import (
    losses,
    ngram_char_probs,
    ngram_distributions,
    ngram_tables,
    recording_char_probs,
    rnn_char_probs,
)
from charwise.config import ModelConfig
from charwise.errors import CharwiseError
from charwise.inspect import RecordOptions, record
from charwise.ngram.model import total_nats
from charwise.nn.model import CharRNN

V = 7


def _model(kind: str = "lstm") -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=V, kind=kind, layers=2, hidden=16, embed=4)).eval()


def _ids(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, n)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_one_stream_is_the_recordings_pass(kind):
    m, ids = _model(kind), _ids(300)
    p = rnn_char_probs(m, ids, streams=1, window=64)
    rec = record(m, ids, [chr(97 + i) for i in range(V)], RecordOptions(quantities=("h",)))
    ref = recording_char_probs(rec)
    assert np.isnan(p[0]) and np.isnan(ref[0])
    np.testing.assert_allclose(p[1:], ref[1:], rtol=1e-4, atol=1e-6)


def test_streams_cover_every_character_once_and_agree_with_one_pass():
    m, ids = _model(), _ids(1000)
    one = rnn_char_probs(m, ids, streams=1)
    # burn-in longer than the text: every piece reads from the start, so it is exact
    full = rnn_char_probs(m, ids, streams=8, window=50, context=1000)
    np.testing.assert_allclose(full, one, rtol=1e-4, atol=1e-6)
    # the default burn-in: every character still predicted once, values near one pass
    short = rnn_char_probs(m, ids, streams=8, window=50, context=64)
    assert np.isnan(short[0]) and np.isfinite(short[1:]).all()
    assert abs(losses(short)[1:].mean() - losses(one)[1:].mean()) < 1e-3


def test_ngram_probs_add_up_to_its_loss_and_match_its_distributions():
    train, text = _ids(2000, 1), _ids(500, 2)
    tables = ngram_tables(train, V, 4)
    p = ngram_char_probs(tables, text)
    total, n = total_nats(tables, text)
    assert np.isnan(p[0]) and n == len(text) - 1
    assert -np.log(p[1:]).sum() == pytest.approx(total, rel=1e-12)
    pos = np.arange(1, len(text))
    dist = ngram_distributions(tables, text, pos)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(dist[np.arange(len(pos)), text[pos]], p[1:], rtol=1e-12)


def test_losses_and_bad_input():
    np.testing.assert_allclose(losses([np.nan, 1.0, math.exp(-2)]), [np.nan, 0.0, 2.0])
    assert np.isfinite(losses([0.0])[0])  # underflow is a large loss, not infinity
    with pytest.raises(CharwiseError, match="integer"):
        rnn_char_probs(_model(), np.array([0.5, 1.5]))
    with pytest.raises(CharwiseError, match="too short"):
        rnn_char_probs(_model(), np.array([1]))
    with pytest.raises(CharwiseError, match="outside"):
        ngram_tables(np.array([0, V]), V, 2)
