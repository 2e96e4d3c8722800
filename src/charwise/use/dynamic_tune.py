"""Choosing dynamic evaluation's settings on held-out text: a small coordinate search.

From the given settings, the learning rate walks by factors of 2 and then the decay by factors of
3, each in whichever direction lowers the loss until it stops falling (at most `MAX_WALK` moves);
then half and double the segment length are tried. About 8-14 scorings of `chars` characters.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..nn.model import CharRNN
from .dynamic import DynamicConfig, GradStats, dynamic_loss_over_ids

MAX_WALK = 4  # moves per direction: lr 16x, decay 81x from the start
START = {"lr": 1e-5, "decay": 1e-3}  # where a walk starts from a setting given as 0
FACTOR = {"lr": 2.0, "decay": 3.0}
MIN_GAIN = 1e-5  # nats/char a move must gain to count (below it is noise)


@dataclass(frozen=True)
class Trial:
    segment: int
    lr: float
    decay: float
    nats_per_char: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def tune(
    model: CharRNN,
    ids: np.ndarray,
    cfg: DynamicConfig,
    stats_for: Callable[[int], GradStats],
    on_trial: Callable[[Trial], None] | None = None,
) -> tuple[DynamicConfig, list[Trial]]:
    """(N,) held-out ids -> (the best settings found, every trial in order). stats_for(segment)
    gives the gradient statistics measured with that segment length."""
    trials: list[Trial] = []
    seen: dict[tuple[int, float, float], float] = {}

    def score(c: DynamicConfig) -> float:
        key = (c.segment, c.lr, c.decay)
        if key not in seen:
            total, n = dynamic_loss_over_ids(model, ids, c, stats_for(c.segment))
            seen[key] = total / n
            trials.append(Trial(c.segment, c.lr, c.decay, seen[key]))
            if on_trial:
                on_trial(trials[-1])
        return seen[key]

    best, best_loss = cfg, score(cfg)
    for name in ("lr", "decay"):
        for direction in (FACTOR[name], 1 / FACTOR[name]):
            moved = False
            for _ in range(MAX_WALK):
                value = getattr(best, name) * direction or START[name]
                if name == "decay":
                    value = min(value, 1.0)
                cand = dataclasses.replace(best, **{name: value})
                loss = score(cand)
                if loss < best_loss - MIN_GAIN:
                    best, best_loss, moved = cand, loss, True
                else:
                    break
            if moved:  # it went up: no need to try down
                break
    for seg in (best.segment // 2, best.segment * 2):
        if seg >= 1:
            cand = dataclasses.replace(best, segment=seg)
            loss = score(cand)
            if loss < best_loss - MIN_GAIN:
                best, best_loss = cand, loss
    return best, trials
