"""Every GPU row of bench/RESULTS.md that a short lease allows, in one command.

Six runs train at the same time on one GPU for the same wall-clock budget (each process gets a
share of the GPU, so compare them side by side, never with a run that had the GPU alone):

- tinyshakespeare (90/10 contiguous split, as bench/quality.py and bench/transformer.py): the RNN
  recipe of docs/scale.md (3x1024 GRU, dropout 0.5) against a transformer of nanoGPT's
  shakespeare-char size (6 layers x 384, 6 heads, context 256, dropout 0.2 also on the
  attention probabilities), both AdamW;
- War and Peace and the Linux kernel sample on the paper's split (80/10/10 over 100 rows, as
  `charwise experiment paper-table`): the paper's widest cells, a 3x512 LSTM and a 3x512 GRU.

Then each paper-split run is scored on its test split: statically, with the continuous cache
(its theta chosen on the validation split with --tune-cache), and with dynamic evaluation (tuned
on the validation split) with and without the cache; every run is sampled at a few temperatures.
One JSON file holds it all (configs, learning curves, scores, speeds, samples, the machine).

    python3 bench/gpu_rows.py --data ../shared/data --out /tmp/gpu --budget 300
    python3 bench/gpu_rows.py --data SMALL --device cpu --budget 5 --only ts-gru   # a dry run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

PAPER = "--split 0.8,0.1,0.1 --split-rows 100"
TS = "--split 0.9,0.1,0"
ADAM = "--layers 3 --hidden 512 --optimizer adamw --lr 2e-3 --batch-size 128 --seq-len 128"
# name -> (text file, training options)
RUNS: dict[str, tuple[str, list[str]]] = {
    "ts-gru": (
        "tinyshakespeare.txt",
        f"{TS} --model gru --layers 3 --hidden 1024 --dropout 0.5 --optimizer adamw --lr 2e-3 "
        "--batch-size 64 --seq-len 128 --eval-every 250".split(),
    ),
    # nanoGPT's config/train_shakespeare_char.py: 64 windows of 256, lr 1e-3, beta2 0.99, weight
    # decay 0.1, warm-up 100; here a step reads batch x seq_len = 64 x 256 characters.
    "ts-transformer": (
        "tinyshakespeare.txt",
        f"{TS} --model transformer --layers 6 --hidden 384 --heads 6 --block 256 --dropout 0.2 "
        "--attn-dropout 0.2 --optimizer adamw --lr 1e-3 --weight-decay 0.1 --warmup 100 "
        "--batch-size 64 --seq-len 256 --eval-every 250".split(),
    ),
    "wp-lstm": (
        "warpeace.txt",
        f"{PAPER} --model lstm --dropout 0.5 {ADAM} --eval-every 250".split(),
    ),
    "wp-gru": (
        "warpeace.txt",
        f"{PAPER} --model gru --dropout 0.5 {ADAM} --eval-every 250".split(),
    ),
    "linux-lstm": (
        "linux_kernel_sample.txt",
        f"{PAPER} --model lstm --dropout 0.25 {ADAM} --eval-every 500".split(),
    ),
    "linux-gru": (
        "linux_kernel_sample.txt",
        f"{PAPER} --model gru --dropout 0.25 {ADAM} --eval-every 500".split(),
    ),
}
# What each paper-split run is scored with on its test split, most wanted first. Dynamic
# evaluation is tuned on the validation split for War and Peace; the Linux test split (1.6M
# characters) is read with the defaults, as tuning and reading it twice would not fit a lease.
SCORES = {
    "static": [],
    "cache": ["--cache"],
    "dynamic_cache": ["--dynamic", "--tune", "--cache"],
    "dynamic": ["--dynamic", "--tune"],
}
UNTUNED = ("linux-lstm", "linux-gru")
TEMPERATURES = (0.5, 0.8, 1.0)


def charwise(*args: str) -> list[str]:
    return [sys.executable, "-m", "charwise", *args]


def train_all(names: list[str], data: Path, out: Path, budget: float, device: str) -> dict:
    """Start every training run at once, wait for all; returns each one's exit code and wall s."""
    procs, t0 = {}, time.perf_counter()
    for name in names:
        text, opts = RUNS[name]
        run = f"--device {device} --threads 2 --max-time {budget} --quiet --seed 0".split()
        cmd = charwise("train", str(data / text), "--out", str(out / name), *run, *opts)
        log = open(out / f"{name}.train.log", "w")
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log, cmd)
    done = {}
    for name, (p, log, cmd) in procs.items():
        try:
            rc = p.wait(timeout=budget + 240 - (time.perf_counter() - t0))
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "killed"
        log.close()
        done[name] = {"rc": rc, "wall_s": round(time.perf_counter() - t0, 1), "command": cmd}
    return done


