"""RNN or attention for this text and this compute? The default RNN and the default transformer,
each trained for the same wall-clock budget on tinyshakespeare (contiguous 90/10 split, as
bench/quality.py), one after the other in one run, then scored on the whole validation text the
way `charwise eval` scores them (the RNN with its state carried, the transformer by sliding
windows of its context moved half a context at a time).

    .venv/bin/python bench/transformer.py                         # 600 s each
    .venv/bin/python bench/transformer.py --budget 60 --only transformer --set lr=1e-3
    .venv/bin/python bench/transformer.py --sample RUN_DIR RUN_DIR   # sampling speed, alternated

Prints one JSON object per model as it finishes, then a table. Figures from one run only: the
machine is shared, so the two rows are compared side by side, never across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from charwise.runs.load import load  # noqa: E402
from charwise.training.lifecycle import train  # noqa: E402
from quality import DATA, parse_sets  # noqa: E402

MODELS = {"rnn": {}, "transformer": {"kind": "transformer"}}


def one(name: str, data: Path, budget: float, sets: list[str], out: Path) -> dict:
    """Train model `name` with the defaults (plus --set) for `budget` s; its figures."""
    mk, tk = parse_sets(sets)
    model = ModelConfig(vocab_size=1, **{**MODELS[name], **mk})
    tc = TrainConfig(max_time=budget, **{"eval_every": 10**9, "sample_every": 10**9, **tk})
    cfg = RunConfig(model, DataConfig(sources=(str(data),), split=(0.9, 0.1, 0.0)), tc)
    run_dir = out / name
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    res = train(cfg, run_dir)
    wall = time.perf_counter() - t0
    log = [json.loads(ln) for ln in (run_dir / "log.jsonl").read_text().splitlines()]
    rates = sorted(r["chars_per_s"] for r in log if r["event"] == "train")
    run = load(run_dir)
    # The run's final validation: the whole validation text scored as `charwise eval` does.
    val = res.best_val_loss if res.best_val_loss is not None else math.nan  # nan: interrupted
    return {
        "model": name,
        "describe": run.describe()["headline"],
        "params": run.model.num_params,
        "steps": res.steps,
        "epochs": round(res.epochs, 3),
        "train_s": round(res.elapsed, 1),
        "wall_s": round(wall, 1),
        "median_chars_per_s": round(rates[len(rates) // 2]) if rates else 0,
        "chars_seen": run.describe().get("chars_seen"),
        "val_nats_per_char": round(val, 4),
        "val_bits_per_char": round(val / math.log(2), 4),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "stopped": res.stopped,
        "settings": {**MODELS[name], **mk, **tk},
        "run_dir": str(run_dir),
    }


def sampling_speed(run_dirs: list[str], seconds: float = 10.0, rounds: int = 3) -> None:
    """Sampling chars/s of each run at 1 and 64 streams (default precision), the runs alternated
    in rounds so that each sees the same machine; the best round of each is printed."""
    runs = [load(d) for d in run_dirs]
    best: dict[tuple[str, int], float] = {}
    for _ in range(rounds):
        for d, run in zip(run_dirs, runs, strict=True):
            for streams in (1, 64):
                n, t0 = 0, time.perf_counter()
                while time.perf_counter() - t0 < seconds / 2:
                    run.sample(500, num_samples=streams, seed=n)
                    n += 1
                cps = n * 500 * streams / (time.perf_counter() - t0)
                best[(d, streams)] = max(best.get((d, streams), 0.0), cps)
    for (d, streams), cps in best.items():
        print(json.dumps({"run": d, "streams": streams, "sample_chars_per_s": round(cps)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=600.0, help="seconds of training each")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--only", choices=sorted(MODELS), help="train this model only")
    ap.add_argument("--set", action="append", default=[], help="override a field, k=v")
    ap.add_argument("--out", default="/work/runs/transformer/bench", help="runs go here")
    ap.add_argument("--sample", nargs="+", metavar="RUN_DIR", help="time sampling of runs")
    args = ap.parse_args()
    if args.sample:
        return sampling_speed(args.sample)
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "budget_s": args.budget,
                "data": args.data,
                "out": str(out),
            }
        ),
        flush=True,
    )
    rows = []
    for name in [args.only] if args.only else list(MODELS):
        rows.append(one(name, Path(args.data), args.budget, args.set, out))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'model':12} {'params':>10} {'steps':>6} {'chars/s':>8} {'val nats/char':>14}")
    for r in rows:
        print(
            f"{r['model']:12} {r['params']:>10,} {r['steps']:>6} {r['median_chars_per_s']:>8,} "
            f"{r['val_nats_per_char']:>14.4f}"
        )


if __name__ == "__main__":
    main()
