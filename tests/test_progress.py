"""A run's counters: steps wrap into epochs, each limit stops the run, the counters round-trip
through the state file's record."""

from __future__ import annotations

import math

import pytest

from charwise.config import TrainConfig
from charwise.training.progress import Progress


def test_steps_wrap_into_epochs():
    p = Progress(steps_per_epoch=3)
    for _ in range(4):
        p.advance()
    assert (p.step, p.epoch, p.pos) == (4, 1, 1)
    assert p.epoch_float == pytest.approx(1 + 1 / 3)


def test_each_limit_stops_the_run():
    p = Progress(steps_per_epoch=4, step=6, epoch=1, pos=2, elapsed=9.0)
    assert p.stop_reason(TrainConfig(max_steps=7)) is None
    assert p.stop_reason(TrainConfig(max_steps=6)) == "max_steps"
    assert p.stop_reason(TrainConfig(epochs=1.5)) == "epochs"
    assert p.stop_reason(TrainConfig(epochs=2.0)) is None
    assert p.stop_reason(TrainConfig(max_time=9.0)) == "max_time"
    assert p.finished_reason(TrainConfig(max_steps=99, patience=2)) is None
    p.bad_evals = 2
    assert p.finished_reason(TrainConfig(max_steps=99, patience=2)) == "patience"
    # The step a step or epoch limit ends the run at, whichever comes first.
    assert p.total_steps(TrainConfig(max_steps=20, epochs=2.5)) == 10
    assert p.total_steps(TrainConfig(max_time=60.0)) is None


def test_the_record_restores_every_counter():
    p = Progress(steps_per_epoch=5, step=12, epoch=2, pos=2, elapsed=3.5, best=1.25, bad_evals=1)
    rec = p.record()
    assert rec["epochs_trained"] == 2.4 and rec["best_val_loss"] == 1.25
    q = Progress(steps_per_epoch=5)
    q.restore(rec)
    assert q == p
    fresh = Progress(steps_per_epoch=5)
    assert fresh.record()["best_val_loss"] is None  # strict JSON: no infinity
    again = Progress(steps_per_epoch=5)
    again.restore(fresh.record())
    assert math.isinf(again.best)
