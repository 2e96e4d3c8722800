"""`charwise eval RUN_DIR FILE...`: bits and nats per character and perplexity over any text."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..errors import CharwiseError
from ..fields import option
from ..runs.load import load
from ..runs.run import SPLITS
from ._options import add_options, build


@dataclass(frozen=True)
class EvalCommand:
    split: str | None = option(None, choices=SPLITS)  # the run's own split instead of files
    json: bool = False  # print one JSON object
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N, mps or auto


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="bits per character of a run on any text",
        description="Evaluate a run: loss over text, with the hidden state carried.",
    )
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*", help="text files (or use --split)")
    add_options(p, EvalCommand)
    p.set_defaults(func=run)


def run(args) -> int:
    """Print the run's loss over the files, or over its own --split."""
    cmd = build(args, EvalCommand)
    r = load(args.run_dir, device=cmd.device)
    if bool(args.files) == bool(cmd.split):
        which = "not both" if args.files else "one of them"
        raise CharwiseError(f"give text files to evaluate on or --split val|test|train, {which}")
    res = r.evaluate(r.split(cmd.split)) if cmd.split else r.evaluate_files(args.files)
    if cmd.json:
        print(json.dumps(res.to_dict()))
        return 0
    print(
        f"bits/char   {res.bits_per_char:.4f}\nnats/char   {res.nats_per_char:.4f}\n"
        f"perplexity  {res.perplexity:.3f}\ncharacters  {res.chars:,}"
    )
    if res.unknown_chars:
        print(f"skipped     {res.unknown_chars:,} characters outside the vocabulary: {res.unknown}")
    return 0
