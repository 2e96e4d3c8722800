"""Dynamic evaluation against static evaluation, side by side in one run: train the default model
(2x512 GRU, the defaults) for --budget seconds on each text (or reuse a run trained before with
--reuse), then report static and dynamic nats/char on the validation and test splits, the settings
tuned on the validation split (`eval --dynamic --tune`), and the speed of the batched method
(--streams shared-weight streams) beside the paper's one-stream method on the same prefix.

    .venv/bin/python bench/dynamic.py                                  # tinyshakespeare, 600 s
    .venv/bin/python bench/dynamic.py --data shared/data/warpeace.txt --reuse --runs /work/runs/x

Goal (issue 16): tinyshakespeare validation <= 1.30 nats/char with dynamic evaluation, at >= 5,000
characters/s on the 2-core CPU. The test split is the honest figure: the settings are tuned on
(a prefix of) the validation split.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import torch

from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.runs.dynamic import dynamic_evaluate
from charwise.runs.load import load
from charwise.training.lifecycle import train
from charwise.use.dynamic import DynamicConfig

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


def train_default(text: Path, out: Path, budget: float, threads: int | None) -> dict:
    cfg = RunConfig(
        model=ModelConfig(vocab_size=1),
        data=DataConfig(sources=(str(text),)),
        train=TrainConfig(max_time=budget, threads=threads),
    )
    t, c = time.perf_counter(), time.process_time()
    train(cfg, out)
    return {"train_wall_s": time.perf_counter() - t, "train_cpu_s": time.process_time() - c}


def run_facts(run) -> dict:
    d = run.describe()
    return {k: d.get(k) for k in ("steps", "epochs", "time_trained_s", "best_val_loss")}


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def bench_one(text: Path, args) -> dict:
    out = Path(args.runs) / text.stem
    rec: dict = {"text": text.name}
    if not (args.reuse and (out / "model.safetensors").exists()):
        rec.update(train_default(text, out, args.budget, args.threads))
    run = load(out)
    rec.update(run_facts(run))
    base = DynamicConfig(streams=args.streams)
    for split in ("val", "test"):
        ids = run.split(split)
        res, s = timed(lambda ids=ids: run.evaluate(ids))
        rec[f"static_{split}"] = res.nats_per_char
        rec[f"static_{split}_chars_per_s"] = res.chars / s
    tuned = dynamic_evaluate(
        run, split="val", cfg=base, tune_on_val=True, tune_chars=args.tune_chars
    )
    cfg = tuned.config
    rec["tuned"] = {k: getattr(cfg, k) for k in ("segment", "lr", "decay", "streams")}
    rec["trials"] = [t.to_dict() for t in tuned.trials]
    rec["tune_s"] = tuned.tune_seconds + tuned.stats_seconds
    rec["dynamic_val"] = tuned.result.nats_per_char
    rec["dynamic_val_chars_per_s"] = tuned.chars_per_s
    test = dynamic_evaluate(run, split="test", cfg=cfg, stats=tuned.stats)
    rec["dynamic_test"] = test.result.nats_per_char
    rec["dynamic_test_chars_per_s"] = test.chars_per_s
    # The paper's one-stream method beside the batched one on the same validation prefix.
    prefix = run.split("val")[: args.speed_chars + 1]
    one = dataclasses.replace(cfg, streams=1, precision="fp32")
    for name, c in (("one_stream_fp32", one), (f"{cfg.streams}_streams", cfg)):
        r = dynamic_evaluate(run, prefix, cfg=c, stats=tuned.stats)
        rec[f"prefix_{name}"] = {"nats": r.result.nats_per_char, "chars_per_s": r.chars_per_s}
    rec["prefix_static"] = run.evaluate(prefix).nats_per_char
    rec["prefix_chars"] = len(prefix) - 1
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", action="append", help="text files (default: tinyshakespeare)")
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training per text")
    ap.add_argument("--runs", default="/work/runs/dynamic", help="where the runs are written")
    ap.add_argument("--reuse", action="store_true", help="reuse runs already trained there")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--streams", type=int, default=DynamicConfig.streams)
    ap.add_argument("--tune-chars", type=int, default=20_000)
    ap.add_argument("--speed-chars", type=int, default=4_000)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    load1 = os.getloadavg()[0]
    for text in args.data or [str(DATA)]:
        rec = bench_one(Path(text), args)
        rec.update(threads=torch.get_num_threads(), machine=machine, load_before=load1)
        rec["load_after"] = os.getloadavg()[0]
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
