"""Beam search against sampling, honestly: how likely each decoder's text is under the model, and
how repetitive it is, next to the real text that followed the same primes.

For P primes from the run's own validation split (each the `--prime-chars` characters before a
line start), every decoder continues each prime for `--length` characters:

    real text       what actually followed the prime (the baseline: how text the model was
                    trained to predict scores and repeats)
    sample T=...    charwise sample's default sampling, at each temperature
    beam N          beam search of width N (beam 1 is greedy)

and the table reports, averaged over the primes:

    nats/char       -log p(text | prime) / characters under the run's own model (lower: more
                    likely; beam search maximises exactly this)
    distinct 4-gr   distinct 4-grams / 4-grams in the text (1.0: no 4-gram repeats)
    repeat 20-gr    share of the text's 20-grams that already occurred earlier in it (0.0: no
                    repetition of whole phrases; the known failure of beam search)

A last pair of rows shows the length penalty: beam search that stops at a blank line (the end
of a speech in a play; the blank line kept), ranked by plain log-probability (alpha 0) and by
GNMT's per-length score (alpha 1), with the mean length of the text it returns, next to the
real text cut the same way (the real speeches' length is the baseline).

    PYTHONPATH=src .venv/bin/python bench/beam.py RUN_DIR [RUN_DIR ...] [--primes 8]
        [--length 200] [--beams 1,4,16] [--temperatures 1.0,0.7] [--json OUT]

Any run kind works (RNN or n-gram): the script uses only the Run interface.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from charwise.runs.load import load
from charwise.use.sampling import SampleOptions


def distinct_share(text: str, n: int) -> float:
    grams = [text[i : i + n] for i in range(len(text) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def repeat_share(text: str, n: int) -> float:
    """Share of the n-grams of `text` that occurred earlier in it."""
    return 1.0 - distinct_share(text, n) if len(text) >= n else 0.0


def primes_of(run, count: int, chars: int, length: int) -> list[tuple[str, str]]:
    """(prime, the real continuation) pairs, evenly spread over the val split, each prime
    ending at a blank line (in a play: where the next speech begins), so every decoder starts
    a new speech."""
    text = run.vocab.decode(run.split("val"))
    starts = [i + 2 for i in range(chars, len(text) - length - 2) if text[i : i + 2] == "\n\n"] or [
        i + 1 for i in range(chars, len(text) - length - 1) if text[i] == "\n"
    ]
    if len(starts) < count:
        raise SystemExit(f"the val split is too short for {count} primes")
    picks = [starts[k * len(starts) // count] for k in range(count)]
    return [(text[p - chars : p], text[p : p + length]) for p in picks]


def nats_per_char(run, prime: str, text: str) -> float:
    """-log p(text | prime) / len(text) under the run's model (through Run.loss_over_ids)."""
    whole, _ = run.loss_over_ids(np.asarray(run.vocab.encode(prime + text)))
    before, _ = run.loss_over_ids(np.asarray(run.vocab.encode(prime)))
    return (whole - before) / max(1, len(text))


def measure(run, pairs, name: str, make) -> dict:
    rows, texts, t0 = [], [], time.perf_counter()
    for k, (prime, real) in enumerate(pairs):
        if make == "speech":  # the real text up to its first blank line, kept as the stop keeps it
            cut = real.find("\n\n")
            text = real if cut < 0 else real[: cut + 2]
        else:
            text = real if make is None else run.generate(make(prime, k))[0]
        texts.append(text)
        rows.append(
            {
                "nats": nats_per_char(run, prime, text),
                "d4": distinct_share(text, 4),
                "r20": repeat_share(text, 20),
                "chars": len(text),
            }
        )
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["seconds_per_text"] = (
        0.0 if make in (None, "speech") else (time.perf_counter() - t0) / len(pairs)
    )
    out["decoder"] = name
    out["example"] = texts[0][:120]  # the first prime's continuation, for the notes
    return out


def bench_run(run_dir: str, args) -> list[dict]:
    run = load(run_dir)
    pairs = primes_of(run, args.primes, args.prime_chars, args.length)
    L = args.length
    decoders = [("real text", None)]
    for t in args.temperatures:
        decoders.append(
            (
                f"sample T={t:g}",
                lambda p, k, t=t: SampleOptions(prime=p, length=L, temperature=t, seed=k),
            )
        )
    for b in args.beams:
        decoders.append((f"beam {b}", lambda p, k, b=b: SampleOptions(prime=p, length=L, beam=b)))
    W = max(args.beams)  # narrow beams rarely end a speech: they loop (see the examples)
    decoders.append(("real text, one speech", "speech"))
    for alpha in (0.0, 1.0):
        decoders.append(
            (
                f"beam {W}, one speech (stop at a blank line), alpha {alpha:g}",
                lambda p, k, a=alpha: SampleOptions(
                    prime=p, length=L, beam=W, stop_regex="\n\n", length_penalty=a
                ),
            )
        )
    results = []
    for name, make in decoders:
        r = measure(run, pairs, name, make)
        r["run"] = run_dir
        results.append(r)
        print(
            f"{run_dir}  {name:<36} {r['nats']:7.3f} nats/char  distinct 4-gr {r['d4']:.3f}  "
            f"repeat 20-gr {r['r20']:.3f}  {r['chars']:6.1f} chars  "
            f"{r['seconds_per_text']:.2f} s/text",
            flush=True,
        )
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--primes", type=int, default=8)
    ap.add_argument("--prime-chars", type=int, default=200)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--beams", default="1,4,16")
    ap.add_argument("--temperatures", default="1.0,0.7")
    ap.add_argument("--json", default=None)
    # One thread: these are small ops (a few rows), and on a shared 2-core machine torch's second
    # thread made each one wait for a descheduled thread (milliseconds instead of microseconds).
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.beams = [int(b) for b in args.beams.split(",")]
    args.temperatures = [float(t) for t in args.temperatures.split(",")]
    results = [r for d in args.run_dirs for r in bench_run(d, args)]
    print("\n| run | decoder | nats/char | distinct 4-grams | repeated 20-grams | chars |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['run']} | {r['decoder']} | {r['nats']:.3f} | {r['d4']:.3f} | {r['r20']:.3f} "
            f"| {r['chars']:.0f} |"
        )
    print("\nthe first prime's continuations:")
    for r in results:
        print(f"  {Path(r['run']).name}  {r['decoder']:<36} {r['example'][:100]!r}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
