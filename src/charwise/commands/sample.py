"""`charwise sample RUN_DIR`: generate text, streamed to stdout as it is produced."""

from __future__ import annotations

import re
import sys
import unicodedata

from ..checkpoint import load
from ..errors import CharwiseError
from ..novelty import NoveltyFilter
from ..sampling import PRECISIONS, SampleOptions, encode_prime, generate


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
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
_SIMPLE = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}


def unescape(text: str, option: str) -> str:
    """Decode backslash escapes (\\n, \\t, \\\\, \\xNN, \\uNNNN, \\UNNNNNNNN, \\N{NAME}, octal) in
    text typed on the command line. Works on the str itself, so characters typed directly (é, 中)
    pass through unchanged; an unknown escape such as \\q stays as typed, as in Python strings.
    A malformed escape raises a CharwiseError that names `option`."""

    def bad(esc: str, why: str) -> CharwiseError:
        return CharwiseError(f'{option}: bad escape "{esc}": {why} (write \\\\ for a backslash)')

    def one(m: re.Match[str]) -> str:
        esc, body = m.group(0), m.group(1)
        if not body:
            raise bad("\\", "a backslash at the end escapes nothing")
        kind = body[0]
        if kind in _HEX_DIGITS:
            want = _HEX_DIGITS[kind]
            if len(body) - 1 != want:
                raise bad(esc, f"\\{kind} takes exactly {want} hex digits")
            code = int(body[1:], 16)
        elif kind == "N" and len(body) > 1:
            try:
                return unicodedata.lookup(body[2:-1])
            except KeyError:
                raise bad(esc, "no character has that name") from None
        elif kind in "01234567":
            code = int(body, 8)
        else:
            return _SIMPLE.get(body, esc)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:  # past Unicode, or a lone surrogate
            raise bad(esc, f"U+{code:04X} is not a Unicode character")
        return chr(code)

    return _ESCAPE.sub(one, text)


def run(args) -> int:
    r = load(args.run_dir, device=args.device)
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
    shown = 0
    for text in _generate(r, opts, None):
        lines = (opts.prime + text).split("\n")
        # The last line may be cut off by --length; only complete lines count.
        for line in lines[:-1]:
            if nf.is_novel(line):
                print(line)
                shown += 1
    if shown == 0:
        print(
            "charwise: no novel lines in this sample; try a higher --temperature or --length",
            file=sys.stderr,
        )
    return 0
