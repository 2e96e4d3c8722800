"""Inspecting a transformer: its forward with the attention written out reproduces the fused one,
the attention is causal and sums to one, the recording's predictions are the model's own (and
over a long text `eval`'s sliding-window score), its MLP units are scanned like an RNN's cells,
and `charwise inspect` reports both units and attention."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import charwise
from charwise.cli import main
from charwise.inspect import RankOptions, RecordOptions, rank_cells, record, text_properties
from charwise.inspect.payload import viewer_payload
from charwise.inspect.record import ranked_quantity, untrained_like
from charwise.nn.transformer import CharTransformer
from charwise.use.windowed import windowed_loss
from test_transformer import TF_FLAGS, tiny_model

TOKENS = [str(i) for i in range(11)]


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_the_probed_forward_is_the_models_own(positions):
    m = tiny_model(positions=positions)
    x = torch.randint(0, 11, (3, 16))
    probes: list[dict] = []
    with torch.no_grad():
        fused, _ = m(x)
        written, _ = m(x, probes=probes)
    torch.testing.assert_close(written, fused, atol=1e-5, rtol=1e-5)
    assert len(probes) == 2
    for p in probes:
        w = p["attn"]
        assert w.shape == (3, 4, 16, 16) and p["mlp"].shape == (3, 16, 128)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, 16))
        past = torch.ones(16, 16, dtype=torch.bool).tril()  # each character and those before it
        assert torch.all(w[..., ~past] == 0) and torch.all(w[..., past] > 0)


def test_the_attention_weights_are_what_moves_the_output():
    """Weights are not only normalised but the ones used: keys the first head gives no weight
    can change without changing that head's output (a check a wrong mask would fail)."""
    m = tiny_model(positions="learned", layers=1)
    x = torch.randint(0, 11, (1, 16))
    probes: list[dict] = []
    with torch.no_grad():
        m(x, probes=probes)
        blk = m.blocks[0]
        h, _ = m._embed(x)
        q, k, v = blk._split(h, None)
        want = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(probes[0]["attn"] @ v, want, atol=1e-6, rtol=1e-5)


def test_recorded_predictions_are_the_models_log_softmax():
    m = tiny_model()
    ids = np.random.default_rng(0).integers(0, 11, 16)  # one window: every character sees all
    rec = record(m, ids, TOKENS, RecordOptions(top_k=3))
    probes: list[dict] = []
    with torch.no_grad():
        logits, _ = m(torch.from_numpy(ids)[None], probes=probes)
    logp = torch.log_softmax(logits[0], -1).numpy()
    np.testing.assert_allclose(np.log(rec.p_next[:-1]), logp[np.arange(15), ids[1:]], atol=1e-5)
    assert np.isnan(rec.p_next[-1])
    np.testing.assert_array_equal(rec.topk_ids, np.argsort(-logp, axis=1)[:, :3])
    np.testing.assert_allclose(rec.acts["mlp"][1], probes[1]["mlp"][0].numpy(), atol=2e-3)
    full = probes[0]["attn"][0].numpy()  # (heads, 16, 16)
    t = 9
    for h in range(4):
        assert list(rec.attn_pos[0, h, t]) == list(np.argsort(-full[h, t])[:5])
        np.testing.assert_allclose(rec.attn_w[0, h, t], np.sort(full[h, t])[::-1][:5], atol=1e-6)


def test_a_long_text_is_recorded_as_eval_scores_it():
    m = tiny_model()
    ids = np.random.default_rng(1).integers(0, 11, 61)
    rec = record(m, ids, TOKENS)
    total, n = windowed_loss(m, ids)
    assert rec.bits_per_char() == pytest.approx(total / n / np.log(2), rel=1e-5)
    assert rec.acts["mlp"].shape == (2, 61, 128) and rec.hidden == 128
    pos, w = rec.attn_pos, rec.attn_w  # (layers, heads, N, k)
    assert pos.shape == w.shape == (2, 4, 61, 5) and rec.attn_dist.shape == (2, 4)
    t = np.arange(61)[None, None, :, None]
    real = pos >= 0
    # Only earlier characters, within one context; fewer than k only at the text's start.
    assert np.all(pos[real] <= np.broadcast_to(t, pos.shape)[real])
    assert np.all(np.broadcast_to(t, pos.shape)[real] - pos[real] < 16)
    assert np.array_equal(real.sum(-1)[0, 0], np.minimum(np.arange(61) + 1, 5))
    assert np.all(np.diff(w, axis=-1) <= 1e-7) and np.all(w[~real] == 0)
    assert np.all((rec.attn_dist >= 0) & (rec.attn_dist < 16))


