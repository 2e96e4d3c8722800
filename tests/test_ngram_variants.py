"""The n-gram variants bench/ngram_gap.py compares: tuned discounts, backoff Kneser-Ney, PPM with
exclusion. Each is a distribution (sums to 1, nothing zero), checked by hand on a tiny text."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from charwise.cli import main
from charwise.config import DataConfig
from charwise.data.vocab import Vocab
from charwise.fields import FieldError
from charwise.ngram import NGramConfig, NGramModel, train_ngram
from charwise.ngram.counting import build_levels
from charwise.ngram.model import NGramTables, contexts_of, total_nats
from charwise.ngram.tune import fit_smoothing, held_out_features, held_out_nats
from charwise.ngram.variants import backoff_dist, nats_with, ppm_dist
from charwise.runs.load import load
from kn_oracle import KNOracle

TEXT = "the cat sat on the mat. the dog sat on the log; a cat ran. " * 4 + "zebra!"
OTHER = "the rat sat on a cat. zebra dog; the mat!"


def _tables(text, order, smoothing):
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text).astype(np.int64)
    return NGramTables(build_levels(ids, vocab.size, order, smoothing), ids, vocab.size, smoothing)


@pytest.mark.parametrize("order", [1, 3, 6])
@pytest.mark.parametrize(
    "variant",
    [
        ("kn", backoff_dist),
        ("wb", lambda t, o: ppm_dist(t, o, "C")),
        ("wb", lambda t, o: ppm_dist(t, o, "D")),
    ],
)
def test_variants_are_distributions(variant, order):
    smoothing, fn = variant
    t = _tables(TEXT, order, smoothing)
    rng = np.random.default_rng(0)
    ids = Vocab.from_text(TEXT).encode(TEXT).astype(np.int64)
    seen = contexts_of(ids, np.arange(len(ids)), order - 1, t.V)
    unseen = rng.integers(0, t.V + 1, size=(200, order - 1))
    for ctx in (seen, unseen):
        P = fn(t, ctx)
        np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
        assert (P > 0).all()


def test_ppm_with_exclusion_by_hand():
    # Train "aab" with V = 3 (c never seen), order 2. After "a": a once, b once (n=2, T=2):
    # PPM-C gives P(a | a) = P(b | a) = 1/(2+2) = 1/4 and escapes with 1/2 to the order-0
    # counts, where a and b are excluded (nothing left), then to the uniform order -1 over what
    # is not excluded: P(c | a) = 1/2.
    # After "b" (never a context in training): order 0 counts a=2, b=1 (n=3, T=2): P(a) = 2/5,
    # P(b) = 1/5, escape 2/5, all of it to c.
    vocab = Vocab.from_text("abc")
    ids = vocab.encode("aab").astype(np.int64)
    t = NGramTables(build_levels(ids, 3, 2, "wb"), ids, 3, "wb")
    P = ppm_dist(t, np.array([[0], [1]]), "C")
    np.testing.assert_allclose(P, [[0.25, 0.25, 0.5], [0.4, 0.2, 0.4]])
    # PPMD after "b": P(a) = (2 - 1/2)/3, P(b) = (1 - 1/2)/3, escape T/(2n) = 1/3 to c.
    np.testing.assert_allclose(ppm_dist(t, np.array([[1]]), "D"), [[1 / 2, 1 / 6, 1 / 3]])


def test_backoff_keeps_the_discounted_counts_of_seen_characters():
    t = _tables(TEXT, 4, "kn")
    ids = Vocab.from_text(OTHER + TEXT).encode(OTHER).astype(np.int64)
    ctx = contexts_of(ids, np.arange(1, len(ids)), 3, t.V)
    P_bo, P_int = backoff_dist(t, ctx), t.dist(ctx)
    top = [(m, k.copy(), n.copy(), p.copy()) for m, k, n, p in t.walk(ctx)][-1]
    cnt, _, den = t.level_counts(*top)
    full = (top[1] > 0) & ((cnt > 0).sum(1) < t.V)
    seen = (t.alpha(top[0], cnt) > 0) & full[:, None]
    np.testing.assert_allclose(P_bo[seen], (t.alpha(top[0], cnt) / den[:, None])[seen])
    assert not np.allclose(P_bo, P_int)
    # the loss helper agrees with the library's own for the interpolated model
    nats, _ = total_nats(t, ids)
    assert nats_with(lambda tt, o: tt.dist(o), t, ids) == pytest.approx(nats, rel=1e-12)


def test_tuned_discounts_lower_the_val_loss_and_are_saved(small_text, tmp_path):
    data = DataConfig(sources=(str(small_text),), split=(0.6, 0.2, 0.2))
    counted = train_ngram(data, NGramConfig(order=3))
    tuned = train_ngram(data, NGramConfig(order=3, discounts="tune"), tmp_path / "run")
    val = counted.val
    assert tuned.model.loss_over_ids(val)[0] < counted.model.loss_over_ids(val)[0]
    disc = np.array(tuned.model.tables.disc)
    assert disc.shape == (3, 3) and (disc >= 0.05).all() and (disc <= [1, 2, 3]).all()
    run = load(tmp_path / "run")
    assert run.model.cfg.discounts == "tune"
    np.testing.assert_array_equal(np.array(run.model.tables.disc), disc)
    assert run.model.loss_over_ids(val) == tuned.model.loss_over_ids(val)


def test_tune_needs_kneser_ney_and_a_val_split(small_text):
    with pytest.raises(FieldError, match="tune"):
        NGramConfig(smoothing="wb", discounts="tune")
    vocab = Vocab.from_text("abc")
    with pytest.raises(FieldError, match="val split"):
        NGramModel.fit(
            vocab.encode("abcabc"),
            vocab,
            NGramConfig(order=2, discounts="tune"),
            DataConfig(sources=("x",)),
            val_ids=None,
        )


def test_held_out_loss_equals_the_model_and_the_oracle_with_strength():
    # The tuner's differentiable loss is the model's own loss at the model's discounts, and with
    # a strength theta it is the oracle's Pitman-Yor-style rule.
    vocab = Vocab.from_text(TEXT + OTHER)
    train = vocab.encode(TEXT).astype(np.int64)
    q = vocab.encode(OTHER).astype(np.int64)
    order = 5
    t = NGramTables(build_levels(train, vocab.size, order, "kn"), train, vocab.size, "kn")
    feats = held_out_features(t, q)
    D = torch.tensor(np.array(t.disc))
    got = float(held_out_nats(feats, D, len(q) - 1, vocab.size))
    assert got == pytest.approx(total_nats(t, q)[0], rel=1e-12)
    theta = np.array([0.5, 1.0, 2.0, 0.1, 3.0])
    oracle = KNOracle(list(train), vocab.size, order, discounts=t.disc, strength=theta)
    want = -sum(np.log(oracle.prob(list(q[:i]), int(q[i]))) for i in range(1, len(q)))
    got = float(held_out_nats(feats, D, len(q) - 1, vocab.size, torch.tensor(theta)))
    assert got == pytest.approx(want, rel=1e-10)
    # positions: the same predictions named explicitly
    pos = np.arange(1, len(q))
    assert float(held_out_nats(held_out_features(t, q, pos), D, len(pos), vocab.size)) == (
        pytest.approx(total_nats(t, q)[0], rel=1e-12)
    )
    # fitting the strength too never does worse on the text it is fitted to
    d1, _ = fit_smoothing(t, feats, len(q) - 1, max_iter=30)
    d2, s2 = fit_smoothing(t, feats, len(q) - 1, strength=True, max_iter=30)
    loss1 = float(held_out_nats(feats, torch.tensor(d1), len(q) - 1, vocab.size))
    loss2 = float(held_out_nats(feats, torch.tensor(d2), len(q) - 1, vocab.size, torch.tensor(s2)))
    assert loss2 <= loss1 + 1e-9 and (s2 > 0).all()


def test_cli_discounts_tune(small_text, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["ngram", str(small_text), "--order", "2", "--split", "0.6,0.2,0.2"]
    assert main([*args, "--discounts", "tune", "--out", str(out)]) == 0
    assert "val" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert len(info["discounts"]) == 2
    assert main([*args, "--smoothing", "wb", "--discounts", "tune"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("charwise: error:") and "--discounts tune" in err and "\n" == err[-1]
