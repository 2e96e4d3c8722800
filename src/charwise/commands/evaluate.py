"""`charwise eval RUN_DIR FILE...`: bits and nats per character and perplexity over any text."""

from __future__ import annotations

import json

import numpy as np

from ..config import RunConfig
from ..data.corpus import TextChangedError, load_corpus, split_ids
from ..errors import CharwiseError
from ..runs.format import load
from ..use.evaluate import evaluate, evaluate_text


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="bits per character of a run on any text",
        description="Evaluate a run: loss over text, with the hidden state carried.",
    )
    p.add_argument("run_dir")
    p.add_argument("files", nargs="*", help="text files (or use --split)")
    p.add_argument(
        "--split",
        choices=["train", "val", "test"],
        help="evaluate on this split of the run's own training data",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args) -> int:
    r = load(args.run_dir, device=args.device)
    if bool(args.files) == bool(args.split):
        which = "not both" if args.files else "one of them"
        raise CharwiseError(f"give text files to evaluate on or --split val|test|train, {which}")
    if args.split:
        data = RunConfig.from_dict(r.config).data if r.kind != "ngram" else r.model.data_config
        try:
            # The run's split of the text it was trained on: a text edited since would give
            # another split under the same name (--resume refuses it for the same reason).
            corpus = load_corpus(data, vocab=r.vocab, expect_hash=r.config.get("text_hash"))
        except TextChangedError:
            text = ", ".join(data.sources or [str(data.corpus)])
            raise CharwiseError(
                f"the run's text changed since it was trained ({text}), so its --split "
                f"{args.split} would not be the run's; evaluate files instead"
            ) from None
        ids = getattr(split_ids(corpus.ids, data.split), args.split)
        res = evaluate(r, np.asarray(ids))
    else:
        res = evaluate_text(r, args.files)
    if args.json:
        print(json.dumps(res.to_dict()))
        return 0
    print(
        f"bits/char   {res.bits_per_char:.4f}\nnats/char   {res.nats_per_char:.4f}\n"
        f"perplexity  {res.perplexity:.3f}\ncharacters  {res.chars:,}"
    )
    if res.unknown_chars:
        print(f"skipped     {res.unknown_chars:,} characters outside the vocabulary: {res.unknown}")
    return 0