def test_stride_one_reads_every_character_with_a_full_context(tmp_path):
    m = tiny_model()
    ids = np.random.default_rng(2).integers(0, 11, 40)
    rec = record(m, ids, TOKENS, RecordOptions(stride=1, out_dir=str(tmp_path / "acts")))
    assert (tmp_path / "acts" / "mlp.npy").exists() and rec.path == tmp_path / "acts"
    for t in (15, 16, 30, 38):
        window = torch.from_numpy(ids[max(0, t - 15) : t + 1])[None]  # t and the 15 before it
        probes: list[dict] = []
        with torch.no_grad():
            logits, _ = m(window, probes=probes)
        p = torch.softmax(logits[0, -1], -1)[ids[t + 1]]
        assert rec.p_next[t] == pytest.approx(float(p), rel=1e-5)
        np.testing.assert_allclose(rec.acts["mlp"][0, t], probes[0]["mlp"][0, -1], atol=2e-3)


def test_a_unit_scan_covers_every_layer_and_unit():
    m = tiny_model()
    text = ('say "hi" (to me)\n' * 12)[:200]
    ids = np.array([ord(c) % 11 for c in text])
    rec = record(m, ids, TOKENS)
    rec.chars = list(text)  # the properties read characters; the model reads ids
    fresh = untrained_like(m)
    assert isinstance(fresh, CharTransformer) and fresh.cfg == m.cfg
    base = record(fresh, ids, TOKENS, RecordOptions(1, ("mlp",)))
    interp = rank_cells(rec, text_properties(rec.chars), RankOptions(), baseline=base)
    assert ranked_quantity(m) == "mlp" and interp.quantity == "mlp"
    assert interp.total_cells == 2 * 128
    names = {p.name for p in interp.properties}
    assert {"in_quotes", "in_parens", "line_position"} <= names
    for p in interp.properties:
        assert all(0 <= c.layer < 2 and 0 <= c.cell < 128 for c in p.best)
        assert not np.isnan(p.null) and not np.isnan(p.untrained)
    payload = viewer_payload(rec, interp)
    assert payload["unit"] == "unit" and len(payload["attn"]["pos"]) == 2 * 4 * 200 * 5


def test_inspect_reports_units_and_attention(tmp_path, short_text, capsys):
    run = tmp_path / "run"
    assert main(["train", str(short_text), "--out", str(run), *TF_FLAGS, "--max-steps", "4"]) == 0
    out = tmp_path / "r.html"
    capsys.readouterr()
    args = ["inspect", str(run), "--text", str(short_text), "--out", str(out)]
    assert main([*args, "--max-chars", "200", "--sample-length", "10"]) == 0
    said = capsys.readouterr().out
    assert "interpretable units:" in said and "of 64" in said  # 1 layer x 4 x 16
    assert re.search(r"attention: .*\n  L0 +[\d.]+ +[\d.]+\n", said)
    page = out.read_text(encoding="utf-8")
    assert 'id="attention"' in page and "1-layer transformer, 16 wide, 2 heads" in page
    data = re.search(r'<script type="application/json" id="cw-data">(.*?)</script>', page, re.S)
    d = json.loads(data.group(1))
    assert d["n"] == 200 and d["attn"]["heads"] == 2 and d["default_quantity"] == "mlp"
    loaded = charwise.load(run)
    assert isinstance(loaded.inspect_model(), CharTransformer) and loaded.inspectable
    assert not loaded.has_network  # no recurrent network: export and dynamic evaluation say so
