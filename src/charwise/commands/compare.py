"""`charwise compare TEXT --budget SECONDS`: n-grams and RNNs on the same split, one table."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import CharwiseError
from ..experiments.compare import CompareConfig, compare, format_table
from ._options import add_data_options, data_config

EXAMPLES = """examples:
  charwise compare book.txt --budget 300
  charwise compare book.txt --budget 600 --orders 5,10,20 --models lstm,gru --hidden 512
  charwise compare --corpus names --budget 60 --split 0.8,0.1,0.1 --json
"""


def _ints(s: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise CharwiseError(f"--orders needs numbers like 3,6,10 (got {s!r})") from None


def register(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="n-gram baselines vs RNNs on one text, one table",
        description="Count n-grams of a few orders and train RNNs under a time "
        "budget on the same split; print bits per character of each.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="*", help="text files or directories")
    d = CompareConfig()
    p.add_argument(
        "--budget",
        type=float,
        default=d.budget,
        help=f"training seconds per RNN (default {d.budget:g})",
    )
    p.add_argument(
        "--orders",
        default=",".join(map(str, d.orders)),
        help="n-gram orders, comma-separated (default 3,6,10,20; empty: none)",
    )
    p.add_argument("--smoothing", choices=["kn", "wb"], default=d.smoothing)
    p.add_argument(
        "--models",
        default=",".join(d.models),
        help="RNN kinds, comma-separated: lstm,gru,rnn (default lstm; empty: none)",
    )
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--embed", type=int, default=d.embed)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--seq-len", type=int, default=d.seq_len)
    p.add_argument("--max-steps", type=int, help="also stop each RNN after this many steps")
    p.add_argument("--device", default=d.device, help="auto | cpu | cuda | mps")
    p.add_argument("--sample-length", type=int, default=d.sample_length)
    p.add_argument("--temperature", type=float, default=d.temperature)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--out", help="keep the RNN runs in this folder (default: a temporary one)")
    p.add_argument("--json", action="store_true", help="print one JSON object per model")
    add_data_options(p, "data (as for `charwise train`)")
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.text and not args.corpus:
        raise CharwiseError("give text files or directories, or --corpus NAME")
    cfg = CompareConfig(
        orders=_ints(args.orders),
        smoothing=args.smoothing,
        models=tuple(m for m in args.models.split(",") if m.strip()),
        budget=args.budget,
        layers=args.layers,
        hidden=args.hidden,
        embed=args.embed,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        max_steps=args.max_steps,
        device=args.device,
        sample_length=args.sample_length,
        temperature=args.temperature,
        seed=args.seed,
    )

    def progress(row) -> None:
        if args.json:
            print(json.dumps(row.to_dict(), ensure_ascii=False), flush=True)
        else:
            print(
                f"charwise: {row.model} done ({row.train_seconds:.1f} s, val "
                f"{row.val_bpc:.4f} bits/char)",
                file=sys.stderr,
                flush=True,
            )

    rows = compare(data_config(args), cfg, args.out, on_row=progress)
    if not args.json:
        print(format_table(rows))
        print()
        for r in rows:
            print(f"--- {r.model} (temperature {cfg.temperature}) ---\n{r.sample}")
    return 0
