"""Time of one AdamW step on the CPU for a 2x512 LSTM's parameters: PyTorch's foreach
implementation (the default) against the fused one that charwise uses, side by side, and the
weight-average (--ema) update next to them. With --muon, one Muon step on the default 2x512 GRU's
four matrices: PyTorch's (Newton-Schulz in bf16) against charwise's Fp32Muon (in fp32), the
choice `--optimizer auto` makes by whether bf16 is native.

    .venv/bin/python bench/optimizer.py [--threads N] [--rounds R] [--muon]
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


def time_it(fn, reps: int = 20, warm: int = 3) -> float:
    for _ in range(warm):  # warm-up: optimizer state allocation
        fn()
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of each variant")
    ap.add_argument("--muon", action="store_true", help="time Muon's two implementations instead")
    args = ap.parse_args()
    if args.muon:
        return muon(args)
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


def muon(args) -> None:
    """One Muon step on the 2x512 GRU's W_ih / W_hh (1536 x 64, 1536 x 512, 1536 x 512 x 2)."""
    from charwise.nn.devices import bf16_native
    from charwise.training.optimizer import Fp32Muon

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = CharRNN(ModelConfig(vocab_size=65))
    mats = [p for n, p in model.named_parameters() if n.startswith("rnn.weight")]
    for p in mats:
        p.grad = torch.randn_like(p)
    kw = {"lr": 1e-4, "weight_decay": 0.4, "adjust_lr_fn": "match_rms_adamw"}
    opts = {"torch_bf16": torch.optim.Muon(mats, **kw), "fp32": Fp32Muon(mats, **kw)}
    ms: dict[str, list[float]] = {k: [] for k in opts}
    for _ in range(args.rounds):
        for name, opt in opts.items():
            ms[name].append(1e3 * time_it(opt.step, reps=3, warm=1))
    med = {k: round(sorted(v)[len(v) // 2], 1) for k, v in ms.items()}
    report = {
        "matrices": [list(p.shape) for p in mats],
        "bf16_native": bf16_native(torch.device("cpu")),
        "ms_per_step": med,
        "torch_bf16_over_fp32": round(med["torch_bf16"] / med["fp32"], 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
