"""The paper's comparison table (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding
Recurrent Networks", its table of test cross-entropy): LSTM, GRU and RNN of 1 to 3 layers at a
few widths on War and Peace and the Linux kernel sample, split 80 / 10 / 10 as in the paper,
each trained for the same number of steps; a 20-gram beside them; the published figures we
could check printed next to ours.

Only two published numbers are quoted: War and Peace, best LSTM 1.077 and 20-gram 1.195 nats per
character (test). The paper's other cells (its Linux column, the GRU and RNN rows) are not
quoted here because they could not be checked against the paper while writing this; add them
with their source when they are.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..config import RunConfig
from ..fields import option, validate
from ..ngram import NGramConfig, train_ngram
from ..nn.devices import pick_device
from ..runs.load import load
from ..training.events import Callbacks
from .registry import PAPER_URL, Budget, Text
from .runner import (
    METRICS_FILE,
    ExperimentOptions,
    command_line,
    machine,
    split_loss,
    text_data,
    train_or_resume,
)

PAPER_SPLIT = (0.8, 0.1, 0.1)


# The paper's table compares the three recurrent cells (no transformer in 2015).
PAPER_KINDS = ("lstm", "gru", "rnn")


@dataclass(frozen=True)
class Grid:
    """The cells of the table and what each trains for."""

    kinds: tuple[str, ...] = option(PAPER_KINDS, choices=PAPER_KINDS, items=True)  # rows
    layers: tuple[int, ...] = option((1, 2, 3), ge=1, items=True)  # rows within a kind
    hidden: tuple[int, ...] = option((64,), ge=1, items=True)  # columns
    max_steps: int = option(100, ge=1)  # optimizer steps per cell
    batch_size: int = option(32, ge=1)  # streams
    seq_len: int = option(64, ge=1)  # BPTT window
    lr: float = option(3e-3, gt=0)  # peak learning rate
    dropout: float = option(0.0, ge=0, lt=1)  # between layers (the paper's best used dropout)
    about: str = ""  # what it costs, in words

    def __post_init__(self) -> None:
        validate(self)

    def budget(self, kind: str, layers: int, hidden: int) -> Budget:
        return Budget(
            kind=kind,
            layers=layers,
            hidden=hidden,
            dropout=self.dropout if layers > 1 else 0.0,
            batch_size=self.batch_size,
            seq_len=self.seq_len,
            lr=self.lr,
            max_steps=self.max_steps,
            # One validation, at the end: the table needs the final model, not a curve, and
            # validating the Linux split (1.6M characters) often would cost more than training.
            eval_every=self.max_steps,
            sample_every=self.max_steps,
            sample_length=200,
        )


@dataclass(frozen=True)
class TableText:
    key: str  # folder name
    label: str  # column group heading
    text: Text
    ngram_order: int | None = None  # the count-based baseline beside the RNNs (None: none)


@dataclass(frozen=True)
class Published:
    text: str  # TableText.key
    model: str  # as the paper names it
    test_nats: float  # test cross-entropy, nats per character
    source: str  # where in the paper


@dataclass(frozen=True)
class PaperTable:
    name: str = "paper-table"
    title: str = "The paper's table: LSTM, GRU and RNN of 1-3 layers"
    texts: tuple[TableText, ...] = ()
    cpu: Grid = field(default_factory=Grid)
    long: Grid = field(default_factory=Grid)
    claim: str = (
        "LSTM and GRU do better than the plain RNN, more than one layer helps, and the best "
        "LSTM's test loss is well below the 20-gram's (War and Peace: 1.077 against 1.195 "
        "nats per character)."
    )
    published: tuple[Published, ...] = ()

    def budget(self, long: bool) -> Grid:
        return self.long if long else self.cpu


PAPER_TABLE = PaperTable(
    texts=(
        TableText(
            "warpeace",
            "War and Peace",
            Text(
                file="warpeace.txt",
                origin="Tolstoy's War and Peace, char-rnn's warpeace_input.txt; see PROVENANCE.md",
                split=PAPER_SPLIT,
                split_rows=100,  # char-rnn's loader, as the paper split its texts
            ),
            ngram_order=20,
        ),
        # No n-gram on Linux by default: a 20-gram of 12.7M characters needs several GB.
        TableText(
            "linux",
            "Linux kernel",
            Text(
                file="linux_kernel_sample.txt",
                origin="kernel/ and mm/ C of Linux 6.1.192 (16 MB); see PROVENANCE.md",
                split=PAPER_SPLIT,
                split_rows=100,  # char-rnn's loader, as the paper split its texts
            ),
        ),
    ),
    cpu=Grid(
        hidden=(64,),
        max_steps=400,
        about="18 cells of 400 steps and a 20-gram: ~5 CPU-minutes (measured: 309 s, 1 thread)",
    ),
    long=Grid(
        hidden=(64, 128, 256, 512),
        max_steps=20000,
        batch_size=64,
        seq_len=100,
        lr=2e-3,
        dropout=0.25,
        about="72 cells of 20,000 steps: ~5 h on an H200, one cell at a time (estimated: not run)",
    ),
    published=(
        Published("warpeace", "best LSTM", 1.077, f"{PAPER_URL}: its test cross-entropy table"),
        Published("warpeace", "20-gram", 1.195, f"{PAPER_URL}: its n-gram comparison"),
    ),
)


def cell_label(kind: str, layers: int, hidden: int) -> str:
    return f"{kind}-{layers}x{hidden}"


def run_table(
    table: PaperTable,
    opts: ExperimentOptions,
    out: Path,
    cb: Callbacks | None = None,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train every cell (resuming finished ones is free), score each on its text's test split;
    returns and writes what metrics.json holds."""
    grid = table.budget(opts.long)
    datas = {t.key: text_data(t.text, table.name, opts) for t in table.texts}  # fail early
    cells = []
    for t in table.texts:
        if t.ngram_order:
            t0 = time.perf_counter()
            res = train_ngram(datas[t.key], NGramConfig(order=t.ngram_order))
            total, n = res.model.loss_over_ids(res.test)
            cell = {
                "text": t.key,
                "model": f"{t.ngram_order}-gram",
                "params": None,
                "test_nats": total / n,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            cells.append(cell)
            if on_cell:
                on_cell(cell)
        for kind in grid.kinds:
            for layers in grid.layers:
                for hidden in grid.hidden:
                    b = grid.budget(kind, layers, hidden)
                    tc = b.train_config(
                        max_steps=opts.max_steps,
                        max_time=opts.max_time,
                        device=opts.device,
                        threads=opts.threads,
                        seed=opts.seed,
                    )
                    cfg = RunConfig(b.model_config(), datas[t.key], tc)
                    run_dir = out / t.key / cell_label(kind, layers, hidden)
                    res = train_or_resume(cfg, run_dir, cb or Callbacks())
                    run = load(run_dir, device=pick_device(opts.device))
                    test = split_loss(run, "test")
                    val = split_loss(run, "val")
                    cell = {
                        "text": t.key,
                        "model": cell_label(kind, layers, hidden),
                        "kind": kind,
                        "layers": layers,
                        "hidden": hidden,
                        "params": run.model.num_params,
                        "steps": res.steps,
                        "seconds": round(res.elapsed, 1),
                        "val_nats": val and val["nats_per_char"],
                        "test_nats": test and test["nats_per_char"],
                    }
                    cells.append(cell)
                    if on_cell:
                        on_cell(cell)
    metrics = {
        "experiment": table.name,
        "title": table.title,
        "long": opts.long,
        "command": command_line(table, opts),
        "machine": machine(pick_device(opts.device).type),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "grid": asdict(grid),
        "cells": cells,
        "published": [asdict(p) for p in table.published],
        "texts": {t.key: t.label for t in table.texts},
    }
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / METRICS_FILE, json.dumps(metrics, indent=1))
    return metrics


