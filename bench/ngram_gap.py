"""Why our War and Peace 20-gram (1.268 nats/char) is 6% worse than the paper's (1.195): one
table, test nats/char side by side, changing one thing at a time.

    CHARWISE_CACHE=/tmp/cwcache PYTHONPATH=src .venv/bin/python bench/ngram_gap.py
    ... bench/ngram_gap.py --rows quick          # the 20-gram rows only, no PPM

What each row changes (Karpathy, Johnson & Fei-Fei 2015 trained with char-rnn):
- smoothing: interpolated modified Kneser-Ney with the counts-of-counts discounts (charwise's
  default), the same with discounts tuned on the val split (--discounts tune), and with a
  strength per order tuned too (kn-strength: the predictive rule of a hierarchical Pitman-Yor
  model with one table per type, Teh 2006), Kneser-Ney as a backoff model, Witten-Bell, PPM-C
  and PPMD with exclusion (ngram/variants.py);
- the split: charwise's contiguous 80/10/10 (test = the book's last 10%: most of the second
  epilogue) against char-rnn's: CharSplitLMMinibatchLoader cuts the text into `--batch` rows
  (contiguous 1/B of the book each), splits each row into `--seq`-character columns, and gives
  the first 80% of the columns to train, so its test split is the last 10% of each of B pieces,
  spread through the whole book; the 90/5/5 contiguous split shows what more training text does;
- the edition: the paper's War and Peace had 3,258,246 characters (its section 4), ours
  3,196,214. char-rnn reads bytes, and the difference is the 62,016 line breaks: the paper's copy
  had CR LF line endings, where every LF after a CR is nearly free to predict. The "crlf-bytes"
  text is ours with CR LF line endings, read as bytes (3,258,247 bytes), as char-rnn read it.

Each test character is predicted from the order-1 characters before it in the book (for char-rnn's
split: the preceding text, as a carried RNN state sees it; for a contiguous split: charwise's
definition, from the start of the split). Writes a JSON file next to the table.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from charwise.config import DataConfig
from charwise.data.corpus import load_corpus, split_ids
from charwise.ngram.counting import build_levels
from charwise.ngram.model import NGramTables, contexts_of
from charwise.ngram.tune import fit_smoothing, held_out_features, held_out_nats
from charwise.ngram.variants import backoff_dist, ppm_dist

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAPER = 1.195  # the paper's War and Peace 20-gram, test nats/char
TABLES = {
    "kn": "kn",
    "kn-tuned": "kn",
    "kn-strength": "kn",
    "kn-backoff": "kn",
    "wb": "wb",
    "ppm-c": "wb",
    "ppmd": "wb",
}

# (text, split, model, order)
ALL_ROWS = [
    *[("lf", "contig-80", "kn", o) for o in (5, 7, 10, 20)],
    ("lf", "contig-80", "kn-tuned", 7),
    ("lf", "contig-80", "kn-tuned", 20),
    ("lf", "contig-80", "kn-strength", 20),
    *[("lf", "contig-80", "kn-backoff", o) for o in (5, 7, 20)],
    ("lf", "contig-80", "wb", 20),
    ("lf", "contig-80", "ppm-c", 20),
    ("lf", "contig-80", "ppmd", 8),
    ("lf", "contig-80", "ppmd", 20),
    ("lf", "contig-90", "kn", 20),
    ("lf", "char-rnn", "kn", 20),
    ("lf", "char-rnn", "kn-tuned", 20),
    ("crlf-bytes", "contig-80", "kn", 20),
    ("crlf-bytes", "char-rnn", "kn", 7),
    ("crlf-bytes", "char-rnn", "kn", 20),
    ("crlf-bytes", "char-rnn", "kn-tuned", 20),
    ("crlf-bytes", "char-rnn", "kn-strength", 20),
    ("crlf-bytes", "char-rnn", "ppmd", 20),
]
QUICK_ROWS = [r for r in ALL_ROWS if r[3] == 20 and not r[2].startswith("ppm")]


@dataclass
class Split:
    """train: (N,) ids to count; val / test: (ids, positions) to predict ids[positions]."""

    train: np.ndarray
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    vocab_size: int


def load_text(name: str, src: Path, work: Path):
    if name == "lf":
        return load_corpus(DataConfig(sources=(str(src),)))
    path = work / f"{src.stem}_crlf.txt"
    if not path.exists():
        path.write_bytes(src.read_bytes().replace(b"\n", b"\r\n"))
    return load_corpus(DataConfig(sources=(str(path),), bytes_mode=True))


def contiguous(ids: np.ndarray, V: int, train_frac: float) -> Split:
    rest = (1 - train_frac) / 2
    s = split_ids(ids, (train_frac, rest, rest))
    parts = [np.asarray(x, dtype=np.int64) for x in (s.train, s.val, s.test)]
    return Split(parts[0], *[(p, np.arange(1, len(p))) for p in parts[1:]], V)


def charrnn(ids: np.ndarray, V: int, batch: int, seq: int, fracs=(0.8, 0.1)) -> Split:
    """char-rnn's CharSplitLMMinibatchLoader on `ids`: cut to a multiple of batch*seq, B rows,
    columns of `seq`; the first floor(0.8 n) columns train, the next floor(0.1 n) val."""
    ids = np.asarray(ids, dtype=np.int64)
    n = len(ids) // (batch * seq) * batch * seq
    row_len = n // batch
    n_cols = row_len // seq
    n_train, n_val = int(n_cols * fracs[0]) * seq, int(n_cols * fracs[1]) * seq
    starts = np.arange(batch) * row_len

    def positions(lo: int, hi: int) -> np.ndarray:
        return (starts[:, None] + np.arange(lo, hi)[None, :]).ravel()

    return Split(
        ids[positions(0, n_train)],  # the B train pieces, one after another
        (ids, positions(n_train, n_train + n_val)),
        (ids, positions(n_train + n_val, row_len)),
        V,
    )


def score(model: str, tables: NGramTables, split: tuple[np.ndarray, np.ndarray]) -> float:
    """Mean nats of predicting ids[positions] from the order-1 characters before each."""
    ids, pos = split
    total = 0.0
    chunk = 1 << 16 if model in ("kn", "kn-tuned", "wb") else 1 << 13
    for i in range(0, len(pos), chunk):
        t = pos[i : i + chunk]
        ctx = contexts_of(ids, t, tables.order - 1, tables.V)
        if model in ("kn", "kn-tuned", "wb"):
            p = tables.prob_of(ctx, ids[t])
        else:
            dist = {
                "kn-backoff": lambda c: backoff_dist(tables, c),
                "ppm-c": lambda c: ppm_dist(tables, c, "C"),
                "ppmd": lambda c: ppm_dist(tables, c, "D"),
            }[model]
            p = dist(ctx)[np.arange(len(t)), ids[t]]
        total -= float(np.log(p).sum())
    return total / len(pos)


def tuned(tables: NGramTables, split: Split, strength: bool) -> tuple[float, float, dict]:
    """Fit the discounts (and strengths) to the val positions; (val, test) nats/char."""
    val_f = held_out_features(tables, *split.val)
    disc, theta = fit_smoothing(tables, val_f, len(split.val[1]), strength=strength)
    D = torch.tensor(disc)
    S = None if theta is None else torch.tensor(theta)
    test_f = held_out_features(tables, *split.test)
    out = [
        float(held_out_nats(f, D, len(s[1]), tables.V, S)) / len(s[1])
        for f, s in ((val_f, split.val), (test_f, split.test))
    ]
    fitted = {"discounts": np.round(disc, 4).tolist()}
    if theta is not None:
        fitted["strength"] = np.round(theta, 4).tolist()
    return out[0], out[1], fitted


def regions(text: Path, work: Path, order: int = 20) -> None:
    """Where the contiguous test split is hard: the LF 20-gram's test nats/char on the part of
    the novel's last book in it, the first epilogue and the second (an essay on history)."""
    corpus = load_text("lf", text, work)
    ids, V = np.asarray(corpus.ids, dtype=np.int64), corpus.vocab.size
    split = contiguous(ids, V, 0.8)
    tables = NGramTables(build_levels(split.train, V, order, "kn"), split.train, V, "kn")
    raw = text.read_text(encoding="utf-8")
    test_start = len(ids) - len(split.test[0])
    marks = [raw.find("FIRST EPILOGUE"), raw.find("SECOND EPILOGUE")]
    bounds = [0, *[max(m - test_start, 1) for m in marks], len(split.test[0])]
    names = ("book 15 (end)", "first epilogue", "second epilogue")
    for name, lo, hi in zip(names, bounds[:-1], bounds[1:], strict=True):
        pos = np.arange(max(lo, 1), hi)
        nats = score("kn", tables, (split.test[0], pos))
        print(f"{name:16} {len(pos):8,} characters  {nats:.4f} nats/char", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", choices=("all", "quick"), default="all")
    ap.add_argument("--only", default="", help="comma-separated models: only these rows")
    ap.add_argument("--splits", default="", help="comma-separated splits: only these rows")
    ap.add_argument("--batch", type=int, default=100, help="char-rnn split: rows (batch size)")
    ap.add_argument("--seq", type=int, default=100, help="char-rnn split: columns (seq length)")
    ap.add_argument("--text", default=str(DATA / "warpeace.txt"), help="the LF text")
    ap.add_argument("--work", default="runs/ngram_gap", help="folder for the CR LF copy")
    ap.add_argument("--json", default="bench/ngram_gap.json")
    ap.add_argument("--regions", action="store_true", help="only the test split's parts")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.regions:
        regions(Path(args.text), work)
        return
    rows = ALL_ROWS if args.rows == "all" else QUICK_ROWS
    if args.only:
        rows = [r for r in rows if r[2] in args.only.split(",")]
    if args.splits:
        rows = [r for r in rows if r[1] in args.splits.split(",")]
    results = []
    header = f"{'text':10} {'split':9} {'model':11} {'order':>5} {'val':>7} {'test':>7} {'s':>6}"
    print(header, flush=True)
    texts: dict[str, object] = {}
    for text, split_name, order in dict.fromkeys((r[0], r[1], r[3]) for r in rows):
        corpus = texts.get(text) or texts.setdefault(text, load_text(text, Path(args.text), work))
        ids, V = np.asarray(corpus.ids, dtype=np.int64), corpus.vocab.size
        if split_name == "char-rnn":
            split = charrnn(ids, V, args.batch, args.seq)
        else:
            split = contiguous(ids, V, 0.8 if split_name == "contig-80" else 0.9)
        models = [r[2] for r in rows if (r[0], r[1], r[3]) == (text, split_name, order)]
        for smoothing in dict.fromkeys(TABLES[m] for m in models):
            t0 = time.perf_counter()
            levels = build_levels(split.train, V, order, smoothing)
            tables = NGramTables(levels, split.train, V, smoothing)
            count_s = time.perf_counter() - t0
            for model in (m for m in models if TABLES[m] == smoothing):
                t0 = time.perf_counter()
                fitted = {}
                if model in ("kn-tuned", "kn-strength"):
                    val, test, fitted = tuned(tables, split, model == "kn-strength")
                else:
                    val, test = score(model, tables, split.val), score(model, tables, split.test)
                sec = time.perf_counter() - t0 + count_s
                row = {
                    "text": text,
                    "split": split_name,
                    "model": model,
                    "order": order,
                    "val_nats": round(val, 4),
                    "test_nats": round(test, 4),
                    "seconds": round(sec, 1),
                    "train_chars": len(split.train),
                    "test_chars": len(split.test[1]),
                    "vocab": V,
                }
                row.update(fitted)
                results.append(row)
                print(
                    f"{text:10} {split_name:9} {model:11} {order:>5} {val:7.4f} {test:7.4f} "
                    f"{sec:6.1f}",
                    flush=True,
                )
            del levels, tables
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"paper's 20-gram: {PAPER} test nats/char; peak memory {peak:.2f} GB", flush=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()} {platform.processor()}".strip(),
                "batch": args.batch,
                "seq": args.seq,
                "paper": PAPER,
                "rows": results,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
