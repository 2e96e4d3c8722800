"""Training and sampling speed, as ratios to this machine's limits measured in the same run.

    .venv/bin/python bench/throughput.py            # all figures (a few minutes on 2 cores)
    .venv/bin/python bench/throughput.py --quick    # fewer repetitions

Training: chars/s and achieved FLOP/s of charwise's own training step (Trainer.train_step: forward,
loss, backward, clipping, AdamW) for 2x128, 2x512 and 3x512 LSTMs and the default 2x512 GRU, next
to the fp32 matmul peak (here and below: the best of torch.mm and oneDNN, bench/common.py).
Sampling: chars/s of sampling.generate for 1 stream (against the bound set by reading the
weights once per character at the measured memory bandwidth) and 64 streams (FLOP/s against the
matmul peaks) with the default precision ("auto": bf16 matmuls from 32 streams on, on CPUs with
native bf16) and in fp32, next to the plain loop most tutorials write (one nn.LSTM call per
character). fp32 against bf16 by stream count: bench/sampler_ab.py --crossover.
Targets (issue 2): 2x512 training >= 85% of peak; 1 stream >= 600 chars/s;
64 streams >= 70% of peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from charwise.data.corpus import Corpus  # noqa: E402
from charwise.data.vocab import Vocab  # noqa: E402
from charwise.nn.model import CharRNN  # noqa: E402
from charwise.training.trainer import Trainer  # noqa: E402
from charwise.use.sampling import SampleOptions, generate, matmul_dtype  # noqa: E402
from common import (  # noqa: E402
    matmul_peak,
    matmul_peaks,
    memory_bandwidth,
    sampling_flops_per_char,
    training_flops_per_char,
)

V = 65  # tinyshakespeare's vocabulary size


def synthetic_corpus(n: int = 2_000_000) -> Corpus:
    vocab = Vocab(tuple(range(32, 32 + V)))
    ids = np.random.default_rng(0).integers(0, V, n).astype(np.uint8)
    return Corpus(ids, vocab, ("synthetic",))


def train_speed(layers: int, hidden: int, seconds: float, tc_kw: dict, kind: str = "lstm") -> dict:
    model = ModelConfig(vocab_size=V, kind=kind, layers=layers, hidden=hidden)
    # AdamW unless told: the figure is the network's FLOP/s against the peak. Muon (the RNNs'
    # default) adds Newton-Schulz products outside that FLOP count (RESULTS: 21% more CPU per
    # character on the 2-core Xeon); its wall-clock cost is in the 600 s quality benchmark.
    tc = TrainConfig(max_steps=10**9, device="cpu", **{"optimizer": "adamw", **tc_kw})
    cfg = RunConfig(model=model, data=DataConfig(sources=("synthetic",)), train=tc)
    tr = Trainer(cfg, Path(tempfile.mkdtemp()), synthetic_corpus(), callbacks=None)
    tr.model.train()
    for _ in range(2):  # warm-up: allocator, oneDNN primitive cache
        tr.train_step(1e-3)
        tr.progress.pos += 1
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or steps < 3:
        float(tr.train_step(1e-3))
        tr.progress.pos = (tr.progress.pos + 1) % tr.batches.steps_per_epoch
        steps += 1
    dt = time.perf_counter() - t0
    cps = steps * tc.batch_size * tc.seq_len / dt
    return {
        "model": f"{layers}x{hidden} {kind}",
        "batch": tc.batch_size,
        "seq_len": tc.seq_len,
        "chars_per_s": round(cps),
        "gflops": cps
        * training_flops_per_char(
            {
                "kind": kind,
                "layers": layers,
                "hidden": hidden,
                "embed": model.embed,
                "vocab_size": V,
            }
        )
        / 1e9,
    }


def sample_speed(model: CharRNN, streams: int, seconds: float, precision: str = "auto") -> float:
    vocab = Vocab(tuple(range(32, 32 + V)))
    n = 50
    opts = lambda n: SampleOptions(length=n, num_samples=streams, seed=0, precision=precision)  # noqa: E731
    generate(model, vocab, opts(20))
    while True:
        t0 = time.perf_counter()
        generate(model, vocab, opts(n))
        dt = time.perf_counter() - t0
        if dt > seconds or n > 20000:
            return n * streams / dt
        n *= 4


@torch.inference_mode()
def naive_sample_speed(model: CharRNN, seconds: float) -> float:
    """The tutorial loop: the fused nn.LSTM called once per character, softmax, multinomial."""
    x, state, n, t0 = torch.zeros(1, 1, dtype=torch.long), None, 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        logits, state = model(x, state)
        x = torch.multinomial(torch.softmax(logits[:, -1], -1), 1)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sec = 3.0 if args.quick else 10.0
    tc_kw = {}
    # The peaks: the best of torch.mm and oneDNN (bench/common.py), each library's figure kept.
    peaks = matmul_peaks()
    peaks_bf16 = matmul_peaks(dtype=torch.bfloat16)
    peak, peak_bf16 = max(peaks.values()), max(peaks_bf16.values())
    bw = memory_bandwidth()
    out = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"{torch.get_num_threads()} threads",
        "torch": torch.__version__,
        "matmul_peak_gflops": round(peak / 1e9, 1),
        "matmul_peak_bf16_gflops": round(peak_bf16 / 1e9, 1),
        "matmul_peaks_by_library_gflops": {
            dt: {k: round(v / 1e9, 1) for k, v in p.items()}
            for dt, p in (("fp32", peaks), ("bf16", peaks_bf16))
        },
        "memory_bandwidth_gbs": round(bw / 1e9, 1),
        "train": [],
        "sample": {},
    }
    for (layers, hidden), amp, kind in [
        ((2, 128), True, "lstm"),
        ((2, 512), True, "lstm"),
        ((3, 512), True, "lstm"),
        ((2, 512), False, "lstm"),
        ((2, 512), True, "gru"),  # charwise's default model
    ]:
        r = train_speed(layers, hidden, sec, {**tc_kw, "amp": amp}, kind)
        # charwise trains in bf16 autocast where the CPU has native bf16 (the default): the
        # figure is its FLOP/s against the fp32 peak (the yardstick) and the bf16 peak.
        r["amp"] = amp
        r["ratio_to_peak"] = round(r["gflops"] * 1e9 / peak, 3)
        r["ratio_to_bf16_peak"] = round(r["gflops"] * 1e9 / peak_bf16, 3)
        r["gflops"] = round(r["gflops"], 1)
        out["train"].append(r)
        print(json.dumps(r), file=sys.stderr)
    torch.manual_seed(0)
    m = CharRNN(ModelConfig(vocab_size=V, kind="lstm", layers=2, hidden=512)).eval()
    mcfg = {"kind": "lstm", "layers": 2, "hidden": 512, "embed": m.cfg.embed, "vocab_size": V}
    weight_bytes = 4 * sum(p.numel() for n, p in m.named_parameters() if n != "embed.weight")
    one = sample_speed(m, 1, sec)  # the default: "auto" precision
    one32 = sample_speed(m, 1, sec, "fp32")
    many = sample_speed(m, 64, sec)  # the default: "auto" precision
    many32 = sample_speed(m, 64, sec, "fp32")
    naive = naive_sample_speed(m, sec / 2)
    flops = sampling_flops_per_char(mcfg)
    auto = {
        n: str(matmul_dtype(SampleOptions(num_samples=n), torch.device("cpu"))).removeprefix(
            "torch."
        )
        for n in (1, 64)
    }
    out["sample"] = {
        "model": "2x512",
        "weights_mb": round(weight_bytes / 1e6, 1),
        "default_precision_1_stream": auto[1],
        "default_precision_64_streams": auto[64],
        "one_stream_chars_per_s": round(one),
        "one_stream_fp32_chars_per_s": round(one32),
        "naive_loop_chars_per_s": round(naive),
        "bandwidth_bound_chars_per_s": round(bw / weight_bytes),
        "one_stream_vs_bound": round(one / (bw / weight_bytes), 3),
        "streams64_chars_per_s": round(many),
        "streams64_gflops": round(many * flops / 1e9, 1),
        "streams64_ratio_to_peak": round(many * flops / peak, 3),
        "streams64_ratio_to_bf16_peak": round(many * flops / peak_bf16, 3),
        "streams64_fp32_chars_per_s": round(many32),
        "streams64_fp32_ratio_to_peak": round(many32 * flops / peak, 3),
    }
    # The default model (a 2x512 GRU) at the sampler's default precision.
    g = CharRNN(ModelConfig(vocab_size=V, kind="gru", layers=2, hidden=512)).eval()
    gflops = sampling_flops_per_char({**mcfg, "kind": "gru"})
    g64 = sample_speed(g, 64, sec)
    g64_32 = sample_speed(g, 64, sec, "fp32")
    out["sample_gru"] = {
        "model": "2x512 gru",
        "one_stream_chars_per_s": round(sample_speed(g, 1, sec)),
        "streams64_chars_per_s": round(g64),
        "streams64_ratio_to_peak": round(g64 * gflops / peak, 3),
        "streams64_ratio_to_bf16_peak": round(g64 * gflops / peak_bf16, 3),
        "streams64_fp32_chars_per_s": round(g64_32),
        "streams64_fp32_ratio_to_peak": round(g64_32 * gflops / peak, 3),
    }
    out["matmul_peak_gflops_end"] = round(matmul_peak() / 1e9, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
