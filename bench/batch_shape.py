"""Training speed of one model at several batch shapes (streams x BPTT window), alternated.

    .venv/bin/python bench/batch_shape.py                              # the default 2x512 GRU
    .venv/bin/python bench/batch_shape.py --kind lstm --shapes 32x64 96x32 --rounds 3

Each round measures every shape once, for --seconds each, with charwise's own training step
(bench/throughput.py's train_speed: forward, loss, backward, clipping, AdamW, bf16 autocast where
the CPU has it), and prints chars/s and the ratio of its FLOP/s to the fp32 matmul peak measured
at the start. Rounds alternate the shapes, so a slow spell of a shared machine hits all of them;
compare within a round. The quality side of a shape is bench/quality.py --set batch_size=...
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import matmul_peak  # noqa: E402
from throughput import train_speed  # noqa: E402


def shape(text: str) -> tuple[int, int]:
    b, _, t = text.partition("x")
    return int(b), int(t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", default="gru", choices=("gru", "lstm", "rnn"))
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument(
        "--shapes",
        nargs="+",
        type=shape,
        default=[(32, 64), (64, 32), (96, 32), (128, 16)],
        help="STREAMSxSTEPS, e.g. 96x32",
    )
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    peak = matmul_peak()
    print(json.dumps({"matmul_peak_gflops": round(peak / 1e9, 1)}), flush=True)
    for r in range(args.rounds):
        for b, t in args.shapes:
            x = train_speed(
                args.layers, args.hidden, args.seconds, {"batch_size": b, "seq_len": t}, args.kind
            )
            row = {
                "round": r,
                "model": x["model"],
                "shape": f"{b}x{t}",
                "chars_per_s": x["chars_per_s"],
                "ratio_to_peak": round(x["gflops"] * 1e9 / peak, 3),
            }
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
