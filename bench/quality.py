"""Quality in a fixed wall-clock budget: train on tinyshakespeare (contiguous 90/10 split, the last
10% as validation) for --budget seconds with charwise's defaults, then report the validation loss
in nats/char over the whole validation text (state carried), next to the machine's fp32 matmul
peak and the training FLOP/s measured in the same run.

    .venv/bin/python bench/quality.py                       # the defaults, 600 s
    .venv/bin/python bench/quality.py --set hidden=384 --set lr=4e-3 --budget 300   # an experiment

Target (issue 2): val loss <= 1.45 nats/char in 600 s on the 2-core CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from charwise.training.lifecycle import train  # noqa: E402
from common import matmul_peak, training_flops_per_char  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def parse_sets(items: list[str]) -> tuple[dict, dict]:
    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    mk, tk = {}, {}
    for item in items:
        k, v = item.split("=", 1)
        val = json.loads(v) if v[:1].isdigit() or v[:1] in "-[{" or v in ("true", "false") else v
        (mk if k in model_fields else tk)[k] = val
        if k not in model_fields and k not in train_fields:
            raise SystemExit(f"unknown setting {k}")
    return mk, tk


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--set", action="append", default=[], help="override a config field, k=v")
    ap.add_argument("--out", help="run directory (default: a temporary one)")
    args = ap.parse_args()
    mk, tk = parse_sets(args.set)
    peak_before = matmul_peak()
    model = ModelConfig(vocab_size=1, **mk)
    tc = TrainConfig(max_time=args.budget, **{"eval_every": 10**9, "sample_every": 10**9, **tk})
    cfg = RunConfig(
        model=model, data=DataConfig(sources=(args.data,), split=(0.9, 0.1, 0.0)), train=tc
    )
    out = Path(args.out or tempfile.mkdtemp(prefix="cw-quality-")) / "run"
    t0 = time.perf_counter()
    res = train(cfg, out)
    wall = time.perf_counter() - t0
    peak_after = matmul_peak()
    log = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "train"]
    cps = sorted(r["chars_per_s"] for r in steps)[len(steps) // 2] if steps else 0.0
    fpc = training_flops_per_char(json.loads((out / "config.json").read_text())["model"])
    peak = max(peak_before, peak_after)
    report = {
        "val_loss_nats": res.best_val_loss,
        "val_bpc": res.best_val_loss / 0.6931471805599453,
        "budget_s": args.budget,
        "steps": res.steps,
        "epochs": round(res.epochs, 3),
        "wall_s": round(wall, 1),
        "median_train_chars_per_s": cps,
        "train_gflops": round(cps * fpc / 1e9, 1),
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "ratio_to_peak": round(cps * fpc / peak, 3),
        "settings": {**mk, **tk},
        "threads": torch.get_num_threads(),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
