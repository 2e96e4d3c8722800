"""Scoring a loaded run while it adapts to the text it reads. Dynamic evaluation (the method is
use/dynamic.py): `dynamic_evaluate` scores text with adaptation on (optionally tuning the settings
on the run's validation split first), and `adapted_sample` reads a text with adaptation on and
samples in its style. The continuous cache (use/cache.py): `cache_evaluate` scores text with each
prediction mixed with the stream's recent hidden states; `dynamic_evaluate(cache=...)` does both.

Only the `Run` interface is used: `network()` (an n-gram run has no gradient and gets a clear
error) and `split(name)`. The run's weights, in memory and on disk, are never changed: the method
adapts a copy.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CharwiseError
from ..nn.model import CharRNN
from ..use.cache import CacheConfig, cache_streams
from ..use.cache_tune import CacheTrial, tune_cache
from ..use.dynamic import (
    DynamicConfig,
    GradStats,
    adapt_over_ids,
    generate_adapted,
    gradient_stats,
)
from ..use.dynamic_tune import Trial, tune
from ..use.evaluate import EvalResult, loss_over_ids, result_from_nats
from ..use.sampling import SampleOptions
from .load import load
from .run import NoNetworkError, Run

TUNE_CHARS = 30_000  # validation characters each tuning trial scores


@dataclass(frozen=True)
class DynamicResult:
    """The loss with adaptation on, the settings it used and what it cost."""

    result: EvalResult
    config: DynamicConfig  # the settings used (the tuned ones after tuning)
    seconds: float  # scoring time, without the statistics and the tuning
    stats_seconds: float  # estimating the RMS term on the training text
    tune_seconds: float = 0.0
    trials: tuple[Trial, ...] = ()  # the tuning's trials, in order
    stats: GradStats | None = None  # the RMS term used (pass it on to skip measuring it again)
    cache: CacheConfig | None = None  # the continuous cache's settings, when it was used
    cache_trials: tuple[CacheTrial, ...] = ()  # the cache's tuning trials, in order

    @property
    def chars_per_s(self) -> float:
        return self.result.chars / max(self.seconds, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.result.to_dict(),
            "dynamic": dataclasses.asdict(self.config),
            "chars_per_s": self.chars_per_s,
            "seconds": self.seconds,
            "stats_seconds": self.stats_seconds,
            "tune_seconds": self.tune_seconds,
            "trials": [t.to_dict() for t in self.trials],
            "cache": None if self.cache is None else dataclasses.asdict(self.cache),
            "cache_trials": [t.to_dict() for t in self.cache_trials],
        }


@dataclass(frozen=True)
class CacheResult:
    """The loss with the continuous cache, the settings it used and what it cost."""

    result: EvalResult
    cache: CacheConfig  # the settings used (the tuned theta after tuning)
    seconds: float  # scoring time, without the tuning
    tune_seconds: float = 0.0
    trials: tuple[CacheTrial, ...] = ()  # the tuning's trials, in order

    @property
    def chars_per_s(self) -> float:
        return self.result.chars / max(self.seconds, 1e-9)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.result.to_dict(),
            "cache": dataclasses.asdict(self.cache),
            "chars_per_s": self.chars_per_s,
            "seconds": self.seconds,
            "tune_seconds": self.tune_seconds,
            "cache_trials": [t.to_dict() for t in self.trials],
        }


def network_of(run: Run | str | Path, method: str = "dynamic evaluation", why: str = "") -> CharRNN:
    """The run's recurrent network, or a one-line error naming `method` for a kind without
    one (`why`: what the method needs, said before the run's kind)."""
    if not isinstance(run, Run):
        raise CharwiseError(
            f"{method} takes a loaded run (charwise.load(path)) or its path, not "
            f"{type(run).__name__}"
        )
    try:
        return run.network()
    except NoNetworkError:
        # An n-gram has nothing to step; a transformer has gradients but no state to carry
        # the text from one segment to the next, which dynamic evaluation's pieces rely on.
        if why:
            why = f"{why}, and this is {run.label}"
        elif run.inspectable:
            why = (
                "is written for recurrent networks (their state carries the text across "
                f"segments), and this is {run.label}"
            )
        else:
            why = (
                f"takes gradient steps, and this is {run.label}, which has no gradient (its "
                "model is counts)"
            )
        raise CharwiseError(f"{method} {why}; use a trained RNN run") from None


def tuning_text(run: Run, chars: int) -> np.ndarray:
    """The first `chars` characters of the run's validation split, as (chars+1,) ids: what the
    tunings read."""
    val = run.split("val")[: chars + 1]
    if len(val) < 2:
        raise CharwiseError("the run has no validation text to tune on (its val split is empty)")
    return val


def _loaded(run: Run | str | Path) -> Run:
    return load(run) if isinstance(run, (str, os.PathLike)) else run


class _Stats:
    """Gradient statistics on the run's training text, measured once per segment length."""

    def __init__(self, run: Run, net: CharRNN, cfg: DynamicConfig, fallback=None):
        self.run, self.net, self.cfg, self.fallback = run, net, cfg, fallback
        self.cache: dict[int, GradStats] = {}
        self.seconds = 0.0
        self._ids: np.ndarray | None = None

    def ids(self) -> np.ndarray:
        if self._ids is None:
            try:
                self._ids = self.run.split("train")
            except CharwiseError as e:
                if self.fallback is None:
                    raise CharwiseError(
                        "dynamic evaluation measures its step sizes on the run's training text, "
                        f"which cannot be read: {e}"
                    ) from None
                self._ids = self.fallback
        return self._ids

    def __call__(self, segment: int) -> GradStats:
        if segment not in self.cache:
            t = time.perf_counter()
            cfg = dataclasses.replace(self.cfg, segment=segment)
            self.cache[segment] = gradient_stats(self.net, self.ids(), cfg)
            self.seconds += time.perf_counter() - t
        return self.cache[segment]


def dynamic_evaluate(
    run: Run | str | Path,
    ids: np.ndarray | None = None,
    *,
    files: str | Path | list[str | Path] | None = None,
    split: str | None = None,
    cfg: DynamicConfig | None = None,
    tune_on_val: bool = False,
    tune_chars: int = TUNE_CHARS,
    on_trial: Callable[[Trial], None] | None = None,
    stats: GradStats | None = None,
    cache: CacheConfig | None = None,
    on_cache_trial: Callable[[CacheTrial], None] | None = None,
) -> DynamicResult:
    """The run's loss with dynamic evaluation over one of: (N,) ids, text files, or its own
    split ("val", "test"). With tune_on_val the settings are first chosen on the first
    `tune_chars` characters of the validation split (use/dynamic_tune.py). `stats`: a previous
    result's statistics, reused when measured with the same segment length and model. With
    `cache` the scored predictions are also mixed with a continuous cache; with tune_on_val its
    theta is then chosen on the same validation text, with the trained weights (each method is
    tuned on its own, which is cheaper than tuning them together)."""
    cfg = cfg or DynamicConfig()
    run = _loaded(run)
    net = network_of(run)
    ids, unknown, desc = _text(run, ids, files, split, "dynamic_evaluate")
    measure = _Stats(run, net, cfg)
    if stats is not None:
        measure.cache[stats.segment] = stats
    trials: list[Trial] = []
    cache_trials: list[CacheTrial] = []
    tune_s = 0.0
    if tune_on_val:
        t = time.perf_counter()
        val = tuning_text(run, tune_chars)
        cfg, trials = tune(net, val, cfg, measure, on_trial)
        if cache is not None:
            cache, cache_trials = tune_cache(net, val, cache, on_cache_trial)
        tune_s = time.perf_counter() - t - measure.seconds
    used = measure(cfg.segment)
    t = time.perf_counter()
    total, n, _ = adapt_over_ids(net, ids, cfg, used, cache=cache)
    seconds = time.perf_counter() - t
    return DynamicResult(
        result_from_nats(total, n, unknown, desc),
        cfg,
        seconds,
        measure.seconds,
        tune_s,
        tuple(trials),
        used,
        cache,
        tuple(cache_trials),
    )


def _text(
    run: Run, ids: np.ndarray | None, files, split: str | None, what: str
) -> tuple[np.ndarray, int, str]:
    """The text to score, from exactly one of ids, files or split: ((N,) ids, characters left
    out as outside the vocabulary, which ones)."""
    if sum(x is not None for x in (ids, files, split)) != 1:
        raise CharwiseError("give one of ids, files or split to evaluate on")
    unknown, desc = 0, ""
    if files is not None:
        ids, unknown, desc = run.read_files(files)
    elif split is not None:
        ids = run.split(split)
    ids = np.asarray(ids).reshape(-1)
    if ids.size and ids.dtype.kind not in "iu":
        raise CharwiseError(f"{what}() takes integer character ids, not {ids.dtype}")
    return ids, unknown, desc


def cache_evaluate(
    run: Run | str | Path,
    ids: np.ndarray | None = None,
    *,
    files: str | Path | list[str | Path] | None = None,
    split: str | None = None,
    cache: CacheConfig | None = None,
    tune_on_val: bool = False,
    tune_chars: int = TUNE_CHARS,
    on_trial: Callable[[CacheTrial], None] | None = None,
) -> CacheResult:
    """The run's loss with the continuous cache (no gradient steps) over one of: (N,) ids, text
    files, or its own split. With tune_on_val its theta is first chosen on the first
    `tune_chars` characters of the validation split (use/cache_tune.py)."""
    run = _loaded(run)
    net = network_of(run, "the continuous cache", "reads an RNN's hidden states")
    ids, unknown, desc = _text(run, ids, files, split, "cache_evaluate")
    cache = cache or CacheConfig()
    trials: list[CacheTrial] = []
    tune_s = 0.0
    if tune_on_val:
        t = time.perf_counter()
        cache, trials = tune_cache(net, tuning_text(run, tune_chars), cache, on_trial)
        tune_s = time.perf_counter() - t
    t = time.perf_counter()
    total, n = loss_over_ids(net, ids, streams=cache_streams(len(ids), cache), cache=cache)
    return CacheResult(
        result_from_nats(total, n, unknown, desc),
        cache,
        time.perf_counter() - t,
        tune_s,
        tuple(trials),
    )


def adapted_sample(
    run: Run | str | Path,
    files: str | Path | list[str | Path],
    opts: SampleOptions,
    cfg: DynamicConfig | None = None,
    on_text: Callable[[int, str], None] | None = None,
) -> list[str]:
    """Read text files with adaptation on, then sample opts.num_samples texts from the adapted
    weights, continuing the text (and opts.prime after it). The step sizes are measured on the
    run's training text, or on the files themselves when that text is not at hand (a shared run
    folder without its text)."""
    cfg = cfg or DynamicConfig()
    run = _loaded(run)
    net = network_of(run)
    ids, _, _ = run.read_files(files)
    stats = _Stats(run, net, cfg, fallback=ids)
    _, _, ad = adapt_over_ids(net, ids, cfg, stats(cfg.segment), update_last=True)
    return generate_adapted(ad, ids, run.vocab, opts, on_text, cfg.context)
