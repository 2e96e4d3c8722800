"""Ablations on the 600 s tinyshakespeare benchmark: each variant of the defaults trained the same
way as bench/quality.py (contiguous 90/10 split, validation over the whole validation text), one
after the other in one process, then a table against the defaults.

    /work/tools/measure .venv/bin/python bench/ablations.py                  # 600 s each
    /work/tools/measure .venv/bin/python bench/ablations.py --steps 800      # equal steps
    /work/tools/measure .venv/bin/python bench/ablations.py --parallel --set threads=1
    .venv/bin/python bench/ablations.py --only default,layer-norm --budget 60
    .venv/bin/python bench/ablations.py --only default,lstm,mlstm,tied --steps 200

Two modes, because a shared machine gives each run an unknown share of the CPU:
- wall budget (`--budget S`, the benchmark's own rule): every variant trains S seconds of wall
  clock, its cosine over that time; what it reaches depends on the CPU it got;
- equal steps (`--steps N`): every variant trains N optimizer steps (cosine over the steps), so
  the losses compare what each variant learns per step, whatever the contention.
Both record steps, wall and CPU seconds, chars/s of wall and of CPU time, and the load average
before and after each variant, so a reader can tell how much CPU each one had. `--parallel`
trains the variants at the same time, one process each (give them `--set threads=1`): on a
machine whose load changes over the minutes, every variant then sees the same contention, at
the price of sharing the machine among themselves.
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

sys.path.insert(0, str(Path(__file__).parent))
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig  # noqa: E402
from charwise.training.lifecycle import train  # noqa: E402
from quality import DATA, parse_sets  # noqa: E402

if not DATA.exists():  # a git worktree elsewhere than beside shared/
    DATA = Path("/work/shared/data/tinyshakespeare.txt")

# name -> settings (ModelConfig / TrainConfig fields) over the defaults.
VARIANTS: dict[str, dict] = {
    "default": {},
    "layer-norm": {"layer_norm": True},
    "mogrifier": {"mogrify": 4, "mogrify_rank": 32},
    "layer-norm+mogrifier": {"layer_norm": True, "mogrify": 4, "mogrify_rank": 32},
    # The mLSTM against the plain LSTM it modifies (the default cell is a GRU): at 2x512 it adds
    # W_mx, W_mh (0.8 M weights to the LSTM's 3.3 M) and one (H, H) matmul a step.
    "lstm": {"kind": "lstm"},
    "mlstm": {"kind": "lstm", "multiplicative": True},
    # The output layer tied to the embedding through a 512 -> 64 projection, and a wider
    # embedding tied without one (512: the head is the embedding itself).
    "tied": {"tie_embedding": True},
    "tied-512": {"tie_embedding": True, "embed": 512},
    "lr-2e-3": {"lr": 2e-3},
    "warmup-200": {"warmup": 200},
    # Batch-size schedules: the 96 streams cut into groups of 24 (or 48) per update at the
    # start, growing geometrically to the whole batch over the first 30% (or 60%) of the run.
    "batch-24": {"start_batch": 24, "batch_ramp": 0.3},
    "batch-48": {"start_batch": 48, "batch_ramp": 0.3},
    "batch-24-long": {"start_batch": 24, "batch_ramp": 0.6},
    # Muon (orthogonalised momentum) on the GRU's four matrices, AdamW on the rest, at its
    # defaults (1.5x the rate, decay 0.4).
    "muon": {"optimizer": "muon"},
    # AdamW on every parameter (the RNNs' default where bf16 is not native).
    "adamw": {"optimizer": "adamw"},
}
DEFAULT_ORDER = "default,layer-norm,mogrifier"


def run_variant(name: str, settings: dict, args, root: Path) -> dict:
    mk = {k: v for k, v in settings.items() if k in ModelConfig.__dataclass_fields__}
    tk = {k: v for k, v in settings.items() if k not in mk}
    limit = {"max_steps": args.steps} if args.steps else {"max_time": args.budget}
    tc = TrainConfig(**{"eval_every": 10**9, "sample_every": 10**9, **limit, **tk})
    cfg = RunConfig(
        model=ModelConfig(vocab_size=1, **mk),
        data=DataConfig(sources=(args.data,), split=(0.9, 0.1, 0.0)),
        train=tc,
    )
    out = root / name
    load0, cpu0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    res = train(cfg, out)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    log = [json.loads(ln) for ln in (out / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log if r["event"] == "train"]
    cps = sorted(r["chars_per_s"] for r in steps)[len(steps) // 2] if steps else 0.0
    chars = res.steps * tc.batch_size * tc.seq_len
    return {
        "variant": name,
        "settings": settings,
        "steps": res.steps,
        "epochs": round(res.epochs, 3),
        "val_nats": res.best_val_loss,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "median_chars_per_s": round(cps),
        "chars_per_cpu_s": round(chars / max(cpu, 1e-9)),
        "load_before": round(load0, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def table(rows: list[dict]) -> str:
    base = next((r for r in rows if r["variant"] == "default"), None)
    head = (
        "| variant | steps | wall s | CPU s | chars/s (wall, median) | chars per CPU s "
        "| speed / default (CPU) | val nats/char | delta vs default | load before / after |"
    )
    lines = [head, "|" + " --- |" * 10]
    for r in rows:
        d = "" if base is None else f"{r['val_nats'] - base['val_nats']:+.4f}"
        sp = "" if base is None else f"{r['chars_per_cpu_s'] / base['chars_per_cpu_s']:.2f}"
        lines.append(
            f"| {r['variant']} | {r['steps']:,} | {r['wall_s']} | {r['cpu_s']} "
            f"| {r['median_chars_per_s']:,} | {r['chars_per_cpu_s']:,} | {sp} "
            f"| {r['val_nats']:.4f} | {d} | {r['load_before']} / {r['load_after']} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=600.0, help="wall seconds per variant")
    ap.add_argument("--steps", type=int, help="equal-steps mode: optimizer steps per variant")
    ap.add_argument("--only", default=DEFAULT_ORDER, help=f"variants, of {', '.join(VARIANTS)}")
    ap.add_argument("--set", action="append", default=[], help="k=v over every variant")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", help="parent of the run directories (default: a temporary one)")
    ap.add_argument("--parallel", action="store_true", help="train the variants at once")
    ap.add_argument("--row-file", help=argparse.SUPPRESS)  # --parallel's children write here
    args = ap.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    common = {**parse_sets(args.set)[0], **parse_sets(args.set)[1]}
    root = Path(args.out or tempfile.mkdtemp(prefix="cw-ablations-"))
    mode = f"{args.steps} steps each" if args.steps else f"{args.budget:g} s wall each"
    print(
        f"# ablations: {mode}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"runs under {root}",
        flush=True,
    )
    if args.parallel:
        rows = run_parallel(names, root)
    else:
        rows = []
        for name in names:
            row = run_variant(name, {**VARIANTS[name], **common}, args, root)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if args.row_file:
                Path(args.row_file).write_text(json.dumps(row))
    print(table(rows), flush=True)


def run_parallel(names: list[str], root: Path) -> list[dict]:
    """Each variant in its own child process (this script with --only NAME), all at once."""
    root.mkdir(parents=True, exist_ok=True)
    argv = [a for a in sys.argv[1:] if a != "--parallel"]
    # The children get the same arguments but one variant each and a file for their row.
    drop = {"--only", "--out"}
    kept, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in drop:
            skip = True
            continue
        if a.split("=", 1)[0] in drop:
            continue
        kept.append(a)
    procs = {
        n: subprocess.Popen(
            [
                sys.executable,
                __file__,
                *kept,
                "--only",
                n,
                "--out",
                str(root / "parallel"),
                "--row-file",
                str(root / f"{n}.row.json"),
            ],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        for n in names
    }
    for n, p in procs.items():
        if p.wait() != 0:
            print(f"# {n} failed with exit status {p.returncode}", flush=True)
    rows = []
    for n in names:
        f = root / f"{n}.row.json"
        if f.exists():
            rows.append(json.loads(f.read_text()))
            print(f.read_text(), flush=True)
    return rows


if __name__ == "__main__":
    main()