def curve(run_dir: Path) -> dict:
    """The run's validation curve and training speed, from its log.jsonl."""
    path = run_dir / "log.jsonl"
    if not path.exists():
        return {}
    recs = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    vals = [
        [r.get("step"), round(r.get("elapsed", 0.0), 1), round(r["val_loss"], 4)]
        for r in recs
        if r.get("event") == "val" and r.get("val_loss") is not None
    ]
    rates = sorted(r["chars_per_s"] for r in recs if r.get("event") == "train")
    return {
        "val_curve": vals,  # [step, seconds, val nats/char]
        "best_val": min((v[2] for v in vals), default=None),
        "median_chars_per_s": rates[len(rates) // 2] if rates else None,
        "steps": max((r.get("step", 0) for r in recs), default=0),
    }


def run_cmd(cmd: list[str], timeout: float) -> dict:
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    res: dict = {"seconds": round(time.perf_counter() - t0, 1)}
    if p.returncode != 0:
        res["error"] = (p.stderr or p.stdout).strip()[-600:]
    else:
        res["stdout"] = p.stdout
    return res


def score(
    name: str, out: Path, device: str, timeout: float, deadline: float, tune_cache: bool = False
) -> dict:
    """Test-split scores of a paper-split run (static, cache, dynamic + cache, dynamic), each
    given what is left until `deadline` (a perf_counter time) at most."""
    res = {}
    for what, extra in SCORES.items():
        if name in UNTUNED:
            extra = [e for e in extra if e != "--tune"]
        if what == "cache" and tune_cache:
            extra = [*extra, "--tune"]  # theta chosen on the val split (an LSTM needs it)
        left = min(timeout, deadline - time.perf_counter())
        if left < 10:
            res[what] = {"error": "not run: the lease's deadline"}
            continue
        r = run_cmd(
            charwise(
                "eval", str(out / name), "--split", "test", "--json", "--device", device, *extra
            ),
            left,
        )
        if "stdout" in r:
            r["result"] = json.loads(r.pop("stdout").strip().splitlines()[-1])
        res[what] = r
    return res


def samples(name: str, out: Path, device: str) -> dict:
    res = {}
    for t in TEMPERATURES:
        r = run_cmd(
            charwise(
                "sample",
                str(out / name),
                *f"--length 600 --temperature {t} --seed 1 --device {device}".split(),
            ),
            120,
        )
        res[str(t)] = r.get("stdout", r.get("error"))
    return res


def machine(device: str) -> dict:
    info = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    if device == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with the three texts")
    ap.add_argument("--out", required=True, help="runs and results.json go here")
    ap.add_argument("--budget", type=float, default=300.0, help="training seconds, every run")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--only", nargs="+", choices=sorted(RUNS), help="these runs only")
    ap.add_argument("--score-timeout", type=float, default=150.0, help="seconds per eval")
    ap.add_argument(
        "--deadline",
        type=float,
        default=900.0,
        help="seconds from the start by which scoring stops (evals past it are not run)",
    )
    ap.add_argument("--results", help="where results.json goes (default: OUT/results.json)")
    ap.add_argument(
        "--tune-cache",
        action="store_true",
        help="choose the cache's theta on the val split in the cache row (RESULTS' rows of "
        "2026-12-04 used the default)",
    )
    args = ap.parse_args()
    deadline = time.perf_counter() + args.deadline
    data, out = Path(args.data), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.only or list(RUNS)
    results: dict = {
        "machine": machine(args.device),
        "budget_s": args.budget,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": " ".join(sys.argv),
        "runs": {},
    }

    lock = threading.Lock()

    def save(r: dict | None = None, key: str = "", value: object = None) -> None:
        """Set r[key] = value (scoring threads share `results`), then write results.json: after
        every step, so a lease cut short still returns what was done."""
        with lock:
            if r is not None:
                r[key] = value
            Path(args.results or out / "results.json").write_text(json.dumps(results, indent=1))

    trained = train_all(names, data, out, args.budget, args.device)
    for name in names:
        results["runs"][name] = {
            "text": RUNS[name][0],
            "options": RUNS[name][1],
            **trained[name],
            **curve(out / name),
        }
    save()
    (out / "trained.flag").write_text("")  # the lease's script starts its other checks now
    print(
        json.dumps(
            {
                n: {k: r.get(k) for k in ("rc", "steps", "best_val")}
                for n, r in results["runs"].items()
            }
        ),
        flush=True,
    )

    # Scoring and sampling, one thread per run (each a process of its own).
    def finish(name: str) -> None:
        r = results["runs"][name]
        if not (out / name / "model.safetensors").exists():
            return
        save(r, "samples", samples(name, out, args.device))
        if "--split-rows" in RUNS[name][1]:
            test = score(name, out, args.device, args.score_timeout, deadline, args.tune_cache)
            save(r, "test", test)

    with ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(finish, names))
    results["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    save()
    for name, r in results["runs"].items():
        tests = {
            k: (v.get("result") or {}).get("nats_per_char", v.get("error", "")[:60])
            for k, v in r.get("test", {}).items()
        }
        print(
            json.dumps(
                {
                    "run": name,
                    "steps": r.get("steps"),
                    "best_val": r.get("best_val"),
                    "chars_per_s": r.get("median_chars_per_s"),
                    "test": tests,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
