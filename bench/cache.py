"""The continuous cache (Grave et al. 2017; use/cache.py) beside static and dynamic evaluation,
side by side in one run on one trained model: static, static + the paper's cache (fixed weight),
static + the cache with its learnt gate (the default), the same with its theta tuned on the
run's validation split (`eval --cache --tune`), dynamic evaluation, dynamic + the cache.

    .venv/bin/python bench/cache.py RUN [--split val] [--chars N] [--size M] [--theta T]
    .venv/bin/python bench/cache.py RUN --split test --rows static,cache_gated,cache_tuned
    .venv/bin/python bench/cache.py RUN --split val --skip 30000 --rows cache_gated,cache_tuned

RUN: a trained RNN run, e.g. the default 2x512 GRU after 600 s (`bench/ablations.py --only
default`). Prints one JSON line: nats/char and chars/s of each row, the machine and the load.
Goal (issue 16): tinyshakespeare validation <= 1.30 nats/char at >= 5,000 characters/s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time

import torch

from charwise.runs.dynamic import cache_evaluate, dynamic_evaluate
from charwise.runs.load import load
from charwise.use.cache import CacheConfig
from charwise.use.dynamic import DynamicConfig

ROWS = ("static", "cache_fixed", "cache_gated", "cache_tuned", "dynamic", "dynamic_cache_gated")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--split", default="val")
    ap.add_argument("--chars", type=int, default=0, help="score only this prefix (0: all)")
    ap.add_argument("--size", type=int, default=CacheConfig.cache_size)
    ap.add_argument("--theta", type=float, default=CacheConfig.cache_theta)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--rows", default=",".join(ROWS), help="comma-separated, of: " + ", ".join(ROWS)
    )
    ap.add_argument(
        "--skip",
        type=int,
        default=0,
        help="score the split after its first N characters (with --split val: the part that "
        "tuning, which reads the first 30,000, does not)",
    )
    args = ap.parse_args()
    rows = args.rows.split(",")
    if not set(rows) <= set(ROWS):
        raise SystemExit(f"--rows: unknown {sorted(set(rows) - set(ROWS))}")
    if args.threads:
        torch.set_num_threads(args.threads)
    run = load(args.run)
    ids = run.split(args.split)[args.skip :]
    if args.chars:
        ids = ids[: args.chars + 1]
    gated = CacheConfig(cache_size=args.size, cache_theta=args.theta)
    fixed = dataclasses.replace(gated, cache_gate_lr=0.0)
    rec: dict = {"run": args.run, "split": args.split, "chars": len(ids) - 1}
    load1 = os.getloadavg()[0]

    if "static" in rows:
        t = time.perf_counter()
        res = run.evaluate(ids)
        rec["static"] = {
            "nats": res.nats_per_char,
            "chars_per_s": res.chars / (time.perf_counter() - t),
        }
    for name, c in (("cache_fixed", fixed), ("cache_gated", gated)):
        if name in rows:
            cr = cache_evaluate(run, ids, cache=c)
            rec[name] = {"nats": cr.result.nats_per_char, "chars_per_s": cr.chars_per_s}
    if "cache_tuned" in rows:
        cr = cache_evaluate(run, ids, cache=gated, tune_on_val=True)
        rec["cache_tuned"] = {
            "nats": cr.result.nats_per_char,
            "chars_per_s": cr.chars_per_s,
            "theta": cr.cache.cache_theta,
            "tune_seconds": cr.tune_seconds,
            "trials": [t.to_dict() for t in cr.trials],
        }
    stats = None
    for name, c in (("dynamic", None), ("dynamic_cache_gated", gated)):
        if name in rows:
            dr = dynamic_evaluate(run, ids, cfg=DynamicConfig(), stats=stats, cache=c)
            stats = dr.stats
            rec[name] = {"nats": dr.result.nats_per_char, "chars_per_s": dr.chars_per_s}
    rec["cache"] = dataclasses.asdict(gated)
    rec.update(
        threads=torch.get_num_threads(),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        load_before=load1,
        load_after=os.getloadavg()[0],
    )
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
