"""`charwise ngram TEXT... --order N --out RUN_DIR`: the count-based baseline."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..config import DataConfig
from ..ngram import NGramConfig, train_ngram
from ..use.evaluate import result_from_nats
from ._options import add_options, build, data_config

EXAMPLES = """examples:
  charwise ngram book.txt --order 10 --out runs/book-10gram
  charwise ngram --corpus names --order 5 --out runs/names-5gram --smoothing wb
  charwise sample runs/book-10gram --temperature 0.8
  charwise eval runs/book-10gram --split test
"""


@dataclass(frozen=True)
class NGramCommand:
    out: str | None = None  # run directory to write (without it nothing is saved)


def register(sub) -> None:
    p = sub.add_parser(
        "ngram",
        help="count a smoothed character n-gram model (a baseline)",
        description="Count a character n-gram model on the train split and print "
        "its bits per character on the val and test splits.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, NGramConfig)
    add_options(p, NGramCommand)
    add_options(
        p.add_argument_group("data (as for `charwise train`)"), DataConfig, positional="sources"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    """Count the n-gram, print its val and test loss, and save it where --out says."""
    data = data_config(args)
    cfg, out = build(args, NGramConfig), build(args, NGramCommand).out
    res = train_ngram(data, cfg, out)
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
