"""Large corpora: encode speed and peak memory, and training memory against corpus size.

Builds corpora of the requested sizes by concatenating the texts in ../shared/data (Linux
source, LaTeX, Shakespeare, ...) into a temporary folder outside the repository, then, each in a
fresh child process:
- encodes it with an empty cache (streamed vocabulary count + streamed encode + content hash):
  wall time, MB/s, peak RSS (VmHWM) and peak anonymous memory (RssAnon, sampled every 10 ms);
- opens the cached encoding again (content hash only);
- for the --train sizes, trains a tiny model for a few steps plus one validation over the whole
  validation split and reports the same memory figures, to show that training memory does not
  grow with the corpus (the ids stay memory-mapped).
The temporary folder is deleted at the end (disk is limited).

    python bench/encode.py                        # 10, 300 and 500 MB; training on 10 and 300
    python bench/encode.py --sizes 20 --train 20  # a quick check

Peak RSS is read from /proc/self/status (VmHWM), not ru_maxrss: Linux carries ru_maxrss over
from the parent across exec(), so a child of a large process would report the parent's peak.
Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MB = 1 << 20


def status() -> dict[str, int]:
    """VmHWM / VmRSS / RssAnon / RssFile of this process in MiB."""
    out = {}
    with open("/proc/self/status") as f:
        for ln in f:
            key = ln.split(":")[0]
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(ln.split()[1]) // 1024
    return out


class AnonPeak:
    """Samples RssAnon every 10 ms in a thread: the kernel keeps no high-water mark for it."""

    def __init__(self):
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, status()["RssAnon"])
            time.sleep(0.01)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, status()["RssAnon"])


def build_corpus(path: Path, mb: int) -> int:
    """Concatenate the data texts, round robin, into `path` until it holds `mb` MiB (cut at a
    newline so the UTF-8 stays valid). Returns its size in bytes."""
    sources = sorted(p for p in DATA.glob("*.txt") if "README" not in p.name)
    if not sources:
        raise SystemExit(f"no texts in {DATA}")
    target, size = mb * MB, 0
    with open(path, "wb") as out:
        while size < target:
            for src in sources:
                data = src.read_bytes()
                if size + len(data) > target:
                    data = data[: data.rfind(b"\n", 0, target - size) + 1]
                out.write(data)
                size += len(data)
                if size >= target or not data:
                    break
            else:
                continue
            break
    return size


# -- child processes (fresh, so their peak memory is their own) -------------------------------
def child_encode(text: str, cache: str) -> dict:
    from charwise.config import DataConfig
    from charwise.data.corpus import load_corpus

    base = status()
    with AnonPeak() as anon:
        t = time.perf_counter()
        c = load_corpus(DataConfig(sources=(text,)), cache_dir=Path(cache))
        seconds = time.perf_counter() - t
    after = status()
    t = time.perf_counter()
    load_corpus(DataConfig(sources=(text,)), cache_dir=Path(cache))
    cached = time.perf_counter() - t
    size = os.path.getsize(text)
    return {
        "bytes": size,
        "chars": int(len(c.ids)),
        "vocab": c.vocab.size,
        "seconds": round(seconds, 2),
        "mb_per_s": round(size / MB / seconds, 1),
        "cached_open_seconds": round(cached, 2),
        "base_rss_mb": base["VmRSS"],
        "base_anon_mb": base["RssAnon"],
        "peak_rss_mb": after["VmHWM"],
        "peak_anon_mb": anon.peak,
    }


def child_train(text: str, cache: str, out: str, steps: int) -> dict:
    import torch

    from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
    from charwise.training.lifecycle import train

    torch.set_num_threads(1)
    cfg = RunConfig(
        ModelConfig(vocab_size=1, layers=1, hidden=32, embed=16),
        DataConfig(sources=(text,)),
        TrainConfig(
            batch_size=64,
            seq_len=128,
            max_steps=steps,
            eval_every=10**9,
            sample_every=10**9,
            save_every=10**9,
            log_every=steps,
            sample_length=50,
            device="cpu",
            threads=1,
        ),
    )
    base = status()
    with AnonPeak() as anon:
        t = time.perf_counter()
        res = train(cfg, out, cache_dir=Path(cache))
        seconds = time.perf_counter() - t
    after = status()
    return {
        "steps": res.steps,
        "val_loss": round(res.best_val_loss, 4),
        "seconds": round(seconds, 1),
        "base_rss_mb": base["VmRSS"],
        "base_anon_mb": base["RssAnon"],
        "peak_rss_mb": after["VmHWM"],
        "peak_anon_mb": anon.peak,
        "end_rss_file_mb": after["RssFile"],
    }


def run_child(*args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env
    )
    if p.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,300,500", help="corpus sizes to encode, MiB")
    ap.add_argument("--train", default="10,300", help="sizes to also train on, MiB")
    ap.add_argument("--steps", type=int, default=20, help="training steps per training run")
    ap.add_argument("--tmp", default=None, help="folder for the temporary corpora (default: /tmp)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        res = (
            child_encode(*rest)
            if kind == "encode"
            else child_train(rest[0], rest[1], rest[2], int(rest[3]))
        )
        print(json.dumps(res))
        return

    sizes = [int(s) for s in args.sizes.split(",") if s]
    train_sizes = {int(s) for s in args.train.split(",") if s}
    tmp = Path(tempfile.mkdtemp(prefix="charwise-encode-bench-", dir=args.tmp))
    results = []
    try:
        for mb in sorted(set(sizes) | train_sizes):
            text, cache = tmp / f"corpus{mb}.txt", tmp / f"cache{mb}"
            t = time.perf_counter()
            size = build_corpus(text, mb)
            print(
                f"# built {size / MB:.0f} MiB corpus in {time.perf_counter() - t:.1f} s",
                file=sys.stderr,
            )
            row = {"mb": mb, "encode": run_child("encode", str(text), str(cache))}
            print(f"encode {mb} MiB: {json.dumps(row['encode'])}", flush=True)
            if mb in train_sizes:
                row["train"] = run_child(
                    "train", str(text), str(cache), str(tmp / f"run{mb}"), str(args.steps)
                )
                print(f"train  {mb} MiB: {json.dumps(row['train'])}", flush=True)
            results.append(row)
            text.unlink()
            shutil.rmtree(cache, ignore_errors=True)
            shutil.rmtree(tmp / f"run{mb}", ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"machine": os.uname().nodename, "cpus": os.cpu_count(), "results": results}))


if __name__ == "__main__":
    main()
