"""Training dynamics: the JS divergence by hand and against a model built to equal the 1-gram;
checkpoints kept during a real (tiny) training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import charwise
from charwise.analysis import (
    CheckpointRecorder,
    fit_ngrams,
    js_by_order,
    js_divergence,
    ngram_distributions,
    training_dynamics,
)
from charwise.config import ModelConfig
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN

V = 6


def test_js_divergence_by_hand():
    p = np.array([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]])
    assert js_divergence(p, p) == pytest.approx([0.0, 0.0], abs=1e-15)
    q = np.array([[0.5, 0.3, 0.2], [0.0, 0.5, 0.5]])
    np.testing.assert_allclose(js_divergence(p, q), js_divergence(q, p))  # symmetric
    assert js_divergence(p[1], q[1]) == pytest.approx(math.log(2))  # disjoint: the maximum
    m = (p[0] + q[0]) / 2
    kl = lambda a: float(np.sum(a * np.log(a / m)))  # noqa: E731
    assert js_divergence(p[0], q[0]) == pytest.approx(0.5 * kl(p[0]) + 0.5 * kl(q[0]))


def _constant_model(probs: np.ndarray) -> CharRNN:
    """A model that ignores its input: every weight zero, the head's bias log(probs)."""
    m = CharRNN(ModelConfig(vocab_size=V, kind="lstm", layers=1, hidden=8, embed=4)).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.head.bias.copy_(torch.from_numpy(np.log(probs)))
    return m


def _ids(n, seed):
    # a text with strong local structure (a 2-gram knows much more than a 1-gram)
    rng = np.random.default_rng(seed)
    return np.concatenate([[0, 1, 2, rng.integers(3, V)] for _ in range(n // 4)])


def test_a_model_equal_to_the_unigram_has_zero_divergence_to_it_only():
    train, text = _ids(2000, 0), _ids(400, 1)
    ngrams = fit_ngrams(train, V, orders=(1, 2, 3))
    unigram = ngram_distributions(ngrams[1], text, np.array([1]))[0]
    uniform = np.full(V, 1 / V)
    js = js_by_order([_constant_model(unigram), _constant_model(uniform)], text, ngrams)
    assert js.shape == (2, 3)
    assert js[0, 0] < 1e-6  # the same distribution, up to float32
    assert js[0, 1] > 0.05 and js[0, 2] > 0.05  # the 2- and 3-gram know better
    assert js[1, 0] > js[0, 0] + 0.01  # a uniform model is farther from the unigram


def test_training_dynamics_sorts_checkpoints_and_checks_vocabularies():
    train, text = _ids(800, 2), _ids(200, 3)
    ngrams = fit_ngrams(train, V, orders=(1, 2))
    torch.manual_seed(0)
    a = CharRNN(ModelConfig(vocab_size=V, kind="gru", layers=1, hidden=8, embed=4)).eval()
    b = CharRNN(ModelConfig(vocab_size=V, kind="gru", layers=1, hidden=8, embed=4)).eval()
    dyn = training_dynamics([(20, b), (10, a)], text, ngrams, streams=2)
    np.testing.assert_array_equal(dyn.steps, [10, 20])
    np.testing.assert_allclose(dyn.js[0], js_by_order([a], text, ngrams, streams=2)[0])
    np.testing.assert_allclose(dyn.js[1], js_by_order([b], text, ngrams, streams=2)[0])
    assert dyn.to_dict()["orders"] == [1, 2] and len(dyn.closest_order()) == 2
    wrong = fit_ngrams(np.arange(V + 1), V + 1, orders=(1,))
    with pytest.raises(CharwiseError, match="same vocabulary"):
        js_by_order([a], text, wrong)
    with pytest.raises(CharwiseError, match="no checkpoints"):
        training_dynamics([], text, ngrams)


class _Count(charwise.Callbacks):
    def __init__(self):
        self.events = []

    def on_step(self, rec):
        self.events.append("step")

    def on_end(self, result):
        self.events.append("end")


def test_recorder_keeps_the_weights_of_every_save(small_text, tmp_path, make_config):
    cfg = make_config([small_text], max_steps=6, save_every=2, eval_every=3)
    inner = _Count()
    rec = CheckpointRecorder(tmp_path / "r", inner=inner)
    every4 = CheckpointRecorder(tmp_path / "r", inner=rec, every=4)  # chained: both see all
    charwise.train(cfg, tmp_path / "r", callbacks=every4)
    steps = [s for s, _ in rec.checkpoints]
    assert {2, 4, 6} <= set(steps) and steps == sorted(steps)  # saves, plus improving evals
    assert [s for s, _ in every4.checkpoints] == [4]
    assert inner.events.count("step") == 6 and inner.events[-1] == "end"
    models = dict(rec.checkpoints)
    last = charwise.load(tmp_path / "r", weights="last").model.state_dict()
    for k, v in models[6].state_dict().items():
        torch.testing.assert_close(v, last[k])
    first = models[2].state_dict()
    assert any(not torch.equal(first[k], v) for k, v in last.items())  # it trained in between
