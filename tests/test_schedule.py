"""Learning-rate schedules and training progress."""

from __future__ import annotations

import pytest

from charwise.config import TrainConfig
from charwise.training.schedule import learning_rate, progress


def _lr(schedule: str, step: int, prog: float, epoch: int = 0, **kw) -> float:
    cfg = TrainConfig(lr=1.0, warmup=10, min_lr_ratio=0.1, schedule=schedule, **kw)
    return learning_rate(cfg, step, prog, epoch)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "exp", "constant"])
def test_warmup_is_linear_for_every_schedule(schedule):
    assert [_lr(schedule, s, 0.0) for s in (0, 4, 9)] == pytest.approx([0.1, 0.5, 1.0])


def test_cosine_and_linear_decay_from_peak_to_floor():
    for schedule in ("cosine", "linear"):
        assert _lr(schedule, 10, 0.0) == pytest.approx(1.0)
        assert _lr(schedule, 10, 1.0) == pytest.approx(0.1)
    # Halfway both are at the mean of peak and floor; at a quarter the cosine is still higher.
    assert _lr("cosine", 10, 0.5) == pytest.approx(0.55)
    assert _lr("linear", 10, 0.5) == pytest.approx(0.55)
    assert _lr("linear", 10, 0.25) == pytest.approx(0.1 + 0.9 * 0.75)
    assert _lr("cosine", 10, 0.25) > _lr("linear", 10, 0.25)


def test_exp_decays_per_epoch_after_decay_start_and_constant_stays():
    kw = {"decay_rate": 0.5, "decay_start": 2}
    assert [_lr("exp", 10, 0.9, epoch=e, **kw) for e in (0, 1, 2, 3)] == pytest.approx(
        [1.0, 1.0, 0.5, 0.25]
    )
    assert _lr("constant", 10, 0.9) == 1.0


def test_progress_follows_the_limit_closest_to_its_end():
    cfg = TrainConfig(max_steps=100, max_time=60.0, epochs=None)
    assert progress(cfg, step=25, elapsed=30.0, epoch_float=0.0) == pytest.approx(0.5)
    assert progress(cfg, step=80, elapsed=30.0, epoch_float=0.0) == pytest.approx(0.8)
    assert progress(cfg, step=500, elapsed=0.0, epoch_float=0.0) == 1.0
    assert progress(TrainConfig(epochs=4.0), 0, 0.0, epoch_float=1.0) == pytest.approx(0.25)


def test_warmup_ends_by_a_tenth_of_the_run_on_a_short_run():
    # A small text's whole run (say 10 epochs of 5 steps) can be shorter than the warm-up: the
    # ramp then also follows progress, and reaches the peak at 10% of the run.
    assert _lr("cosine", 1, 0.05) == pytest.approx(0.5)  # 5% of the run: half the peak
    assert _lr("constant", 2, 0.1) == 1.0  # a tenth of the run, step 3 of a 10-step warm-up
    assert _lr("cosine", 3, 0.5) == pytest.approx(0.55)  # past it: the decay, not the ramp
    assert _lr("cosine", 3, 0.001) == pytest.approx(0.4)  # a long run: the step ramp rules