def format_table(metrics: dict[str, Any]) -> str:
    """Test nats/char per cell, a column per text; then the best of each kind per text beside
    the published figure where there is one."""
    texts = metrics["texts"]
    by = {(c["text"], c["model"]): c for c in metrics["cells"]}
    models = list(dict.fromkeys(c["model"] for c in metrics["cells"]))
    head = "| model | params | " + " | ".join(texts.values()) + " |"
    lines = [head, "|" + " --- |" * (2 + len(texts))]
    for m in models:
        params = next((by[k, m]["params"] for k in texts if (k, m) in by), None)
        vals = [by.get((k, m)) for k in texts]
        shown = [f"{c['test_nats']:.3f}" if c and c["test_nats"] is not None else "" for c in vals]
        size = f"{params:,}" if params is not None else ""
        lines.append(f"| {m} | {size} | " + " | ".join(shown) + " |")
    lines += ["", "| text | ours | published (the paper) |", "| --- | --- | --- |"]
    for p in metrics["published"]:
        ours = _ours_for(metrics["cells"], p)
        lines.append(
            f"| {texts.get(p['text'], p['text'])}, {p['model']} | {ours} | {p['test_nats']:.3f} |"
        )
    return "\n".join(lines)


def _ours_for(cells: list[dict[str, Any]], p: dict[str, Any]) -> str:
    """Our figure for a published row: the same n-gram, or our best cell of that kind."""
    mine = [c for c in cells if c["text"] == p["text"] and c["test_nats"] is not None]
    if "gram" in p["model"]:
        same = [c for c in mine if c["model"] == p["model"]]
        return f"{same[0]['test_nats']:.3f}" if same else "not run"
    kind = p["model"].split()[-1].lower()
    of_kind = [c for c in mine if c.get("kind") == kind]
    if not of_kind:
        return "not run"
    best = min(of_kind, key=lambda c: c["test_nats"])
    return f"{best['test_nats']:.3f} ({best['model']})"
