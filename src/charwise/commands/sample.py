"""`charwise sample RUN_DIR`: generate text, streamed to stdout as it is produced."""

from __future__ import annotations

import codecs
import re
import sys

from ..data.novelty import NoveltyFilter
from ..errors import CharwiseError
from ..runs.format import load
from ..use.sampling import PRECISIONS, SampleOptions, encode_prime, generate


def register(sub) -> None:
    p = sub.add_parser(
        "sample",
        help="generate text from a trained run",
        description="Generate text one character at a time.",
    )
    p.add_argument("run_dir", help="run directory written by `charwise train` or `charwise ngram`")
    p.add_argument(
        "--length", "-n", type=int, default=500, help="characters per sample (default 500)"
    )
    p.add_argument(
        "--prime", default="", help="text the model reads first; the sample continues it"
    )
    p.add_argument(
        "--temperature",
        "-t",
        type=float,
        default=1.0,
        help="softmax temperature: lower is safer, higher is wilder (default 1.0)",
    )
    p.add_argument("--top-k", type=int, help="sample among the k most likely characters only")
    p.add_argument(
        "--top-p", type=float, help="nucleus sampling: smallest set with this probability"
    )
    p.add_argument("--argmax", action="store_true", help="always take the most likely character")
    p.add_argument("--seed", type=int, help="random seed (the same seed gives the same text)")
    p.add_argument(
        "--num-samples", "-m", type=int, default=1, help="samples, generated as one batch"
    )
    p.add_argument("--stop-at", help="end a sample when it produces this string (e.g. '\\n\\n')")
    p.add_argument(
        "--novel",
        action="store_true",
        help="print only lines that do not occur in the training text",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="matmul precision: fp32, bf16, or auto (default: bf16 for 32 or more samples where "
        "the hardware has native bf16, as bf16-autocast training uses; else fp32)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    p.set_defaults(func=run)


# One backslash escape, as in a Python string literal. The hex forms take up to their full digit
# count, so a short one ("\x4") is matched whole and reported rather than left half-read.
_ESCAPE = re.compile(
    r"\\(x[0-9A-Fa-f]{0,2}|u[0-9A-Fa-f]{0,4}|U[0-9A-Fa-f]{0,8}|N\{[^}]*\}|[0-7]{1,3}|.|\Z)",
    re.DOTALL,
)
_KNOWN = set("\\'\"abfnrtvxuUN01234567")  # escapes Python's unicode_escape codec decodes


def unescape(text: str, option: str) -> str:
    """Decode backslash escapes (\\n, \\t, \\\\, \\xNN, \\uNNNN, \\UNNNNNNNN, \\N{NAME}, octal) in
    text typed on the command line, one escape at a time with Python's unicode_escape codec, so
    characters typed directly (é, 中) pass through unchanged (decoding the whole text as
    unicode_escape mangled them). An unknown escape such as \\q stays as typed, as in Python
    strings. A malformed escape raises a CharwiseError that names `option`."""

    def one(m: re.Match[str]) -> str:
        esc = m.group(0)
        if esc == "\\":
            why = "a backslash at the end escapes nothing"
        elif esc[1] not in _KNOWN:
            return esc
        else:
            try:
                ch = codecs.decode(esc, "unicode_escape")
            except UnicodeDecodeError as e:  # "truncated \xXX escape", "unknown Unicode ..."
                full_u = esc[1] == "U" and len(esc) == 10  # only its value can be wrong
                why = f"U+{int(esc[2:], 16):04X} is beyond Unicode" if full_u else e.reason
            else:
                if not (len(ch) == 1 and 0xD800 <= ord(ch) <= 0xDFFF):
                    return ch
                why = f"U+{ord(ch):04X} is a lone surrogate, not a character"
        raise CharwiseError(f'{option}: bad escape "{esc}": {why} (write \\\\ for a backslash)')

    return _ESCAPE.sub(one, text)


def run(args) -> int:
    r = load(args.run_dir, device=args.device)
    if args.argmax:  # greedy decoding draws nothing: say so rather than ignore them silently
        unused = [
            name
            for name, given in (
                ("--temperature", args.temperature != 1.0),
                ("--top-k", args.top_k is not None),
                ("--top-p", args.top_p is not None),
            )
            if given
        ]
        if unused:
            print(
                f"charwise: note: --argmax takes the most likely character; {', '.join(unused)} "
                "change nothing",
                file=sys.stderr,
            )
    opts = SampleOptions(
        length=args.length,
        prime=unescape(args.prime, "--prime"),
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        argmax=args.argmax,
        seed=args.seed,
        num_samples=args.num_samples,
        stop_at=None if args.stop_at is None else unescape(args.stop_at, "--stop-at"),
        precision=args.precision,
    )
    if opts.prime:  # unknown characters: fail before the prime is echoed to stdout
        encode_prime(r.vocab, opts.prime)
    if args.novel:
        return _novel(args, r, opts)
    out = sys.stdout
    if opts.num_samples == 1:
        out.write(opts.prime)

        def on_text(_s: int, piece: str) -> None:
            out.write(piece)
            out.flush()

        _generate(r, opts, on_text)
        out.write("\n")
    else:
        for i, text in enumerate(_generate(r, opts, None)):
            out.write(("" if i == 0 else "\n---\n") + opts.prime + text)
        out.write("\n")
    out.flush()
    return 0


def _generate(r, opts, on_text):
    if r.kind == "ngram":
        return r.model.generate(opts, on_text)
    return generate(r.model, r.vocab, opts, on_text)


def _novel(args, r, opts) -> int:
    nf = NoveltyFilter(r.path, r.vocab)
    if not nf.available:
        raise CharwiseError(
            f"{args.run_dir} keeps no list of training lines, so --novel cannot check"
        )
    # Lines are checked and printed as each stream completes them, so output flows while it
    # samples (and a Ctrl-C keeps what was printed).
    tails, shown = [opts.prime] * opts.num_samples, 0

    def emit(line: str) -> None:
        nonlocal shown
        if nf.is_novel(line):
            print(line, flush=True)
            shown += 1

    def on_text(s: int, piece: str) -> None:
        *whole, tails[s] = (tails[s] + piece).split("\n")
        for line in whole:
            emit(line)

    texts = _generate(r, opts, on_text)
    # A stream that --length cut off ends in a partial line, which is not checked; one that
    # --stop-at ended (before its full length) ends in a whole one (--stop-at '\n': one line).
    for s, text in enumerate(texts):
        if opts.stop_at and len(text) < opts.length:
            emit(tails[s])
    if shown == 0:
        hint = "a higher --temperature or --length"
        if opts.stop_at:
            hint = "a higher --temperature or --num-samples"
        print(f"charwise: no novel lines in this sample; try {hint}", file=sys.stderr)
    return 0
