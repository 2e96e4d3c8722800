"""One GPU: training chars/s and achieved FLOP/s against the card's matmul peak measured in the
same run, and sampling chars/s with many streams.

    python bench/gpu.py                    # needs a CUDA GPU; prints one line and exits 0 without
    python bench/gpu.py --json out.json    # also write the figures as JSON
    python bench/gpu.py --smoke            # run every code path on the CPU with tiny sizes
                                           # (checks the script, measures nothing meaningful)

Training runs charwise's own step (Trainer.train_step: pinned (B, T+1) batch copied
asynchronously, bf16 autocast (PyTorch runs the cuDNN LSTM itself in fp16 under autocast),
GradScaler, fused AdamW, clipping) for `charwise train`'s default GRU and for LSTMs of growing
width, the LSTMs with and without autocast and with and without torch.compile. Nothing
synchronises inside the timed steps; the clock stops after torch.cuda.synchronize(). FLOPs per
character: 6 x the multiply-adds of the forward pass (bench/common.py), against the dense fp16
and bf16 matmul peaks measured first.

Sampling runs sampling.generate (the library's sampler, decoding text for every stream)
and the bare Stepper loop (ids only, no text), for 1 to 4096 streams, on a 3x512 LSTM and the
default 2x512 GRU (`--no-train` measures only this).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from charwise.data.corpus import Corpus  # noqa: E402
from charwise.data.vocab import Vocab  # noqa: E402
from charwise.nn.model import CharRNN  # noqa: E402
from charwise.training.trainer import Trainer  # noqa: E402
from charwise.use.sampling import SampleOptions, Stepper, filter_logits, generate  # noqa: E402
from common import sampling_flops_per_char, training_flops_per_char  # noqa: E402

V = 96  # a source-code-sized vocabulary (the post's Linux run had ~100 characters)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, seconds: float) -> float:
    """Best FLOP/s of an n x n x n matmul, timed in bursts of 10 between synchronisations."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)
    for _ in range(3):
        torch.mm(a, b, out=c)
    sync(device)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t = time.perf_counter()
        for _ in range(10):
            torch.mm(a, b, out=c)
        sync(device)
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - t))
    return best


def synthetic_corpus(n: int) -> Corpus:
    vocab = Vocab(tuple(range(32, 32 + V)))
    ids = np.random.default_rng(0).integers(0, V, n).astype(np.uint8)
    return Corpus(ids, vocab, ("synthetic",))


def train_speed(
    device: torch.device,
    kind: str,
    layers: int,
    hidden: int,
    batch: int,
    seq: int,
    amp: bool,
    compile_: bool,
    seconds: float,
    corpus: Corpus,
) -> dict:
    model = ModelConfig(vocab_size=V, layers=layers, hidden=hidden, embed=64, kind=kind)
    tc = TrainConfig(
        optimizer="adamw",  # the network's FLOP/s (see bench/throughput.py's train_speed)
        batch_size=batch,
        seq_len=seq,
        max_steps=10**9,
        device=device.type,
        amp=amp,
        compile=compile_,
    )
    cfg = RunConfig(model, DataConfig(sources=("synthetic",)), tc)
    with tempfile.TemporaryDirectory() as run_dir:
        tr = Trainer(cfg, Path(run_dir), corpus, callbacks=_quiet())
        tr.model.train()
        warm = 8 if compile_ else 3  # compile happens in the first step
        for _ in range(warm):
            tr.train_step(1e-3)
            tr.progress.pos = (tr.progress.pos + 1) % tr.batches.steps_per_epoch
        sync(device)
        syncs = count_host_syncs(tr, device, 3) if device.type == "cuda" else None
        steps, t0 = 0, time.perf_counter()
        losses = torch.zeros((), device=device)
        while True:
            losses += tr.train_step(1e-3)  # accumulated on the device: no sync per step
            tr.progress.pos = (tr.progress.pos + 1) % tr.batches.steps_per_epoch
            steps += 1
            if steps % 10 == 0:
                sync(device)
                if time.perf_counter() - t0 >= seconds:
                    break
        dt = time.perf_counter() - t0
        loss = float(losses) / steps
    chars = steps * batch * seq
    flops = training_flops_per_char(asdict(model)) * chars / dt
    return {
        "kind": kind,
        "layers": layers,
        "hidden": hidden,
        "batch": batch,
        "seq": seq,
        "amp": amp,
        "compile": compile_,
        "chars_per_s": round(chars / dt),
        "tflops": round(flops / 1e12, 2),
        "step_ms": round(1e3 * dt / steps, 2),
        "loss": round(loss, 3),
        "host_syncs_per_step": syncs,
    }


