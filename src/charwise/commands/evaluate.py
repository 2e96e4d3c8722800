"""`charwise eval RUN_DIR FILE...`: bits and nats per character and perplexity over any text;
with --dynamic, adapting to the text while reading it, and with --cache, mixing each prediction
with a continuous cache of the text just read (runs/dynamic.py); an n-gram run's --cache is its
counts of the text just read (ngram/cache.py)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

from ..errors import CharwiseError
from ..fields import option
from ..ngram.cache import NGramCacheConfig, cache_loss_over_ids, tune_cache
from ..runs.dynamic import (
    TUNE_CHARS,
    DynamicResult,
    cache_evaluate,
    dynamic_evaluate,
    tuning_text,
)
from ..runs.load import load
from ..runs.run import SPLITS, Run
from ..use.cache import CacheConfig
from ..use.cache_tune import CacheTrial
from ..use.dynamic import DynamicConfig
from ..use.dynamic_tune import Trial
from ..use.evaluate import EvalResult, result_from_nats
from ._options import add_options, build, collect
from .flags import flag


@dataclass(frozen=True)
class EvalCommand:
    split: str | None = option(None, choices=SPLITS)  # the run's own split instead of files
    json: bool = False  # print one JSON object
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N, mps or auto
    dynamic: bool = False  # adapt to the text while reading it (dynamic evaluation, Krause 2018)
    tune: bool = False  # first choose --dynamic's and --cache's settings on the val split
    tune_chars: int = option(TUNE_CHARS, ge=2)  # validation characters each tuning trial reads
    cache: bool = False  # mix each prediction with a cache of the text just read (Grave 2017)


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="bits per character of a run on any text",
        description="Evaluate a run: loss over text, with the hidden state carried.",
    )
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*", help="text files (or use --split)")
    add_options(p, EvalCommand)
    add_options(p.add_argument_group("dynamic evaluation (with --dynamic)"), DynamicConfig)
    add_options(p.add_argument_group("continuous cache (with --cache)"), CacheConfig)
    add_options(
        p.add_argument_group("an n-gram run's cache (with --cache; also --cache-lambda)"),
        NGramCacheConfig,
        skip={"cache_lambda"},
    )
    p.set_defaults(func=run)


def run(args) -> int:
    """Print the run's loss over the files, or over its own --split."""
    cmd = build(args, EvalCommand)
    r = load(args.run_dir, device=cmd.device)
    if bool(args.files) == bool(cmd.split):
        which = "not both" if args.files else "one of them"
        raise CharwiseError(f"give text files to evaluate on or --split val|test|train, {which}")
    given = collect(args, DynamicConfig)
    cached = collect(args, CacheConfig)
    ngram_cached = collect(args, NGramCacheConfig, skip={"cache_lambda"})
    if (cached or ngram_cached) and not cmd.cache:
        names = ", ".join(flag(k) for k in [*cached, *ngram_cached])
        raise CharwiseError(f"{names} set the continuous cache: add {flag('cache')}")
    if ngram_cached and r.count_model() is None:
        raise CharwiseError(f"{flag('cache_order')} sets an n-gram run's cache; this is a network")
    cache = CacheConfig(**cached) if cmd.cache else None
    if not cmd.dynamic:
        if given:
            extra = ", ".join(flag(k) for k in given)
            raise CharwiseError(f"{extra} set dynamic evaluation: add {flag('dynamic')}")
        tuning = [flag(k) for k in ("tune", "tune_chars") if k in collect(args, EvalCommand)]
        if tuning and cache is None:
            raise CharwiseError(
                f"{', '.join(tuning)}: nothing to tune (the settings chosen are dynamic "
                f"evaluation's or the cache's): add {flag('dynamic')} or {flag('cache')}"
            )
    else:
        return _dynamic(r, cmd, DynamicConfig(**given), args.files, cache)
    speed, extra = "", {}
    if cache is not None and r.count_model() is not None:
        network_only = [flag(k) for k in cached if k != "cache_lambda"]
        if network_only:
            raise CharwiseError(
                f"{', '.join(network_only)} set a network's cache; an n-gram run's cache takes "
                f"{flag('cache_order')} and {flag('cache_lambda')}"
            )
        ng = NGramCacheConfig(**ngram_cached, **cached)  # cached: --cache-lambda at most
        res, cps, extra = _ngram_cache(r, cmd, args.files, ng)
        speed = f"\nspeed       {cps:,.0f} characters/s (with the text read counted)"
    elif cache is not None:
        cr = cache_evaluate(
            r,
            files=args.files or None,
            split=cmd.split,
            cache=cache,
            tune_on_val=cmd.tune,
            tune_chars=cmd.tune_chars,
            on_trial=_cache_trial_printer(cmd),
        )
        res = cr.result
        if cmd.tune and not cmd.json:
            print(_chosen_theta(cr.cache, cr.tune_seconds))
        speed = f"\nspeed       {cr.chars_per_s:,.0f} characters/s (with the cache)"
        extra = {k: v for k, v in cr.to_dict().items() if k not in res.to_dict()}
    elif cmd.split:
        res = r.evaluate(r.split(cmd.split))
    else:
        res = r.evaluate_files(args.files)
    if cmd.json:
        print(json.dumps({**res.to_dict(), **extra}))
        return 0
    print(
        f"bits/char   {res.bits_per_char:.4f}\nnats/char   {res.nats_per_char:.4f}\n"
        f"perplexity  {res.perplexity:.3f}\ncharacters  {res.chars:,}{speed}"
    )
    if res.unknown_chars:
        print(f"skipped     {res.unknown_chars:,} characters outside the vocabulary: {res.unknown}")
    return 0


