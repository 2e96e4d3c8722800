"""The post's point in one table: at equal validation loss, an RNN's samples keep long-range
structure (brackets, LaTeX environments, whole C functions) that an n-gram's lose.

For a trained RNN run (`charwise train TEXT --split 0.9,0.1,0 ...`): count n-grams of orders
1, 2, ... on the run's own train split until one's validation loss (on the same --val-chars of
the run's val split) falls below the RNN's, pick the order whose loss is closest, draw
--samples texts of --length characters from each at temperature 1, and print
analysis.structure's metrics side by side with the corpus's own values (the same number of
held-out pieces of the same length, each starting after a blank line) as the reference. JSON
to --json.

    .venv/bin/python bench/structure.py --run /work/runs/structure/linux/rnn-long --kinds linux
    .venv/bin/python bench/structure.py --run /work/runs/structure/latex/rnn-long --kinds latex
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch

from charwise.analysis.structure import corpus_index, structure_metrics
from charwise.ngram.run import NGramConfig, NGramModel
from charwise.runs.load import load
from charwise.use.evaluate import LN2
from charwise.use.sampling import SampleOptions

KINDS = {
    "linux": ("brackets", "quotes", "c", "lines", "novel"),
    "latex": ("brackets", "latex", "lines", "novel"),
    "prose": ("brackets", "quotes", "lines", "novel"),
}


def reference_pieces(text: str, count: int, length: int) -> list[str]:
    """`count` pieces of `length` characters of text, each starting after a blank line (where a
    sample, which starts after a newline, also starts), spread over the text."""
    starts = [i + 2 for i in range(len(text) - length) if text.startswith("\n\n", i)]
    if len(starts) < count:
        starts = [i + 1 for i in range(len(text) - length) if text[i] == "\n"]
    pick = np.linspace(0, len(starts) - 1, count).astype(int)
    return [text[starts[k] : starts[k] + length] for k in pick]


def bpc(total_n: tuple[float, int]) -> float:
    total, n = total_n
    return total / n / LN2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True, help="an RNN run directory")
    ap.add_argument("--kinds", default="linux", choices=sorted(KINDS), help="which metric groups")
    ap.add_argument("--max-order", type=int, default=10)
    ap.add_argument("--val-chars", type=int, default=100_000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--length", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: no oversubscription)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    run = load(a.run)
    train_ids, val_ids = run.split("train"), run.split("val")[: a.val_chars]
    train_text, val_text = run.vocab.decode(train_ids), run.vocab.decode(val_ids)
    rnn_val = run.evaluate(val_ids).bits_per_char
    print(f"{run.label}: val {rnn_val:.4f} bits/char on {len(val_ids):,} chars", flush=True)

    ngram_val, best = {}, None
    for order in range(1, a.max_order + 1):
        m = NGramModel.fit(train_ids, run.vocab, NGramConfig(order=order), run.data)
        ngram_val[order] = bpc(m.loss_over_ids(val_ids))
        print(f"  {order}-gram: val {ngram_val[order]:.4f} bits/char", flush=True)
        if best is None or abs(ngram_val[order] - rnn_val) < abs(ngram_val[best[0]] - rnn_val):
            best = (order, m)
        if ngram_val[order] < rnn_val:  # higher orders only get further below (on these texts)
            break
    order, ngram = best
    print(f"closest: the {order}-gram ({ngram_val[order]:.4f} vs {rnn_val:.4f})", flush=True)

    opts = SampleOptions(
        length=a.length, temperature=1.0, seed=a.seed, num_samples=a.samples, precision="fp32"
    )
    texts = {"corpus (val)": reference_pieces(val_text, a.samples, a.length)}
    for name, model in ((f"RNN ({run.kind.upper()})", run), (f"{order}-gram", ngram)):
        t1 = time.perf_counter()
        texts[name] = model.generate(opts)
        print(f"sampled {name}: {time.perf_counter() - t1:.0f} s", flush=True)
    kinds = KINDS[a.kinds]
    idx = corpus_index(train_text)
    metrics = {}
    for name, t in texts.items():
        t1 = time.perf_counter()
        metrics[name] = structure_metrics(t, idx, kinds)
        print(f"metrics of {name}: {time.perf_counter() - t1:.1f} s", flush=True)
    names = list(texts)
    print(f"\n| metric | {' | '.join(names)} |")
    print("| --- |" + " ---: |" * len(names))
    print(f"| val bits/char | - | {rnn_val:.3f} | {ngram_val[order]:.3f} |")
    for key in metrics[names[0]]:
        vals = [metrics[n][key] for n in names]
        print(f"| {key} | " + " | ".join("-" if math.isnan(v) else f"{v:.3f}" for v in vals) + " |")
    seconds = time.perf_counter() - t0
    print(
        f"\n{a.samples} x {a.length} characters each, temperature 1, seed {a.seed}; {seconds:.0f} s"
    )
    out = {
        "run": str(a.run),
        "machine": platform.processor() or platform.machine(),
        "args": vars(a),
        "rnn_val_bpc": rnn_val,
        "ngram_val_bpc": ngram_val,
        "order": order,
        "metrics": metrics,
        "samples_head": {n: t[0][:400] for n, t in texts.items()},
        "seconds": round(seconds, 1),
    }
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