def count_host_syncs(tr: Trainer, device: torch.device, steps: int) -> float:
    """Synchronising CUDA calls per training step, as torch.cuda's sync debug mode reports them
    (the step is meant to have none: the host queues work and runs ahead of the GPU)."""
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(steps):
                tr.train_step(1e-3)
                tr.progress.pos = (tr.progress.pos + 1) % tr.batches.steps_per_epoch
    finally:
        torch.cuda.set_sync_debug_mode("default")
    sync(device)
    found = [w for w in caught if "synchroniz" in str(w.message).lower()]
    for w in found[:3]:
        print(f"  host sync in the step: {w.filename}:{w.lineno}: {str(w.message)[:100]}")
    return len(found) / steps


def _quiet():
    from charwise.training.events import Callbacks

    return Callbacks()


@torch.inference_mode()
def stepper_speed(model: CharRNN, streams: int, length: int, device: torch.device) -> float:
    """chars/s of the bare sampling loop: Stepper.step + softmax + multinomial, ids only."""
    stepper = Stepper(model)
    state = tuple(s.to(device) for s in model.init_state(streams, device))
    x = torch.zeros(streams, dtype=torch.long, device=device)
    gen = torch.Generator(device=device)
    gen.manual_seed(0)
    for _ in range(5):
        logits, state = stepper.step(x, state)
    sync(device)
    t = time.perf_counter()
    for _ in range(length):
        logits, state = stepper.step(x, state)
        x = torch.multinomial(filter_logits(logits, 1.0, None, None), 1, generator=gen).squeeze(1)
    sync(device)
    return streams * length / (time.perf_counter() - t)


