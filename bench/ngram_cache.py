"""The dynamic n-gram (ngram/cache.py) beside the static one, on the paper's split: the baseline a
network scored with its continuous cache (`charwise eval --cache`) should be compared with.

    .venv/bin/python bench/ngram_cache.py --data ../shared/data/linux_kernel_sample.txt
    .venv/bin/python bench/ngram_cache.py --data ../shared/data/warpeace.txt --order 20
    .venv/bin/python bench/ngram_cache.py --data ../shared/data/linux_kernel_sample.txt \
        --orders 30,50,80     # is the search's largest order a plateau?

Counts the n-gram on the train split (80/10/10 over 100 rows, as the paper and `charwise
experiment paper-table`), chooses the read-text model's order and weight on the first
--tune-chars characters of the validation split, then scores the whole test split statically and
with the read-text counts (one stream from the start of the split). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from charwise.config import DataConfig
from charwise.ngram import NGramConfig, train_ngram
from charwise.ngram.cache import mixed_nats, read_probs, static_probs, tune_cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--order", type=int, default=20, help="the static n-gram's order")
    ap.add_argument("--tune-chars", type=int, default=200_000)
    ap.add_argument(
        "--orders",
        default="3,5,8,12,20,30",
        help="the read-text orders the tuning tries, comma-separated (default: tune_cache's)",
    )
    args = ap.parse_args()
    rec: dict = {
        "data": args.data,
        "order": args.order,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    t = time.perf_counter()
    data = DataConfig(sources=(args.data,), split=(0.8, 0.1, 0.1), split_rows=100)
    res = train_ngram(data, NGramConfig(order=args.order))
    rec["count_seconds"] = round(time.perf_counter() - t, 1)
    t = time.perf_counter()
    orders = tuple(int(o) for o in args.orders.split(","))
    cfg, grid = tune_cache(res.model, res.val[: args.tune_chars + 1], orders=orders)
    rec["tune_seconds"] = round(time.perf_counter() - t, 1)
    rec["tuned"] = {"order": cfg.cache_order, "lam": cfg.cache_lambda}
    rec["grid"] = {f"{o},{lam}": round(v, 5) for (o, lam), v in grid.items()}
    t = time.perf_counter()
    static = static_probs(res.model, res.test)
    n = len(static)
    rec["test_chars"] = n
    rec["test_static"] = float(-np.log(static).sum()) / n
    read = read_probs(res.test, cfg.cache_order, res.model.vocab.size)
    rec["test_dynamic"] = mixed_nats(static, read, cfg.cache_lambda) / n
    rec["score_seconds"] = round(time.perf_counter() - t, 1)
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
