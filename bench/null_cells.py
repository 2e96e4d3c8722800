"""Interpretable cells against their nulls, on a trained run: how many cells the fixed
thresholds alone call interpretable, how many also beat the shifted-property null, and what the
same thresholds find in an untrained network of the same shape (the other null: cells that
track a property without having learned anything are chance, or the input's echo).

    .venv/bin/python bench/null_cells.py --run /work/runs/structure/linux/rnn --chars 5000
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from charwise.inspect import RankOptions, rank_cells, text_properties
from charwise.inspect.record import RecordOptions, ranked_quantity, record, untrained_like
from charwise.runs.load import load


def summary(res) -> dict:
    return {
        "interpretable": len(res.interpretable),
        "of": res.total_cells,
        "properties": {
            p.name: {
                "best": round(p.best[0].score, 4),
                "null": None if np.isnan(p.null) else round(p.null, 4),
                "untrained": None if np.isnan(p.untrained) else round(p.untrained, 4),
                "cells": p.interpretable,
            }
            for p in res.properties
        },
        "skipped": list(res.skipped),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", required=True)
    ap.add_argument("--chars", type=int, default=5000, help="characters of the val split")
    ap.add_argument("--seed", type=int, default=0, help="the untrained network's seed")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)  # more threads only fight other work on a small shared CPU
    run = load(a.run)
    model = run.network()
    ids = run.split("val")[: a.chars]
    tokens = [run.vocab.token(i) for i in range(run.vocab.size)]
    q = ranked_quantity(model)
    untrained = untrained_like(model, a.seed)
    out = {"run": a.run, "chars": len(ids), "machine": platform.processor() or platform.machine()}
    recs = {
        name: record(net, ids, tokens, RecordOptions(quantities=(q,)))
        for name, net in (("trained", model), ("untrained", untrained))
    }
    props = text_properties(recs["trained"].chars)
    cases = {
        "trained, thresholds only": (recs["trained"], RankOptions(null_shifts=0), None),
        "trained, shifted null": (recs["trained"], RankOptions(), None),
        "trained, both nulls": (recs["trained"], RankOptions(), recs["untrained"]),
        "untrained, thresholds only": (recs["untrained"], RankOptions(null_shifts=0), None),
        "untrained, shifted null": (recs["untrained"], RankOptions(), None),
    }
    for label, (rec, opts, base) in cases.items():
        t0 = time.perf_counter()
        res = rank_cells(rec, props, opts, baseline=base)
        s = summary(res)
        s["seconds"] = round(time.perf_counter() - t0, 2)
        out[label] = s
        print(
            f"{label:<27}: {s['interpretable']:>4} of {s['of']} cells interpretable "
            f"({s['seconds']} s)",
            flush=True,
        )
    print("\n| property | trained best | shifted null | untrained best | cells (both nulls) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    both = out["trained, both nulls"]["properties"]
    for p, v in both.items():
        print(f"| {p} | {v['best']:.3f} | {v['null']:.3f} | {v['untrained']:.3f} | {v['cells']} |")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
