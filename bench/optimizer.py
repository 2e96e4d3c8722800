"""Time of one AdamW step on the CPU for a 2x512 LSTM's parameters: PyTorch's foreach
implementation (the default) against the fused one that charwise uses, side by side, and the
weight-average (--ema) update next to them.

    .venv/bin/python bench/optimizer.py [--threads N] [--rounds R]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from charwise.config import ModelConfig
from charwise.nn.model import CharRNN
from charwise.training.average import WeightAverage


def time_it(fn, reps: int = 20) -> float:
    for _ in range(3):  # warm-up: optimizer state allocation
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of each variant")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=65, kind="lstm"))
    for p in model.parameters():
        p.grad = torch.randn_like(p)
    opts = {
        name: torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.99), fused=fused)
        for name, fused in (("foreach", None), ("fused", True))
    }
    avg = WeightAverage(model, 0.998)
    ms: dict[str, list[float]] = {"foreach": [], "fused": [], "ema_update": []}
    for _ in range(args.rounds):
        for name, opt in opts.items():
            ms[name].append(1e3 * time_it(opt.step))
        ms["ema_update"].append(1e3 * time_it(lambda: avg.update(model)))
    report = {
        "params": model.num_params,
        "threads": args.threads,
        "ms_per_step": {k: round(sorted(v)[len(v) // 2], 2) for k, v in ms.items()},
        "foreach_over_fused": round(
            sorted(ms["foreach"])[args.rounds // 2] / sorted(ms["fused"])[args.rounds // 2], 1
        ),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
