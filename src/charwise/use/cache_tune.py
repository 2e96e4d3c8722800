"""Choosing the continuous cache's sharpness on held-out text, as Grave et al. chose theta on
validation data: theta walks by factors of 2 from the given value, in whichever direction lowers
the loss, until it stops falling (at most MAX_WALK moves). Each trial scores the held-out ids with
the cache (no gradient steps); about 3-6 trials.

Why theta needs it: the scores are theta * (h . h_i) / H, and the scale of a top layer's h
depends on the cell. The default (25) was chosen on GRU states; an LSTM's h = o * tanh(c) is
smaller, so the same theta spreads the cache's attention flatter (bench/RESULTS.md: the default
cache gained 0.0005 nats/char on a 3x512 LSTM where it gained 0.020 on a 3x512 GRU).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..nn.model import CharRNN
from .cache import CacheConfig, cache_streams
from .evaluate import loss_over_ids

MAX_WALK = 4  # moves per direction: theta 16x either way
FACTOR = 2.0
MIN_GAIN = 1e-5  # nats/char a move must gain to count (below it is noise)


@dataclass(frozen=True)
class CacheTrial:
    cache_theta: float
    nats_per_char: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def tune_cache(
    model: CharRNN,
    ids: np.ndarray,
    cfg: CacheConfig,
    on_trial: Callable[[CacheTrial], None] | None = None,
) -> tuple[CacheConfig, list[CacheTrial]]:
    """(N,) held-out ids -> (the settings with the best theta found, every trial in order)."""
    trials: list[CacheTrial] = []

    def score(c: CacheConfig) -> float:
        total, n = loss_over_ids(model, ids, streams=cache_streams(len(ids), c), cache=c)
        trials.append(CacheTrial(c.cache_theta, total / n))
        if on_trial:
            on_trial(trials[-1])
        return trials[-1].nats_per_char

    best, best_loss = cfg, score(cfg)
    for direction in (FACTOR, 1 / FACTOR):
        moved = False
        for _ in range(MAX_WALK):
            cand = dataclasses.replace(best, cache_theta=best.cache_theta * direction)
            loss = score(cand)
            if loss >= best_loss - MIN_GAIN:
                break
            best, best_loss, moved = cand, loss, True
        if moved:  # it went up: no need to try down
            break
    return best, trials
