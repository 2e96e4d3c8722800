"""Shared measurements for the benchmarks: the machine's matmul peak and memory bandwidth,
measured in the same run as the figure they are compared with, and FLOP counts per character."""

from __future__ import annotations

import time

import torch

GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def matmul_peaks(n: int = 2048, seconds: float = 2.0, dtype=torch.float32) -> dict[str, float]:
    """Best FLOP/s of an n x n x n matmul over ~`seconds` (best-of, so noise only lowers it), by
    each CPU library PyTorch offers: torch.mm (MKL for fp32 on x86) and oneDNN's linear with a
    pre-packed weight (where this PyTorch has it). On the 2-core Zen4 oneDNN ran fp32 at
    ~225 GFLOP/s where MKL ran at ~190, so a peak from torch.mm alone would flatter every ratio."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    c = torch.empty(n, n, dtype=dtype)
    runs = {"torch.mm": lambda: torch.mm(a, b, out=c)}
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(b.t().contiguous())
        linear = torch.ops.mkldnn._linear_pointwise
        runs["onednn"] = lambda: linear(a, packed, None, "none", [], "")
        runs["onednn"]()
    except (RuntimeError, AttributeError, NotImplementedError):
        runs.pop("onednn", None)
    best = dict.fromkeys(runs, 0.0)
    for f in runs.values():
        f()
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        for name, f in runs.items():  # alternated, so both see the same machine state
            t = time.perf_counter()
            f()
            best[name] = max(best[name], 2 * n**3 / (time.perf_counter() - t))
    return best


def matmul_peak(n: int = 2048, seconds: float = 2.0, dtype=torch.float32) -> float:
    """The machine's measured matmul peak: the best of matmul_peaks' libraries."""
    return max(matmul_peaks(n, seconds, dtype).values())


def memory_bandwidth(mb: int = 256, seconds: float = 1.0) -> float:
    """Best bytes/s of reading + writing a large fp32 buffer (a copy counts 2x its size)."""
    a = torch.empty(mb * 2**20 // 4)
    a.uniform_()
    b = torch.empty_like(a)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        b.copy_(a)
        best = max(best, 2 * a.numel() * 4 / (time.perf_counter() - t))
    return best


def forward_macs_per_char(model: dict) -> int:
    """Multiply-adds per character of one forward pass (embedding lookups are free)."""
    g, h, v = GATES[model["kind"]], model["hidden"], model["vocab_size"]
    macs, inp = 0, model["embed"]
    for _ in range(model["layers"]):
        macs += g * h * (inp + h)
        inp = h
    return macs + h * v


def training_flops_per_char(model: dict) -> int:
    """Forward (2 FLOPs per MAC) plus backward (twice the forward): 6 FLOPs per MAC."""
    return 6 * forward_macs_per_char(model)


def sampling_flops_per_char(model: dict) -> int:
    """One step of the sampler: layer 0's input term is a table lookup, the rest are matmuls."""
    g, h, e = GATES[model["kind"]], model["hidden"], model["embed"]
    return 2 * (forward_macs_per_char(model) - g * h * e)
