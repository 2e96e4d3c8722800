"""The Trainer: the step carries the hidden state from batch to batch, and a run that diverges
stops with a DivergedError that states what happened and what its directory keeps."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from charwise.data.corpus import load_corpus
from charwise.runs.format import read_vocab
from charwise.runs.load import load
from charwise.training.errors import DivergedError
from charwise.training.events import Callbacks
from charwise.training.lifecycle import resume, train
from charwise.training.trainer import Trainer
from conftest import poison_after, read_records


def test_trainer_carries_the_hidden_state_between_batches(tmp_path, short_text, make_config):
    # amp off: the step's loss is compared with an fp32 forward pass to 1e-5.
    cfg = make_config([short_text], amp=False)
    corpus = load_corpus(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    tr = Trainer(cfg, tmp_path, corpus, Callbacks())
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    # lr 0: the weights do not move, so the losses depend only on the data and the state.
    tr.train_step(0.0)
    tr.progress.pos = 1
    second = tr.train_step(0.0).item()
    assert all(torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    (x0, _), (x1, y1) = tr.batches.batch(0), tr.batches.batch(1)
    tr.model.eval()  # no dropout in this config either way
    with torch.no_grad():
        logits, _ = tr.model(torch.cat([x0, x1], 1))
        carried = F.cross_entropy(logits[:, 8:].reshape(-1, logits.shape[-1]), y1.reshape(-1))
        fresh = F.cross_entropy(tr.model(x1)[0].reshape(-1, logits.shape[-1]), y1.reshape(-1))
    assert second == pytest.approx(carried.item(), abs=1e-5)
    assert abs(second - fresh.item()) > 1e-4  # a reset state would give this instead


def test_the_step_leaves_its_gradient_norm_before_clipping(tmp_path, short_text, make_config):
    cfg = make_config([short_text], grad_clip=1e-3, amp=False)
    corpus = load_corpus(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    tr = Trainer(cfg, tmp_path, corpus, Callbacks())
    tr.train_step(1e-3)
    # Clipped to 1e-3, the gradients would report 1e-3; the norm logged is the one before.
    assert tr.grad_norm.dim() == 0 and float(tr.grad_norm) > 1e-2


def test_exploding_loss_stops_with_the_facts(tmp_path, short_text, make_config):
    cfg = make_config(
        [short_text],
        optimizer="sgd",
        lr=1e4,
        grad_clip=0.0,
        warmup=0,
        schedule="constant",
        max_steps=40,
    )
    with pytest.raises(DivergedError) as e:
        train(cfg, tmp_path / "r")
    err = e.value
    assert err.loss is not None and not err.loss <= cfg.train.max_loss  # over it, or NaN
    assert (err.lr, err.max_loss, err.run_dir) == (1e4, cfg.train.max_loss, tmp_path / "r")
    assert str(err).startswith(f"training diverged at step {err.step} (loss ")
    # The library states facts; which command to type next is the CLI's to say.
    assert "charwise train" not in str(err) and "--" not in str(err)
    # Before any checkpoint exists, the error does not claim one.
    with pytest.raises(DivergedError) as e:
        train(make_config([short_text], max_loss=0.5), tmp_path / "r2")
    err = e.value
    assert err.step == 1 and math.isfinite(err.loss) and err.loss > 0.5 and err.max_loss == 0.5
    assert err.saved == "nothing" and "nothing was saved" in str(err)
    assert err.vocab_size == read_vocab(tmp_path / "r2").size


def test_nan_keeps_the_last_good_checkpoint(tmp_path, short_text, make_config, monkeypatch):
    poison_after(monkeypatch, 3)  # after the 4th update the weights turn to NaN
    cfg = make_config([short_text], eval_every=2, max_steps=20)
    with pytest.raises(DivergedError) as e:
        train(cfg, tmp_path / "r")
    assert e.value.step == 5 and math.isnan(e.value.loss) and e.value.saved == "best"
    run = load(tmp_path / "r")
    # The NaN evaluation at step 4 did not replace the best model of step 2.
    assert run.info["step"] == 2
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_weights_gone_bad_are_never_saved_so_the_state_resumes(
    tmp_path, short_text, make_config, monkeypatch
):
    # log_every 3: the NaN weights of step 4 reach the save at step 4 before any loss check;
    # the save refuses them, so the state of step 2 stays good, and resuming it works.
    poison_after(monkeypatch, 3)
    cfg = make_config([short_text], save_every=2, log_every=3, max_steps=8)
    with pytest.raises(DivergedError) as e:
        train(cfg, tmp_path / "r")
    assert (e.value.step, e.value.loss, e.value.saved) == (4, None, "state")
    assert str(e.value).startswith("training diverged by step 4 (the weights are not finite)")
    monkeypatch.undo()
    res = resume(tmp_path / "r", overrides={"lr": 3e-4})
    assert res.steps == 8 and res.stopped == "max_steps"


def test_a_divergence_with_only_the_best_weights_can_fine_tune_from_them(
    tmp_path, short_text, make_config, monkeypatch
):
    poison_after(monkeypatch, 3)
    cfg = make_config([short_text], eval_every=2, max_steps=8)
    with pytest.raises(DivergedError) as e:
        train(cfg, tmp_path / "r")
    assert e.value.saved == "best" and e.value.save_every == cfg.train.save_every
    assert "no resumable state was saved yet" in str(e.value)
    monkeypatch.undo()
    assert train(cfg, tmp_path / "new", init_from=tmp_path / "r").steps == 8


def test_a_divergence_before_any_save_leaves_the_folder_reusable(tmp_path, short_text, make_config):
    # A finite loss over a max_loss below where the text's loss starts.
    with pytest.raises(DivergedError) as e:
        train(make_config([short_text], max_loss=0.5, max_steps=3), tmp_path / "r")
    assert e.value.saved == "nothing" and math.isfinite(e.value.loss)
    res = train(make_config([short_text], max_steps=3), tmp_path / "r")
    assert res.steps == 3
    # The failed attempt's records are gone: only this run's steps are logged.
    assert [r["step"] for r in read_records(tmp_path / "r")] == [1, 2, 3]
