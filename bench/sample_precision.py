"""What bf16 sampling costs in quality: the sampler's own per-character loss in fp32 and in bf16.

Runs a trained run's Stepper (the code `charwise sample` uses) over a text as S contiguous
streams in lockstep, one character at a time, and sums -log p(true next character); the same
text, streams and weights in both precisions, side by side in one run, next to the fused model's
own fp32 evaluation (charwise.use.evaluate) as the reference.

    .venv/bin/python bench/sample_precision.py RUN_DIR [--text FILE] [--chars 100000]

Without --text it reads the last 10% of ../shared/data/tinyshakespeare.txt (bench/quality.py's
validation split).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from charwise.nn.stepper import Stepper
from charwise.runs.load import load
from charwise.use.evaluate import loss_over_ids

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tinyshakespeare.txt"


@torch.inference_mode()
def stepper_loss(model, ids: np.ndarray, streams: int, dtype: torch.dtype) -> tuple[float, float]:
    """(mean nats per predicted character, seconds) of the Stepper over `streams` pieces."""
    piece = (len(ids) - 1) // streams
    grid = torch.from_numpy(ids[: streams * piece + 1].astype(np.int64))
    starts = torch.arange(streams) * piece
    runner = Stepper(model, dtype).runner(model.init_state(streams))
    total = torch.zeros((), dtype=torch.float64)
    t0 = time.perf_counter()
    for t in range(piece):
        logits = runner.advance(grid[starts + t])
        logp = torch.log_softmax(logits.float(), -1)
        total += -logp.gather(1, grid[starts + t + 1][:, None]).sum().double()
    return float(total) / (streams * piece), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--text", default=str(DATA))
    ap.add_argument("--chars", type=int, default=100_000)
    ap.add_argument("--streams", type=int, default=64)
    args = ap.parse_args()
    run = load(args.run_dir)
    text = Path(args.text).read_text(encoding="utf-8")
    if args.text == str(DATA):
        text = text[int(len(text) * 0.9) :]
    ids = np.asarray(run.vocab.encode(text[: args.chars + 1]))
    # Zero-state starts like the stepper's streams (no burn-in), so the two compare like for like.
    fused, n = loss_over_ids(run.model, ids, streams=args.streams, context=0)
    out = {"run": args.run_dir, "chars": int(len(ids)), "streams": args.streams}
    out["fused_fp32_nats"] = round(fused / n, 5)
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        loss, sec = stepper_loss(run.model, ids, args.streams, dtype)
        out[f"stepper_{name}_nats"] = round(loss, 5)
        out[f"stepper_{name}_chars_per_s"] = round(
            args.streams * ((len(ids) - 1) // args.streams) / sec
        )
    out["bf16_minus_fp32_nats"] = round(out["stepper_bf16_nats"] - out["stepper_fp32_nats"], 5)
    out["bf16_minus_fp32_bits"] = round(out["bf16_minus_fp32_nats"] / math.log(2), 5)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