def generate_speed(model: CharRNN, vocab: Vocab, streams: int, length: int) -> float:
    """chars/s of sampling.generate (text decoded for every stream, as the CLI does)."""
    generate(model, vocab, SampleOptions(length=5, num_samples=streams, seed=0))
    t = time.perf_counter()
    texts = generate(model, vocab, SampleOptions(length=length, num_samples=streams, seed=0))
    dt = time.perf_counter() - t
    return sum(len(s) for s in texts) / dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--seconds", type=float, default=5.0, help="timing window per configuration")
    ap.add_argument("--no-train", action="store_true", help="measure sampling only")
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="exercise every code path on the CPU with tiny sizes (no real figures)",
    )
    args = ap.parse_args()

    if args.smoke:
        device = torch.device("cpu")
        torch.set_num_threads(1)
        sizes = [("lstm", 1, 32, 8, 16), ("gru", 1, 32, 8, 16)]
        compiles, amps = [False], [False]
        streams, mm_n, seconds, sample_len = [1, 8], 256, 0.2, 20
    else:
        if not torch.cuda.is_available():
            print(
                f"bench/gpu.py: no CUDA GPU available (torch {torch.__version__}, CUDA build "
                f"{torch.version.cuda}); nothing measured",
                file=sys.stderr,
            )
            return 0
        device = torch.device("cuda")
        # (kind, layers, hidden, batch, seq): `charwise train`'s defaults (a 2x512 GRU and its
        # batch shape), the post's 3x512 LSTM on Linux source, then wider.
        d = TrainConfig()
        sizes = [
            ("gru", 2, 512, d.batch_size, d.seq_len),
            ("gru", 2, 512, 256, 128),
            ("lstm", 3, 512, 128, 128),
            ("lstm", 2, 1024, 256, 128),
            ("lstm", 3, 2048, 256, 128),
        ]
        compiles, amps = [False, True], [True, False]
        streams, mm_n, seconds, sample_len = [1, 64, 1024, 4096], 8192, 2.0, 200
    seconds = min(seconds, args.seconds) if args.smoke else args.seconds

    out: dict = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
    }
    peaks = {
        str(dt).split(".")[-1]: matmul_peak(device, dt, mm_n, 2.0 if not args.smoke else 0.2)
        for dt in (
            (torch.float16, torch.bfloat16, torch.float32)
            if device.type == "cuda"
            else (torch.float32,)
        )
    }
    out["matmul_peak_tflops"] = {k: round(v / 1e12, 1) for k, v in peaks.items()}
    peak = peaks.get("float16", peaks["float32"])
    print(
        f"{out['device']}: dense matmul peak "
        + ", ".join(f"{k} {v} TFLOP/s" for k, v in out["matmul_peak_tflops"].items())
    )

    corpus = synthetic_corpus(4_000_000 if not args.smoke else 20_000)
    out["train"] = []
    print(
        "\ntraining (Trainer.train_step)          chars/s      TFLOP/s  % of fp16 peak  ms/step"
        "  syncs/step"
    )
    for kind, layers, hidden, batch, seq in sizes if not args.no_train else []:
        for amp in amps:
            for comp in compiles:
                # The GRUs once (first amp setting, eager): device time is short on a lent GPU.
                if comp and not amp or kind == "gru" and (comp or amp != amps[0]):
                    continue
                try:
                    r = train_speed(
                        device, kind, layers, hidden, batch, seq, amp, comp, seconds, corpus
                    )
                except Exception as e:  # e.g. torch.compile unavailable: report, go on
                    print(
                        f"  {kind} {layers}x{hidden} amp={amp} compile={comp}: failed: "
                        f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"
                    )
                    continue
                r["pct_of_peak"] = round(100 * r["tflops"] * 1e12 / peak, 1)
                out["train"].append(r)
                name = (
                    f"{kind} {layers}x{hidden} B{batch} T{seq} amp={int(amp)} compile={int(comp)}"
                )
                print(
                    f"  {name:36s} {r['chars_per_s']:>10,} {r['tflops']:>10} "
                    f"{r['pct_of_peak']:>12}% {r['step_ms']:>9} {r['host_syncs_per_step']}"
                )

    out["sample"] = []
    # The post's 3x512 LSTM and `charwise train`'s default, a 2x512 GRU.
    for kind, layers, hidden in (
        [("lstm", 3, 512), ("gru", 2, 512)]
        if not args.smoke
        else [
            ("lstm", 1, 32),
            ("gru", 1, 32),
        ]
    ):
        cfg = ModelConfig(vocab_size=V, layers=layers, hidden=hidden, embed=64, kind=kind)
        model = CharRNN(cfg).to(device).eval()
        flops_char = sampling_flops_per_char(asdict(cfg))
        print(
            f"\nsampling, {layers}x{hidden} {kind.upper():4s}      streams  generate chars/s  "
            f"Stepper chars/s  Stepper TFLOP/s"
        )
        for m in streams:
            g = generate_speed(model, corpus.vocab, m, sample_len)
            s = stepper_speed(model, m, sample_len, device)
            out["sample"].append(
                {
                    "kind": kind,
                    "layers": layers,
                    "hidden": hidden,
                    "streams": m,
                    "generate_chars_per_s": round(g),
                    "stepper_chars_per_s": round(s),
                    "stepper_tflops": round(s * flops_char / 1e12, 3),
                }
            )
            print(f"  {'':34s} {m:>6} {g:>16,.0f} {s:>16,.0f} {s * flops_char / 1e12:>14.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1), encoding="utf-8")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
