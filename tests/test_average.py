"""Weight averaging (--ema): the update rule, and what training validates and saves."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from charwise import load
from charwise.config import ModelConfig
from charwise.data.corpus import load_corpus, split_ids
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN
from charwise.training.average import WeightAverage
from charwise.training.lifecycle import train
from charwise.use.evaluate import loss_over_ids


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_update_follows_the_warmed_up_ema_rule():
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=7, hidden=8, embed=4))
    avg = WeightAverage(model, decay=0.9)
    expected = _params(model)  # the average starts as a copy of the model
    for n in range(100):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        d = min(0.9, (1 + n) / (10 + n))  # warm-up: near a plain mean early, then 0.9
        expected = [d * e + (1 - d) * p for e, p in zip(expected, _params(model), strict=True)]
        avg.update(model)
    assert avg.updates == 100 and avg.current_decay() == 0.9
    for e, a in zip(expected, avg.model.parameters(), strict=True):
        torch.testing.assert_close(a, e)
    # The average is a separate copy: it neither trains nor shares storage with the model.
    assert not any(p.requires_grad for p in avg.model.parameters())
    assert not torch.equal(next(avg.model.parameters()), next(model.parameters()))


def test_training_with_ema_saves_and_validates_the_average(tmp_path, small_text, make_config):
    cfg = make_config([small_text], max_steps=12, ema=0.8, eval_every=12, lr=1e-2)
    res = train(cfg, tmp_path / "r")
    state = load_file(str(tmp_path / "r" / "state.safetensors"))
    best = load_file(str(tmp_path / "r" / "model.safetensors"))
    # model.safetensors holds the average, not the last raw weights (which differ from it).
    assert all(torch.equal(best[k], state[f"average.{k}"]) for k in best)
    assert not all(torch.equal(best[k], state[f"model.{k}"]) for k in best)
    # The reported validation loss is the saved average's: evaluating the file reproduces it.
    run = load(tmp_path / "r")
    val = [json.loads(ln) for ln in (tmp_path / "r" / "log.jsonl").read_text().splitlines()]
    val = [r for r in val if r["event"] == "val"]
    assert val[-1]["val_loss"] == pytest.approx(res.best_val_loss)
    ids = split_ids(load_corpus(cfg.data).ids, cfg.data.split).val
    total, n = loss_over_ids(run.model, ids)
    assert total / n == pytest.approx(res.best_val_loss, rel=1e-6)


def test_ema_must_be_below_one(make_config, small_text):
    with pytest.raises(CharwiseError, match="^ema must be in"):
        make_config([small_text], ema=1.0)
