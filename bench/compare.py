"""The paper's comparison (Karpathy, Johnson, Fei-Fei 2015, "Visualizing and Understanding Recurrent
Networks"): character n-grams vs an LSTM on War and Peace and the Linux kernel, 80/10/10 split.

    .venv/bin/python bench/compare.py                        # both corpora, LSTM 300 s each
    .venv/bin/python bench/compare.py --corpus warpeace --budget 600 --orders 5,10,20

Prints one table per corpus (bits and nats per character on val and test) and the n-gram
counting's time and peak memory, and writes everything as JSON to --json (default
bench/compare.json). The paper reports test cross-entropy in nats per character: War and Peace
LSTM 1.077 vs 20-gram 1.195, Linux LSTM 0.84 vs 20-gram 0.889.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import torch

from charwise.config import DataConfig
from charwise.experiments.compare import CompareConfig, ngram_rows, rnn_row
from charwise.use.evaluate import LN2

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPORA = {"warpeace": "warpeace.txt", "linux": "linux_kernel_sample.txt"}
PAPER = {"warpeace": {"LSTM": 1.077, "20-gram": 1.195}, "linux": {"LSTM": 0.84, "20-gram": 0.889}}


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def run_corpus(name: str, args) -> list[dict]:
    data = DataConfig(sources=(str(DATA / CORPORA[name]),), split=(0.8, 0.1, 0.1))
    cfg = CompareConfig(
        orders=tuple(int(o) for o in args.orders.split(",") if o),
        models=("lstm",),
        budget=max(args.budget, 1.0),
        layers=args.layers,
        hidden=args.hidden,
        device="cpu",
        sample_length=300,
        temperature=0.8,
    )
    rows = []
    for order in cfg.orders:  # one at a time, so the peak memory is each order's own
        t0 = time.perf_counter()
        (row,) = ngram_rows(data, CompareConfig(orders=(order,), models=(), sample_length=300))
        d = row.to_dict()
        d["extra"] = {
            "wall_seconds_incl_eval": round(time.perf_counter() - t0, 1),
            "peak_rss_gb_so_far": round(peak_rss_gb(), 2),
        }
        rows.append(d)
        print(
            f"{name}: {row.model} counted in {row.train_seconds:.1f} s, test "
            f"{row.test_bpc:.4f} bits/char, peak RSS {peak_rss_gb():.2f} GB",
            flush=True,
        )
    if args.budget > 0:
        out = Path(args.runs) / name / "lstm"
        row = rnn_row(data, "lstm", cfg, out)
        rows.append(row.to_dict())
        print(
            f"{name}: {row.model} trained {row.train_seconds:.0f} s, test {row.test_bpc:.4f} "
            f"bits/char",
            flush=True,
        )
    return rows


def table(name: str, rows: list[dict]) -> str:
    lines = [
        f"### {name}",
        "",
        "| model | size | train s | val bpc | test bpc | test nats/char |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        size = f"{r['size']:,} {r['size_unit']}"
        lines.append(
            f"| {r['model']} | {size} | {r['train_seconds']:.1f} | {r['val_bpc']:.4f} | "
            f"{r['test_bpc']:.4f} | {r['test_bpc'] * LN2:.4f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", choices=[*CORPORA, "all"], default="all")
    ap.add_argument("--orders", default="1,3,5,7,10,15,20")
    ap.add_argument("--budget", type=float, default=300.0, help="LSTM training seconds (0: none)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1: robust on a machine shared with other jobs)",
    )
    ap.add_argument("--runs", default="/tmp/charwise-bench-compare", help="where the LSTM runs go")
    ap.add_argument("--json", default=str(Path(__file__).parent / "compare.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names = list(CORPORA) if args.corpus == "all" else [args.corpus]
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch_threads": torch.get_num_threads(),
        "command": " ".join(sys.argv),
        "paper_test_nats": PAPER,
        "corpora": {},
    }
    for name in names:
        result["corpora"][name] = run_corpus(name, args)
        print(table(name, result["corpora"][name]), flush=True)
    Path(args.json).write_text(json.dumps(result, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
