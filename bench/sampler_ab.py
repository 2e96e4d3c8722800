"""The sampler against an earlier version of itself, and fp32 against bf16 by stream count, side by
side in one process (this VM's speed drifts by 10-30% between runs, so only alternated
measurements compare).

    .venv/bin/python bench/sampler_ab.py                  # A/B against HEAD's stepper.py
    .venv/bin/python bench/sampler_ab.py --against REV    # ... against another git revision
    .venv/bin/python bench/sampler_ab.py --crossover      # also fp32 vs bf16 at 1-64 streams

Each figure is the median of --rounds alternations of the same loop `generate` runs (advance,
softmax, inverse-CDF draw) on 2x512 LSTM and GRU models with random weights, 65 symbols. The old
stepper is read with `git show REV:src/charwise/stepper.py` and imported beside the current one.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import ModelConfig  # noqa: E402
from charwise.nn.model import CharRNN  # noqa: E402
from charwise.nn.stepper import Stepper  # noqa: E402
from charwise.use.sampling import draw, filter_logits  # noqa: E402
from common import matmul_peaks, sampling_flops_per_char  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
V = 65


def old_stepper_class(rev: str):
    """The Stepper class of stepper.py at git revision `rev`, importable beside the current one."""
    src = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:src/charwise/stepper.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    src = src.replace("from .", "from charwise.")
    path = Path(tempfile.mkdtemp(prefix="cw-ab-")) / "old_stepper.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_stepper", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Stepper


@torch.inference_mode()
def speed(stepper, model: CharRNN, streams: int, steps: int) -> float:
    """chars/s of `steps` sampling steps of `streams` streams."""
    runner = stepper.runner(model.init_state(streams))
    x = torch.zeros(streams, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        runner.advance(x)
    t = time.perf_counter()
    for _ in range(steps):
        x = draw(filter_logits(runner.advance(x), 1.0, None, None), gen)
    return streams * steps / (time.perf_counter() - t)


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", default="HEAD", help="git revision of the old stepper")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--crossover", action="store_true")
    args = ap.parse_args()
    Old = old_stepper_class(args.against)
    peaks = {dt: max(matmul_peaks(dtype=dt).values()) for dt in (torch.float32, torch.bfloat16)}
    print(
        f"peaks: fp32 {peaks[torch.float32] / 1e9:.0f}, bf16 {peaks[torch.bfloat16] / 1e9:.0f} "
        f"GFLOP/s; old = {args.against}"
    )
    torch.manual_seed(0)
    for kind in ("lstm", "gru"):
        model = CharRNN(ModelConfig(vocab_size=V, kind=kind)).eval()
        cfg = {"kind": kind, "layers": 2, "hidden": 512, "embed": 64, "vocab_size": V}
        flops = sampling_flops_per_char(cfg)
        for dt in (torch.float32, torch.bfloat16):
            for streams, steps in ((1, 400), (64, 300)):
                old, new = Old(model, dt), Stepper(model, dt)
                runs = [
                    (speed(old, model, streams, steps), speed(new, model, streams, steps))
                    for _ in range(args.rounds)
                ]
                a, b = median([r[0] for r in runs]), median([r[1] for r in runs])
                name = str(dt).removeprefix("torch.")
                print(
                    f"{kind} {name:8s} {streams:2d} streams: old {a:8,.0f}  new {b:8,.0f} chars/s"
                    f"  new/old {b / a:.2f}  new {b * flops / peaks[dt]:.3f} of the {name} peak"
                )
        if args.crossover:
            f32, b16 = Stepper(model), Stepper(model, torch.bfloat16)
            for streams in (1, 8, 16, 24, 32, 48, 64):
                steps = max(100, 3000 // streams)
                runs = [
                    (speed(f32, model, streams, steps), speed(b16, model, streams, steps))
                    for _ in range(3)
                ]
                a, b = median([r[0] for r in runs]), median([r[1] for r in runs])
                print(
                    f"{kind} {streams:2d} streams: fp32 {a:8,.0f}  bf16 {b:8,.0f} chars/s"
                    f"  bf16/fp32 {b / a:.2f}"
                )


if __name__ == "__main__":
    main()
