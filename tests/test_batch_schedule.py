"""The batch-size schedule (--start-batch, --batch-ramp): early batches are cut into groups of
streams, one optimizer update per group, each group carrying its own streams' state; the
groups shrink in number geometrically until the whole batch is one update."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from charwise.config import TrainConfig
from charwise.data.corpus import load_corpus
from charwise.training.events import Callbacks
from charwise.training.lifecycle import train
from charwise.training.schedule import update_groups
from charwise.training.state import load_train_state
from charwise.training.trainer import Trainer
from conftest import read_records


def test_groups_shrink_geometrically_to_one_update_per_batch():
    cfg = TrainConfig(batch_size=96, start_batch=24, batch_ramp=0.3)
    assert update_groups(cfg, 0.0) == 4  # 24 streams per update
    assert update_groups(cfg, 0.15) == 2  # halfway up the ramp, geometrically: 48
    assert update_groups(cfg, 0.3) == 1 and update_groups(cfg, 0.9) == 1
    grid = [update_groups(cfg, p / 100) for p in range(101)]
    assert grid == sorted(grid, reverse=True)
    assert update_groups(TrainConfig(batch_size=96), 0.0) == 1  # no schedule: whole batches


def _trainer(tmp_path, text, **train):
    from conftest import tiny_config

    cfg = tiny_config([text], amp=False, **train)
    corpus = load_corpus(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    return Trainer(cfg, tmp_path, corpus, Callbacks())


def test_groups_keep_each_streams_state_and_the_batch_loss(tmp_path, short_text):
    # lr 0: the weights stay put, so grouped and whole steps must see the same data and states.
    whole, grouped = _trainer(tmp_path / "a", short_text), _trainer(tmp_path / "b", short_text)
    grouped.model.load_state_dict(whole.model.state_dict())
    for pos in range(2):  # the second step reads the state the first one carried
        whole.progress.pos = grouped.progress.pos = pos
        a = whole.train_step(0.0)
        b = grouped.train_step(0.0, groups=2)
        assert float(b) == pytest.approx(float(a), abs=1e-6)
        for s, t in zip(whole.hidden, grouped.hidden, strict=True):
            assert s.shape == t.shape == (2, 4, 32)
            torch.testing.assert_close(s, t, atol=1e-6, rtol=0)


def test_each_group_is_its_own_optimizer_update(tmp_path, short_text):
    # AdamW: its state counts the updates ("step"); Muon's momentum buffer does not.
    whole = _trainer(tmp_path / "a", short_text, optimizer="adamw")
    grouped = _trainer(tmp_path / "b", short_text, optimizer="adamw")
    grouped.model.load_state_dict(whole.model.state_dict())
    whole.train_step(1e-2)
    grouped.train_step(1e-2, groups=4)  # 4 streams: one per update
    steps = {float(s["step"]) for s in grouped.opt.state.values()}
    assert steps == {4.0}
    assert {float(s["step"]) for s in whole.opt.state.values()} == {1.0}
    w1, w4 = whole.model.head.weight, grouped.model.head.weight
    assert (w1 - w4).abs().max() > 1e-3  # four updates moved the weights differently


def test_a_run_takes_the_scheduled_updates_and_saves_them(tmp_path, short_text, make_config):
    cfg = make_config([short_text], start_batch=1, batch_ramp=0.5, max_steps=8)
    result = train(cfg, tmp_path / "run", callbacks=Callbacks())
    assert result.steps == 8
    # Progress before step s of 8 is s / 8: 4, 3, 2 updates a batch while the ramp lasts, then 1.
    expected = sum(update_groups(cfg.train, s / 8) for s in range(8))
    assert expected > 8
    tensors, _ = load_train_state(tmp_path / "run")
    adam_steps = {float(v) for k, v in tensors.items() if k.endswith(".step")}
    assert adam_steps == {float(expected)}
    losses = [r["loss"] for r in read_records(tmp_path / "run")]
    assert len(losses) == 8 and all(math.isfinite(v) for v in losses)
