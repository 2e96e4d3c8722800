"""Learning-rate schedules: linear warm-up, then cosine decay (default), linear decay, char-rnn's
per-epoch exponential decay, or constant; and the batch-size schedule (`update_groups`).

The cosine and linear decays run over training *progress* in [0, 1], the furthest along of the
active limits (steps / max_steps, seconds / max_time, epochs / epochs). A run stopped by
--max-time therefore still anneals to its minimum at the end of its budget, which is worth ~0.03
nats on a short run.
"""

from __future__ import annotations

import math

from ..config import TrainConfig


def progress(cfg: TrainConfig, step: int, elapsed: float, epoch_float: float) -> float:
    """How far along training is, in [0, 1], by the limit closest to being reached."""
    fracs = []
    if cfg.max_steps:
        fracs.append(step / cfg.max_steps)
    if cfg.max_time:
        fracs.append(elapsed / cfg.max_time)
    if cfg.epochs:
        fracs.append(epoch_float / cfg.epochs)
    return min(1.0, max(fracs)) if fracs else 0.0


# The warm-up ends after `warmup` steps or this fraction of the run, whichever comes first: a
# small text's whole run can be shorter than 50 steps (10 epochs of 5 steps of 96 x 32), and it
# would otherwise train only while the rate rises, never reaching it nor decaying.
WARMUP_MAX_PROGRESS = 0.1


def learning_rate(cfg: TrainConfig, step: int, prog: float, epoch: int) -> float:
    """The learning rate for optimizer step `step` (0-based), `prog` being progress()."""
    if cfg.warmup and step < cfg.warmup:
        ramp = max((step + 1) / cfg.warmup, prog / WARMUP_MAX_PROGRESS)
        if ramp < 1.0:
            return cfg.lr * ramp
    if cfg.schedule == "constant":
        return cfg.lr
    if cfg.schedule == "exp":
        return cfg.lr * cfg.decay_rate ** max(0, epoch - cfg.decay_start + 1)
    floor = cfg.lr * cfg.min_lr_ratio
    if cfg.schedule == "linear":
        return floor + (cfg.lr - floor) * (1.0 - prog)
    return floor + (cfg.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * prog))


def update_groups(cfg: TrainConfig, prog: float) -> int:
    """How many optimizer updates the batch at progress `prog` is cut into (1 = the whole batch,
    the default). With --start-batch S the streams per update grow geometrically from S at the
    start to batch_size B at progress `batch_ramp`: B / groups is S * (B / S) ** (prog / ramp),
    rounded to the nearest whole number of groups."""
    if not cfg.start_batch or cfg.start_batch >= cfg.batch_size or prog >= cfg.batch_ramp:
        return 1
    size = cfg.start_batch * (cfg.batch_size / cfg.start_batch) ** (prog / cfg.batch_ramp)
    return max(1, round(cfg.batch_size / size))
