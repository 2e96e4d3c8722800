"""`charwise compare TEXT --budget SECONDS`: n-grams and RNNs on the same split, one table."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from ..config import DataConfig
from ..experiments.compare import CompareConfig, compare, format_table
from ._options import add_options, build, data_config

EXAMPLES = """examples:
  charwise compare book.txt --budget 300
  charwise compare book.txt --budget 600 --orders 5,10,20 --models lstm,gru --hidden 512
  charwise compare book.txt --budget 300 --orders 10 --models gru,transformer
  charwise compare --corpus names --budget 60 --split 0.8,0.1,0.1 --json
"""


@dataclass(frozen=True)
class CompareCommand:
    out: str | None = None  # keep the RNN runs in this folder (default: a temporary one)
    json: bool = False  # print one JSON object per model


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="n-gram baselines vs RNNs and a transformer on one text, one table",
        description="Count n-grams of a few orders and train RNNs (or a transformer) under a "
        "time budget on the same split; print bits per character of each.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, CompareConfig)
    add_options(p, CompareCommand)
    add_options(
        p.add_argument_group("data (as for `charwise train`)"), DataConfig, positional="sources"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    """Train and score every model, printing each row as it is ready, then the table."""
    data, cfg, cmd = data_config(args), build(args, CompareConfig), build(args, CompareCommand)

    def progress(row) -> None:
        if cmd.json:
            print(json.dumps(row.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(
                f"charwise: {row.model} done ({row.train_seconds:.1f} s, val "
                f"{row.val_bpc:.4f} bits/char)",
                file=sys.stderr,
                flush=True,
            )

    rows = compare(data, cfg, cmd.out, on_row=progress)
    if not cmd.json:
        print(format_table(rows))
        print()
        for r in rows:
            print(f"--- {r.model} (temperature {cfg.temperature}) ---\n{r.sample}")
    return 0
