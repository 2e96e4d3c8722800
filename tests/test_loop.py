"""The training loop: overfitting, what is logged when, determinism, and the rules that stop a
run (steps, epochs, time, patience)."""

from __future__ import annotations

import math
import os
import signal

import pytest

from charwise.runs.load import load
from charwise.training.events import Callbacks
from charwise.training.lifecycle import resume, train
from conftest import SHORT_TEXT, read_records, read_samples


def test_tiny_model_overfits_a_30_character_text(overfit_run):
    run_dir, text = overfit_run
    assert len(text) == 30
    losses = [r["loss"] for r in read_records(run_dir)]
    assert losses[0] > 2.0  # ~ln(16) at the start
    assert losses[-1] < 0.1
    for r in read_records(run_dir):
        assert math.isclose(r["bpc"], r["loss"] / math.log(2))


def test_log_records_every_figure(tmp_path, short_text, make_config):
    cfg = make_config([short_text], max_steps=4, eval_every=2, sample_every=2)
    res = train(cfg, tmp_path / "r")
    assert res.steps == 4 and res.stopped == "max_steps"
    rec = read_records(tmp_path / "r")[0]
    assert {"step", "epoch", "loss", "bpc", "lr", "grad_norm", "chars_per_s", "elapsed"} <= set(rec)
    # The gradient norm (before clipping), averaged over each log window.
    norms = [r["grad_norm"] for r in read_records(tmp_path / "r")]
    assert all(n > 0 and math.isfinite(n) for n in norms)
    vals = read_records(tmp_path / "r", "val")
    assert [v["step"] for v in vals] == [2, 4]
    assert {"val_loss", "val_bpc", "best_val_loss"} <= set(vals[0])
    assert [s["step"] for s in read_samples(tmp_path / "r")] == [2, 4]
    assert res.best_val_loss == min(v["val_loss"] for v in vals)
    assert load(tmp_path / "r").info["val_loss"] == res.best_val_loss


def test_an_interrupted_run_logs_its_partial_window(tmp_path, short_text, make_config):
    # Ctrl-C mid-window (after the sample at step 5, with --log-every 4): the loss of step 5 is
    # logged as a window of one step, not lost; the resumed run logs its windows from there.
    class InterruptAtSample(Callbacks):
        def on_sample(self, rec) -> None:
            if rec["step"] == 5:
                os.kill(os.getpid(), signal.SIGINT)

    cfg = make_config([short_text], max_steps=12, log_every=4, sample_every=5)
    assert train(cfg, tmp_path / "r", callbacks=InterruptAtSample()).steps == 5
    assert [r["step"] for r in read_records(tmp_path / "r")] == [4, 5]
    resume(tmp_path / "r")
    assert [r["step"] for r in read_records(tmp_path / "r")] == [4, 5, 8, 12]


def test_same_seed_same_losses_and_samples(tmp_path, short_text, make_config):
    cfg = make_config([short_text], model={"dropout": 0.2}, max_steps=8, sample_every=4)
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    la, lb = read_records(tmp_path / "a"), read_records(tmp_path / "b")
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    sa, sb = read_samples(tmp_path / "a"), read_samples(tmp_path / "b")
    assert len(sa) == 2 and [s["text"] for s in sa] == [s["text"] for s in sb]
    # The seed matters.
    train(
        make_config([short_text], model={"dropout": 0.2}, max_steps=8, sample_every=4, seed=1),
        tmp_path / "c",
    )
    assert [r["loss"] for r in read_records(tmp_path / "c")] != [r["loss"] for r in la]


def never_improving(make_config, short_text):
    """A run whose validation loss never improves: an update of 1e-30 cannot change float32
    weights. Patience 2 stops it after 3 validations."""
    return make_config(
        [short_text],
        optimizer="sgd",
        lr=1e-30,
        warmup=0,
        schedule="constant",
        eval_every=1,
        patience=2,
        max_steps=50,
    )


def test_patience_stops_when_validation_stops_improving(tmp_path, short_text, make_config):
    cfg = never_improving(make_config, short_text)
    res = train(cfg, tmp_path / "r")
    assert res.stopped == "patience"
    assert res.steps == 3  # the first evaluation sets the best, two more fail to beat it
    vals = read_records(tmp_path / "r", "val")
    assert len(vals) == 3 and len({v["val_loss"] for v in vals}) == 1


def test_epochs_limit(tmp_path, short_text, make_config):
    res = train(make_config([short_text], max_steps=None, epochs=2), tmp_path / "r")
    assert res.stopped == "epochs"
    per_epoch = (round(len(SHORT_TEXT) * 0.9) // 4 - 1) // 8  # 4 streams of 8-step windows
    assert res.steps == 2 * per_epoch and res.epochs == pytest.approx(2.0)
    assert read_records(tmp_path / "r")[per_epoch - 1]["epoch"] == pytest.approx(1.0)


def test_time_limit(tmp_path, short_text, make_config):
    res = train(make_config([short_text], max_steps=None, max_time=1e-6), tmp_path / "r")
    assert res.stopped == "max_time" and res.steps == 1


def test_resuming_a_finished_run_trains_and_logs_nothing(tmp_path, short_text, make_config):
    cfg = make_config([short_text], max_steps=None, epochs=1.5, eval_every=1000, sample_every=1000)
    first = train(cfg, tmp_path / "r")
    names = ("log.jsonl", "samples.jsonl", "config.json")
    files = {n: (tmp_path / "r" / n).read_bytes() for n in names}
    state = (tmp_path / "r" / "state.safetensors").stat().st_mtime_ns
    res = resume(tmp_path / "r", overrides={"lr": 1e-4})  # nothing trains: nothing is recorded
    assert res.already_finished and res.stopped == "epochs" and res.steps == first.steps
    assert res.best_val_loss == first.best_val_loss
    assert {n: (tmp_path / "r" / n).read_bytes() for n in files} == files
    assert (tmp_path / "r" / "state.safetensors").stat().st_mtime_ns == state
    # Raising the limit goes on training as before.
    more = resume(tmp_path / "r", overrides={"epochs": 2.0})
    assert not more.already_finished and more.steps > first.steps


def test_resuming_a_run_stopped_by_patience_does_nothing(tmp_path, short_text, make_config):
    cfg = never_improving(make_config, short_text)
    assert train(cfg, tmp_path / "r").stopped == "patience"
    n = len(read_records(tmp_path / "r", "val"))
    res = resume(tmp_path / "r")
    assert res.already_finished and res.stopped == "patience"
    assert len(read_records(tmp_path / "r", "val")) == n
