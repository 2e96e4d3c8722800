"""What the transformer's key/value cache buys when sampling: characters per second of
`charwise sample` (the cache, use/windowed.py) against the plain way of sampling a transformer
(nanoGPT's `generate`: the whole context read afresh for every new character), with the default
GRU beside them, side by side in one run.

    .venv/bin/python bench/sampling_cache.py                        # default-sized models
    .venv/bin/python bench/sampling_cache.py --runs RUN_DIR RUN_DIR  # trained runs instead

Speed does not depend on the weights, so by default the models are the default GRU (2x512) and
the default transformer (4x256, context 256), each trained one step on the built-in `names`
corpus. Every method samples after a prime as long as the context, so all of them work at full
context (the cache rolls: when full it reads the last half context afresh). fp32 throughout, the
methods alternated in rounds so that each sees the same machine; the best round is printed.
Re-reading is slow (64 streams: seconds per character on one CPU thread), hence 1 and 8
streams of 100 characters by default.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from charwise.runs.load import load


def default_runs(folder: Path) -> list[str]:
    """The default GRU and transformer, one training step each on `names`."""
    out = []
    for kind in ("gru", "transformer"):
        run_dir = folder / kind
        cmd = [sys.executable, "-m", "charwise", "train", "--corpus", "names", "--model", kind]
        cmd += ["--out", str(run_dir), "--max-steps", "1", "--batch-size", "8", "--quiet"]
        subprocess.run(cmd, check=True)
        out.append(str(run_dir))
    return out


@torch.inference_mode()
def recompute(run, streams: int, length: int, seed: int) -> None:
    """nanoGPT-style sampling: every new character reads the last `block` characters afresh."""
    model = run.model.eval()
    block = model.cfg.block
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, run.vocab.size, (streams, block), generator=g)
    for _ in range(length):
        logits = model(x[:, -block:], model.init_state(streams))[0][:, -1].float()
        nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
        x = torch.cat([x[:, 1:], nxt], 1)


def cached(run, streams: int, length: int, seed: int, prime: str) -> None:
    run.sample(length, prime=prime, num_samples=streams, seed=seed, precision="fp32")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs=2, metavar=("RNN_RUN", "TRANSFORMER_RUN"))
    ap.add_argument("--streams", default="1,8", help="comma-separated stream counts")
    ap.add_argument("--length", type=int, default=100, help="characters per sample")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    rnn_dir, tf_dir = args.runs or default_runs(Path(tmp.name))
    rnn, tf = load(rnn_dir), load(tf_dir)
    block = tf.model.cfg.block
    # A prime of `block` characters of the run's own vocabulary puts every method at full context.
    symbols = [chr(c) for c in tf.vocab.symbols if chr(c).isalpha()]
    prime = "".join(symbols[i % len(symbols)] for i in range(block))
    methods = {
        "gru": lambda s, seed: cached(rnn, s, args.length, seed, prime),
        "transformer, key/value cache": lambda s, seed: cached(tf, s, args.length, seed, prime),
        "transformer, context re-read": lambda s, seed: recompute(tf, s, args.length, seed),
    }
    print(
        json.dumps(
            {
                "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "load_average": round(os.getloadavg()[0], 2),
                "runs": [rnn_dir, tf_dir],
                "context": block,
                "length": args.length,
            }
        ),
        flush=True,
    )
    best: dict[tuple[str, int], float] = {}
    for r in range(args.rounds):
        for streams in [int(s) for s in args.streams.split(",")]:
            for name, fn in methods.items():
                t0 = time.perf_counter()
                fn(streams, r)
                cps = args.length * streams / (time.perf_counter() - t0)
                best[(name, streams)] = max(best.get((name, streams), 0.0), cps)
    print(f"\n{'method':32} {'streams':>7} {'chars/s':>10} {'vs re-read':>10}")
    for (name, streams), cps in best.items():
        base = best[("transformer, context re-read", streams)]
        print(f"{name:32} {streams:>7} {cps:>10,.0f} {cps / base:>9.1f}x")
        print(json.dumps({"method": name, "streams": streams, "chars_per_s": round(cps)}))


if __name__ == "__main__":
    main()
