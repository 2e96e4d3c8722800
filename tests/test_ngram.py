"""The n-gram baseline: normalisation, backoff, exact agreement with a dictionary implementation,
hand-computed bits per character, and its run directory under sample / eval / info."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from charwise.cli import main
from charwise.config import DataConfig
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.ngram import NGramConfig, NGramModel, train_ngram
from charwise.ngram.counting import build_levels
from charwise.ngram.model import NGramTables, contexts_of, kn_discounts
from charwise.runs.load import load
from charwise.use.sampling import SampleOptions

TEXT = "the cat sat on the mat. the dog sat on the log; a cat ran. " * 4 + "zebra!"


def _tables(text, order, smoothing):
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text).astype(np.int64)
    return (
        NGramTables(build_levels(ids, vocab.size, order, smoothing), ids, vocab.size, smoothing),
        ids,
        vocab,
    )


@pytest.mark.parametrize("smoothing", ["kn", "wb"])
@pytest.mark.parametrize("order", [1, 2, 3, 7])
def test_distributions_sum_to_one_for_seen_and_unseen_contexts(smoothing, order):
    t, ids, vocab = _tables(TEXT, order, smoothing)
    rng = np.random.default_rng(0)
    seen = contexts_of(ids, np.arange(len(ids)), order - 1, vocab.size)
    unseen = rng.integers(0, vocab.size + 1, size=(300, order - 1))  # mostly never in the text
    for ctx in (seen, unseen):
        P = t.dist(ctx)
        np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
        assert (P > 0).all()
        w = rng.integers(0, vocab.size, size=len(ctx))
        np.testing.assert_allclose(t.prob_of(ctx, w), P[np.arange(len(ctx)), w], rtol=1e-12)


def test_order_one_is_the_smoothed_unigram():
    vocab = Vocab.from_text(TEXT)
    ids = vocab.encode(TEXT).astype(np.int64)
    c = np.bincount(ids, minlength=vocab.size).astype(float)
    n, V = c.sum(), vocab.size
    empty = np.zeros((1, 0), np.int64)  # order 1: no context at all
    wb = NGramTables(build_levels(ids, V, 1, "wb"), ids, V, "wb").dist(empty)[0]
    T = np.count_nonzero(c)
    np.testing.assert_allclose(wb, (c + T / V) / (n + T))  # Witten-Bell with a uniform floor
    kn = NGramTables(build_levels(ids, V, 1, "kn"), ids, V, "kn")
    D = kn_discounts(c[c > 0].astype(np.int64), 0)
    disc = np.where(c > 0, D[np.clip(c, 1, 3).astype(int) - 1], 0.0)
    np.testing.assert_allclose(kn.dist(empty)[0], (c - disc + disc.sum() / V) / n)
    # and the unigram ranks characters like their frequencies
    assert np.argmax(wb) == np.argmax(c)


def test_bits_per_char_by_hand():
    # Witten-Bell, order 2, trained on "aab". Unigram: c(a)=2, c(b)=1, T=2, V=2:
    #   P0(a) = (2 + 2 * 1/2) / (3 + 2) = 3/5, P0(b) = 2/5.
    # Context "a" saw a once and b once (T=2): P1(b|a) = (1 + 2 * 2/5) / (2 + 2) = 9/20.
    # Context "b" was never seen: P(a|b) = P0(a) = 3/5.
    vocab = Vocab.from_text("ab")
    train = vocab.encode("aab").astype(np.int64)
    model = NGramModel.fit(
        train, vocab, NGramConfig(order=2, smoothing="wb"), DataConfig(sources=("x",))
    )
    nats, n = model.loss_over_ids(vocab.encode("aba"))
    assert n == 2
    assert nats == pytest.approx(-math.log(9 / 20) - math.log(3 / 5), rel=1e-12)


def _naive_probs(text, order, smoothing, queries, vocab):
    """A dictionary implementation of the same definitions, written independently."""
    V, PAD = vocab.size, None
    ids = [int(i) for i in vocab.encode(text)]
    padded = [PAD] * (order - 1) + ids

    def ctx(seq, t, m):  # the m characters before position t of padded `seq` (oldest first)
        return tuple(seq[t - m : t])

    raw = [Counter() for _ in range(order)]
    for m in range(order):
        for t in range(order - 1, len(padded)):
            raw[m][(ctx(padded, t, m), padded[t])] += 1
    counts = []
    for m in range(order):
        if m == order - 1 or smoothing == "wb":
            counts.append(raw[m])
        else:  # continuation counts from the distinct longer n-grams
            cont = Counter()
            for h, w in raw[m + 1]:
                cont[(h[1:], w)] += 1
            counts.append(cont)
    by_ctx = [defaultdict(dict) for _ in range(order)]
    for m in range(order):
        for (h, w), c in counts[m].items():
            by_ctx[m][h][w] = c
    disc = [kn_discounts(np.array(list(counts[m].values())), 0) for m in range(order)]
    out = []
    for q, w in queries:
        p = 1.0 / V
        for m in range(order):
            h = tuple(q[len(q) - m :]) if m else ()
            if h not in by_ctx[m]:
                break
            cs = by_ctx[m][h]
            c = cs.get(w, 0)
            if smoothing == "wb":
                p = (c + len(cs) * p) / (sum(cs.values()) + len(cs))
            else:
                D = disc[m]
                gamma = sum(D[min(k, 3) - 1] for k in cs.values())
                p = ((c - D[min(c, 3) - 1] if c else 0.0) + gamma * p) / sum(cs.values())
        out.append(p)
    return np.array(out)


@pytest.mark.parametrize("smoothing", ["kn", "wb"])
@pytest.mark.parametrize("order", [2, 4, 9])
def test_equals_a_dictionary_implementation(smoothing, order):
    t, ids, vocab = _tables(TEXT, order, smoothing)
    other = "the rat sat on a cat. zebra dog; the mat!"
    q_ids = vocab.encode(other).astype(np.int64)
    targets = np.arange(1, len(q_ids))
    ctx = contexts_of(q_ids, targets, order - 1, vocab.size)
    queries = []
    for row, w in zip(ctx, q_ids[targets], strict=True):
        older = [None if c == vocab.size else int(c) for c in row[::-1]]  # oldest first
        queries.append((older, int(w)))
    expected = _naive_probs(TEXT, order, smoothing, queries, vocab)
    np.testing.assert_allclose(t.prob_of(ctx, q_ids[targets]), expected, rtol=1e-10)


def test_higher_order_fits_training_text_better():
    losses = []
    for order in (1, 3, 6):
        t, ids, _ = _tables(TEXT, order, "kn")
        losses.append(
            -np.log(
                t.prob_of(contexts_of(ids, np.arange(1, len(ids)), order - 1, t.V), ids[1:])
            ).mean()
        )
    assert losses[0] > losses[1] > losses[2]


@pytest.fixture
def ngram_run(small_text, tmp_path):
    out = tmp_path / "ng"
    data = DataConfig(sources=(str(small_text),), split=(0.8, 0.1, 0.1))
    res = train_ngram(data, NGramConfig(order=6), out)
    return out, res


def test_saved_run_loads_with_the_same_numbers(ngram_run):
    out, res = ngram_run
    run = load(out)
    assert run.kind == "ngram" and run.model.describe()["order"] == 6
    assert run.model.loss_over_ids(res.val) == pytest.approx(res.model.loss_over_ids(res.val))
    with pytest.raises(CharwiseError, match="already holds a run"):
        train_ngram(run.model.data_config, NGramConfig(order=2), out)


def test_sampling_options(ngram_run):
    out, _ = ngram_run
    model = load(out).model
    a = model.generate(SampleOptions(length=80, seed=3, num_samples=2))
    assert a == model.generate(SampleOptions(length=80, seed=3, num_samples=2))
    assert all(len(s) == 80 for s in a)
    streamed = []
    g = model.generate(
        SampleOptions(length=40, prime="Line 1", argmax=True),
        on_text=lambda s, piece: streamed.append(piece),
    )
    assert "".join(streamed) == g[0]
    # greedy decoding of a 6-gram continues the training line's pattern
    assert g[0].startswith(": ") or g[0][0].isdigit()
    stop = model.generate(SampleOptions(length=300, seed=1, stop_at="\n"))[0]
    assert "\n" not in stop and len(stop) < 300
    with pytest.raises(CharwiseError, match="not in the model's vocabulary"):
        model.generate(SampleOptions(length=5, prime="Q\u2603"))


def test_cli_ngram_then_sample_eval_info(small_text, tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            ["ngram", str(small_text), "--order", "5", "--out", str(out), "--split", "0.8,0.1,0.1"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "val" in printed and "bits/char" in printed
    assert main(["sample", str(out), "-n", "50", "--seed", "1", "--prime", "Line"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Line") and text.endswith("\n") and len(text) == len("Line") + 50 + 1
    assert main(["eval", str(out), "--split", "val", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    val_line = [ln for ln in printed.splitlines() if ln.startswith("val")][0]
    assert f"{ev['bits_per_char']:.4f}" in val_line  # the same number as `charwise ngram` printed
    assert main(["eval", str(out), str(small_text)]) == 0
    assert "bits/char" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "ngram" and info["order"] == 5 and info["distinct_ngrams"] > 0


def test_cli_errors_are_one_line(small_text, tmp_path, capsys):
    assert main(["ngram", str(small_text), "--order", "0"]) == 2
    assert "order" in capsys.readouterr().err
    out = tmp_path / "run"
    assert main(["ngram", str(small_text), "--order", "3", "--out", str(out)]) == 0
    (out / "ngram.safetensors").write_bytes(b"garbage")
    capsys.readouterr()
    assert main(["sample", str(out)]) == 2
    assert "corrupted" in capsys.readouterr().err


def test_ngram_run_evaluates_its_split_from_another_folder(
    small_text, tmp_path, capsys, monkeypatch
):
    # The text path typed relative to where `charwise ngram` ran is stored absolute, so
    # `eval --split` finds the text from anywhere (it re-reads it).
    monkeypatch.chdir(small_text.parent)
    out = tmp_path / "run"
    assert main(["ngram", small_text.name, "--order", "3", "--out", str(out)]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    capsys.readouterr()
    assert main(["eval", str(out), "--split", "test", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["chars"] > 0
