"""Evaluation: loss over any text with the state carried, checked against a hand computation
through model.forward; characters outside the vocabulary; the `eval --json` contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charwise.cli import main
from charwise.config import ModelConfig
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN
from charwise.runs.load import evaluate, evaluate_text, load
from charwise.use.evaluate import loss_over_ids


def _model(vocab_size=12):
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=vocab_size, layers=2, hidden=16, embed=8)).eval()


def _hand_nats(model, ids: np.ndarray, pieces: int, context: int = 0) -> float:
    """Sum of -log p over targets 1..N-1: the text cut into `pieces` contiguous pieces, each read
    by one forward pass from a zero state that starts `context` characters early (those
    characters read, their predictions not counted)."""
    n = len(ids) - 1
    size = -(-n // pieces)
    total = 0.0
    with torch.no_grad():
        for a in range(0, n, size):
            b = min(a + size, n)
            r = max(0, a - context)
            x = torch.as_tensor(ids[r:b], dtype=torch.long)[None]
            y = torch.as_tensor(ids[a + 1 : b + 1], dtype=torch.long)
            logits, _ = model(x)
            total += F.cross_entropy(logits[0, a - r :].double(), y, reduction="sum").item()
    return total


@pytest.mark.parametrize("window", [5, 16, 256])
def test_short_text_equals_one_forward_pass(window):
    m = _model()
    ids = np.random.default_rng(0).integers(0, 12, size=50)
    total, n = loss_over_ids(m, ids, window=window)
    assert n == 49
    # Under 64 characters it is one piece: the state is carried across every window.
    assert total == pytest.approx(_hand_nats(m, ids, 1), rel=1e-5)


@pytest.mark.parametrize("context", [0, 10, 300])
def test_long_text_is_cut_into_pieces_with_burn_in_and_the_state_carried(context):
    m = _model()
    ids = np.random.default_rng(1).integers(0, 12, size=301)
    total, n = loss_over_ids(m, ids, streams=4, window=16, context=context)
    assert n == 300
    assert total == pytest.approx(_hand_nats(m, ids, 4, context), rel=1e-5)
    # Carrying the state matters: resetting every window would give another number.
    reset = sum(_hand_nats(m, ids[a : a + 17], 1) for a in range(0, 300, 16))
    assert abs(total - reset) > 1e-3
    if context >= n:  # every piece reads from the text's start: the same as one pass
        assert total == pytest.approx(_hand_nats(m, ids, 1), rel=1e-5)


def test_model_mode_is_restored():
    m = _model().train()
    loss_over_ids(m, np.arange(20) % 12)
    assert m.training


def test_eval_result_on_a_file_matches_the_hand_computation(tmp_path, overfit_run):
    run = load(overfit_run[0])
    text = "the dog sat; the cat ran far.\n"
    f = tmp_path / "t.txt"
    f.write_text(text, encoding="utf-8")
    res = evaluate_text(run, [f])
    nats = _hand_nats(run.model, run.vocab.encode(text), 1) / (len(text) - 1)
    assert res.chars == len(text) - 1 and res.unknown_chars == 0
    assert res.nats_per_char == pytest.approx(nats, rel=1e-5)
    assert res.bits_per_char == pytest.approx(nats / math.log(2), rel=1e-5)
    assert res.perplexity == pytest.approx(math.exp(nats), rel=1e-5)


def test_characters_outside_the_vocabulary_are_counted(tmp_path, overfit_run):
    run = load(overfit_run[0])
    f = tmp_path / "t.txt"
    f.write_text("the ΩcatZ sat; Ω\n", encoding="utf-8")
    res = evaluate_text(run, [f])
    assert res.unknown_chars == 3
    assert "'Ω'" in res.unknown and "'Z'" in res.unknown
    kept = "the cat sat; \n"
    assert res.chars == len(kept) - 1
    nats = _hand_nats(run.model, run.vocab.encode(kept), 1) / (len(kept) - 1)
    assert res.nats_per_char == pytest.approx(nats, rel=1e-5)


def test_text_with_no_character_in_the_vocabulary_names_them(tmp_path, overfit_run):
    run = load(overfit_run[0])
    f = tmp_path / "t.txt"
    f.write_text("XΩXZ", encoding="utf-8")
    with pytest.raises(CharwiseError) as e:
        evaluate_text(run, [f])
    msg = str(e.value)
    assert msg.startswith("no character of the text is in the model's vocabulary: ")
    assert "'X' (U+0058)" in msg and "'Ω' (U+03A9)" in msg and "'Z' (U+005A)" in msg
    f.write_text("XΩtZ", encoding="utf-8")  # one known character: too short, and why
    with pytest.raises(CharwiseError, match=r"only 1 of its characters .* 'X' \(U\+0058\)"):
        evaluate_text(run, [f])


def test_too_short_text_is_a_clear_error(overfit_run):
    run = load(overfit_run[0])
    with pytest.raises(CharwiseError, match="at least 2 characters"):
        evaluate(run, run.vocab.encode("t"))


def test_eval_json_output(tmp_path, overfit_run, capsys):
    f = tmp_path / "t.txt"
    f.write_text("the cat sat; the dog ran far.\nΩ", encoding="utf-8")
    assert main(["eval", str(overfit_run[0]), str(f), "--json"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    d = json.loads(out[0])
    assert {"bits_per_char", "nats_per_char", "perplexity", "chars"} <= set(d)
    assert d["chars"] == 29 and d["unknown_chars"] == 1
    assert d["bits_per_char"] == pytest.approx(d["nats_per_char"] / math.log(2))
    # The memorised text is nearly certain.
    assert d["bits_per_char"] < 0.5


def test_eval_plain_output_and_split(overfit_run, capsys):
    # The overfit run trained on everything: its val split is empty, its train split is the text.
    assert main(["eval", str(overfit_run[0]), "--split", "train"]) == 0
    out = capsys.readouterr().out
    assert "bits/char" in out and "perplexity" in out and "characters  29" in out