def _ngram_cache(
    r: Run, cmd: EvalCommand, files: list[str], cfg: NGramCacheConfig
) -> tuple[EvalResult, float, dict]:
    """An n-gram run scored with its counts of the text read (ngram/cache.py), the order and
    weight first chosen on the val split with --tune: (result, chars/s, what JSON adds)."""
    tune_s = 0.0
    if cmd.tune:
        t = time.perf_counter()
        cfg, grid = tune_cache(r.count_model(), tuning_text(r, cmd.tune_chars))
        tune_s = time.perf_counter() - t
        if not cmd.json:
            for (order, lam), nats in grid.items():
                print(f"tune        cache order {order} lambda {lam:g}: {nats:.4f} nats/char")
            print(
                f"chosen      {flag('cache_order')} {cfg.cache_order} {flag('cache_lambda')} "
                f"{cfg.cache_lambda:g} ({tune_s:.0f} s)"
            )
    unknown, desc = 0, ""
    if files:
        ids, unknown, desc = r.read_files(files)
    else:
        ids = r.split(cmd.split)
    t = time.perf_counter()
    total, n = cache_loss_over_ids(r.count_model(), ids, cfg)
    seconds = time.perf_counter() - t
    cps = n / max(seconds, 1e-9)
    extra = {
        "cache": dataclasses.asdict(cfg),
        "chars_per_s": cps,
        "seconds": seconds,
        "tune_seconds": tune_s,
    }
    return result_from_nats(total, n, unknown, desc), cps, extra


def _cache_trial_printer(cmd: EvalCommand):
    def on_trial(t: CacheTrial) -> None:
        if not cmd.json:
            print(f"tune        cache theta {t.cache_theta:.3g}: {t.nats_per_char:.4f} nats/char")

    return on_trial


def _chosen_theta(cache: CacheConfig, seconds: float | None = None) -> str:
    took = "" if seconds is None else f" ({seconds:.0f} s)"
    return f"chosen      {flag('cache_theta')} {cache.cache_theta:.3g}{took}"


def _dynamic(
    r, cmd: EvalCommand, cfg: DynamicConfig, files: list[str], cache: CacheConfig | None
) -> int:
    def on_trial(t: Trial) -> None:
        if not cmd.json:
            print(
                f"tune        segment {t.segment} lr {t.lr:.3g} decay {t.decay:.3g}: "
                f"{t.nats_per_char:.4f} nats/char",
                flush=True,
            )

    dr: DynamicResult = dynamic_evaluate(
        r,
        files=files or None,
        split=cmd.split,
        cfg=cfg,
        tune_on_val=cmd.tune,
        tune_chars=cmd.tune_chars,
        on_trial=on_trial,
        cache=cache,
        on_cache_trial=_cache_trial_printer(cmd),
    )
    if cmd.json:
        print(json.dumps(dr.to_dict()))
        return 0
    res, c = dr.result, dr.config
    if cmd.tune:
        print(
            f"chosen      {flag('segment')} {c.segment} {flag('lr')} {c.lr:.3g} "
            f"{flag('decay')} {c.decay:.3g} ({dr.tune_seconds:.0f} s)"
        )
        if dr.cache is not None:
            print(_chosen_theta(dr.cache))
    print(
        f"bits/char   {res.bits_per_char:.4f}\nnats/char   {res.nats_per_char:.4f}\n"
        f"perplexity  {res.perplexity:.3f}\ncharacters  {res.chars:,}\n"
        f"speed       {dr.chars_per_s:,.0f} characters/s ({c.streams} streams, segments of "
        f"{c.segment}{'; with the cache' if cache else ''}; statistics {dr.stats_seconds:.1f} s)"
    )
    if res.unknown_chars:
        print(f"skipped     {res.unknown_chars:,} characters outside the vocabulary: {res.unknown}")
    return 0
