"""Recording: the written-out cells equal the fused kernels, predictions are the model's,
shapes, and bounded memory when activations go to disk."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from charwise.config import ModelConfig
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.inspect import QUANTITIES, RecordOptions, memory_bound, record, record_text
from charwise.nn.model import CharRNN

V = 11
TOKENS = [chr(ord("a") + i) for i in range(V)]


def _model(kind: str, layers: int = 2, hidden: int = 12, seed: int = 0) -> CharRNN:
    torch.manual_seed(seed)
    m = CharRNN(ModelConfig(vocab_size=V, kind=kind, layers=layers, hidden=hidden, embed=6)).eval()
    with torch.no_grad():  # non-trivial biases, so a bias mix-up cannot hide
        for p in m.rnn.parameters():
            p.add_(0.3 * torch.randn_like(p))
    return m


def _ids(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, V, n)


def _fused_layer(model: CharRNN, k: int, inp: torch.Tensor):
    """Layer k alone as a one-layer fused nn.LSTM/GRU/RNN with the same weights."""
    cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[model.cfg.kind]
    one = cls(inp.shape[-1], model.cfg.hidden, num_layers=1, batch_first=True)
    with torch.no_grad():
        for name, w in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"),
            model.layer_weights(k),
            strict=True,
        ):
            getattr(one, name).copy_(w)
    return one(inp)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_written_out_cells_equal_fused_kernels(kind):
    model = _model(kind, layers=3)
    ids = _ids(150)
    # chunks of 37 cut the sequence: the state must be carried across them
    rec = record(model, ids, TOKENS, RecordOptions(chunk=37))
    with torch.no_grad():
        inp = model.embed(torch.from_numpy(ids)[None])
        for k in range(3):
            out, last = _fused_layer(model, k, inp)
            got = torch.from_numpy(rec.act("h", k).astype(np.float32))
            torch.testing.assert_close(got, out[0], atol=2e-3, rtol=2e-3)
            if kind == "lstm":  # the cell state at the end equals the fused kernel's
                torch.testing.assert_close(
                    torch.from_numpy(rec.act("c", k)[-1].astype(np.float32)),
                    last[1][0, 0],
                    atol=2e-3,
                    rtol=2e-3,
                )
            inp = out
        # and the whole multi-layer stack as the model runs it
        top, _ = model.rnn(model.embed(torch.from_numpy(ids)[None]))
        torch.testing.assert_close(
            torch.from_numpy(rec.act("h", 2).astype(np.float32)), top[0], atol=2e-3, rtol=2e-3
        )


def test_lstm_gates_obey_the_cell_equations():
    rec = record(_model("lstm"), _ids(80), TOKENS)
    for k in range(2):
        i, f, o, g, c, h = (
            rec.act(q, k).astype(np.float64)
            for q in ("input", "forget", "output", "candidate", "c", "h")
        )
        c_prev = np.vstack([np.zeros((1, rec.hidden)), c[:-1]])
        np.testing.assert_allclose(c, f * c_prev + i * g, atol=5e-3)
        np.testing.assert_allclose(h, o * np.tanh(c), atol=5e-3)
        assert (i >= 0).all() and (i <= 1).all() and (g >= -1).all() and (g <= 1).all()


def test_predictions_are_the_models_and_sum_to_one():
    model = _model("lstm")
    ids = _ids(60)
    rec = record(model, ids, TOKENS, RecordOptions(top_k=V, chunk=16))
    with torch.no_grad():
        logits, _ = model(torch.from_numpy(ids)[None])
    probs = F.softmax(logits[0], -1).numpy()
    np.testing.assert_allclose(rec.topk_probs.sum(1), 1.0, atol=1e-5)
    assert (np.diff(rec.topk_probs, axis=1) <= 1e-7).all()  # best first
    np.testing.assert_allclose(rec.p_next[:-1], probs[np.arange(59), ids[1:]], atol=1e-5)
    assert np.isnan(rec.p_next[-1])
    assert (rec.topk_ids[:, 0] == probs.argmax(1)).all()
    expected_bpc = -np.log2(probs[np.arange(59), ids[1:]]).mean()
    assert rec.bits_per_char() == pytest.approx(expected_bpc, rel=1e-4)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_shapes_and_quantities(kind):
    rec = record(_model(kind, layers=2, hidden=7), _ids(30), TOKENS, RecordOptions(top_k=3))
    assert set(rec.acts) == set(QUANTITIES[kind])
    for q in QUANTITIES[kind]:
        assert rec.acts[q].shape == (2, 30, 7)
    assert rec.topk_ids.shape == rec.topk_probs.shape == (30, 3)
    assert rec.chars == [TOKENS[i] for i in _ids(30)]
    assert rec.display_quantity == ("c" if kind == "lstm" else "h")
    only = record(_model(kind), _ids(10), TOKENS, RecordOptions(quantities=("h",)))
    assert list(only.acts) == ["h"]
    with pytest.raises(CharwiseError, match=f"a {kind} has no forgetful; choose from h"):
        record(_model(kind), _ids(10), TOKENS, RecordOptions(quantities=("forgetful",)))
    with pytest.raises(CharwiseError, match=r"^layer 5 out of range \(the model has 2\)$"):
        rec.act("h", 5)


def test_on_disk_recording_bounds_memory(tmp_path):
    """A scaled-down version of '100k characters of a 3x512 LSTM': 12k characters of a 2x64
    LSTM with every gate recorded. The activations (18 MB as float16) go to disk chunk by chunk;
    the Python/numpy memory in use at the peak stays within `memory_bound`."""
    model = _model("lstm", layers=2, hidden=64)
    ids = _ids(12_000)
    opts = RecordOptions(chunk=256, out_dir=str(tmp_path / "acts"))
    total = 12_000 * 2 * 64 * 2 * len(QUANTITIES["lstm"])
    bound = memory_bound(2, 64, 4, 256, 5, 12_000)
    assert bound < total / 4
    tracemalloc.start()
    rec = record(model, ids, TOKENS, opts)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < bound, (peak, bound)
    assert isinstance(rec.acts["c"], np.memmap) and rec.acts["c"].shape == (2, 12_000, 64)
    assert sum(f.stat().st_size for f in (tmp_path / "acts").glob("*.npy")) >= total
    # The disk copy holds the same numbers as an in-memory recording of the same start.
    head = record(model, ids[:300], TOKENS)
    for q in ("h", "c", "forget"):
        np.testing.assert_array_equal(np.asarray(rec.acts[q][:, :300]), head.acts[q])
    np.testing.assert_allclose(rec.p_next[:299], head.p_next[:299], rtol=1e-5)


def test_record_text_leaves_out_unknown_characters(tmp_path):
    class _Run:  # the part of a loaded run record_text uses
        vocab = Vocab.from_text("".join(TOKENS))
        model = _model("lstm")

        def inspect_model(self):
            return self.model

    rec, skipped = record_text(_Run(), "abc€d\u00e9a")
    assert skipped == 2
    assert "".join(rec.chars) == "abcda"
    with pytest.raises(CharwiseError, match="^the text to inspect is empty$"):
        record(_Run.model, np.array([], dtype=np.int64), TOKENS)
