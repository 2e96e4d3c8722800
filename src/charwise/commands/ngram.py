"""`charwise ngram TEXT... --order N --out RUN_DIR`: the count-based baseline."""

from __future__ import annotations

import argparse

from ..errors import CharwiseError
from ..ngram import NGramConfig, train_ngram
from ..use.evaluate import result_from_nats
from ._options import add_data_options, data_config

EXAMPLES = """examples:
  charwise ngram book.txt --order 10 --out runs/book-10gram
  charwise ngram --corpus names --order 5 --out runs/names-5gram --smoothing wb
  charwise sample runs/book-10gram --temperature 0.8
  charwise eval runs/book-10gram --split test
"""


def register(sub) -> None:
    p = sub.add_parser(
        "ngram",
        help="count a smoothed character n-gram model (a baseline)",
        description="Count a character n-gram model on the train split and print "
        "its bits per character on the val and test splits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="*", help="text files or directories")
    p.add_argument(
        "--order",
        type=int,
        default=NGramConfig.order,
        help=f"characters per n-gram, context + 1 (default {NGramConfig.order})",
    )
    p.add_argument(
        "--smoothing",
        default=NGramConfig.smoothing,
        choices=["kn", "wb"],
        help="kn: interpolated modified Kneser-Ney (default); wb: Witten-Bell",
    )
    p.add_argument("--out", help="run directory to write (optional: without it nothing is saved)")
    add_data_options(p, "data (as for `charwise train`)")
    p.set_defaults(func=run)


def run(args) -> int:
    if not args.text and not args.corpus:
        raise CharwiseError("give text files or directories, or --corpus NAME")
    cfg = NGramConfig(order=args.order, smoothing=args.smoothing)
    res = train_ngram(data_config(args), cfg, args.out)
    d = res.model.describe()
    print(
        f"{cfg.order}-gram ({cfg.smoothing}): {d['distinct_ngrams']:,} distinct n-grams from "
        f"{res.train_chars:,} train characters in {res.seconds:.1f} s"
    )
    for name, ids in (("val", res.val), ("test", res.test)):
        if len(ids) < 2:
            print(f"{name:5} (empty split)")
            continue
        r = result_from_nats(*res.model.loss_over_ids(ids))
        print(
            f"{name:5} {r.bits_per_char:.4f} bits/char  {r.nats_per_char:.4f} nats/char  "
            f"({r.chars:,} characters)"
        )
    if res.run_dir:
        print(f"saved to {res.run_dir}  (charwise sample / eval / info {res.run_dir})")
    return 0
