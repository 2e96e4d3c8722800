"""`charwise reference rnn|lstm FILE` trains the plain-numpy references; `check` verifies them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..reference.check import all_checks
from ..reference.lstm import LSTMTrainConfig, LSTMTrainer
from ..reference.rnn import RNNTrainConfig, RNNTrainer
from ._options import add_options, build

EXAMPLES = """examples:
  charwise reference rnn input.txt --steps 5000          # the post's min-char-rnn
  charwise reference lstm input.txt --steps 500 --hidden 128
  charwise reference check                               # gradient checks + PyTorch agreement
"""


def register(sub) -> None:
    p = sub.add_parser(
        "reference",
        help="the plain-numpy RNN and LSTM (train them, check them)",
        description="Plain-numpy models with hand-written backward passes.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    which = p.add_subparsers(dest="which", metavar="MODEL")
    which.required = True
    for name, cfg_name, text in (
        ("rnn", "RNNTrainConfig", "min-char-rnn: vanilla RNN, Adagrad"),
        ("lstm", "LSTMTrainConfig", "batched LSTM, Adam"),
    ):
        q = which.add_parser(name, help=text)
        q.add_argument("file", help="a (small) UTF-8 text file")
        add_options(q, CONFIGS[cfg_name])
        q.set_defaults(func=run, cfg_name=cfg_name)
    c = which.add_parser("check", help="finite-difference gradient checks and PyTorch agreement")
    c.set_defaults(func=run_check)


CONFIGS = {"RNNTrainConfig": RNNTrainConfig, "LSTMTrainConfig": LSTMTrainConfig}


def _read(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise CharwiseError(f"no such file: {path}")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CharwiseError(f"{path} is not valid UTF-8") from None
    if len(text) < 2:
        raise CharwiseError(f"{path} is too short to train on")
    return text


def run(args) -> int:
    cfg = build(args, CONFIGS[args.cfg_name])
    text = _read(args.file)
    vocab = Vocab.from_text(text)
    ids = vocab.encode(text)
    # Only a --seq-len the user chose is an error when the text is too short for it; the
    # default shrinks to fit, so a small file trains without options.
    trainer = (RNNTrainer if args.which == "rnn" else LSTMTrainer)(
        ids, vocab.size, cfg, fit_seq_len=args.seq_len is None
    )
    print(
        f"{len(text):,} characters, {vocab.size} unique; training the numpy {args.which}",
        file=sys.stderr,
    )
    for rep in trainer.run():
        if rep.sample:  # --sample-length 0: the loss only
            print(f"----\n{vocab.decode(rep.sample)}\n----")
        print(f"iter {rep.step}, loss {rep.smooth_loss:.4f}", flush=True)
    return 0


def run_check(args) -> int:
    checks = all_checks()
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        print(f"{mark} {c.name:40} {c.error:.2e} (tolerance {c.tolerance:.0e})")
    bad = sum(not c.ok for c in checks)
    print(f"{len(checks) - bad}/{len(checks)} checks passed")
    return 0 if bad == 0 else 1
