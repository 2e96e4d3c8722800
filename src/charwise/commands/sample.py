"""`charwise sample RUN_DIR`: generate text, streamed to stdout as it is produced."""

from __future__ import annotations

import codecs
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..data.novelty import NoveltyFilter
from ..errors import CharwiseError
from ..fields import FieldError, literal
from ..runs.dynamic import adapted_sample
from ..runs.load import load
from ..use.dynamic import DynamicConfig
from ..use.sampling import SampleOptions, encode_prime
from ._options import add_options, build, collect
from .flags import flag


@dataclass(frozen=True)
class SampleCommand:
    """`charwise sample`'s own options (the sampling ones are SampleOptions')."""

    novel: bool = False  # print only lines that do not occur in the training text
    prime_file: str | None = None  # read the prime from this UTF-8 text file (for long primes)
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N, mps or auto
    adapt: str | None = None  # read this text with dynamic evaluation on, then sample in its style


# --precision is the sampler's here; dynamic evaluation's own uses its default (auto).
ADAPT_SKIP = frozenset({"precision"})


def register(sub) -> None:
    p = sub.add_parser(
        "sample",
        help="generate text from a trained run",
        description="Generate text one character at a time.",
    )
    p.add_argument("run_dir", help="run directory written by `charwise train` or `charwise ngram`")
    add_options(p, SampleOptions)
    add_options(p, SampleCommand)
    group = p.add_argument_group("adaptation (with --adapt FILE)")
    add_options(group, DynamicConfig, skip=ADAPT_SKIP)
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
    """Print samples: one streamed as it is produced, or several separated by ---."""
    cmd = build(args, SampleCommand)
    r = load(args.run_dir, device=cmd.device)
    given = collect(args, SampleOptions)
    for name in ("prime", "stop_at"):  # a regex has its own escapes (\n, \t, \x41, \u00e9)
        if name in given:
            given[name] = unescape(given[name], flag(name))
    if cmd.prime_file is not None:
        if "prime" in given:
            raise FieldError("prime_file", "{prime_file} cannot be given with {prime}")
        given["prime"] = read_prime(cmd.prime_file, r.vocab)
    opts = SampleOptions(**given)
    _note_unused(opts, given)
    if opts.prime:  # unknown characters: fail before the prime is echoed to stdout
        encode_prime(r.vocab, opts.prime)
    adapt = collect(args, DynamicConfig, skip=ADAPT_SKIP)
    if adapt and not cmd.adapt:
        raise CharwiseError(
            f"{', '.join(flag(k) for k in adapt)} set the adaptation: add {flag('adapt')} FILE"
        )
    generate = r.generate
    if cmd.adapt:
        if cmd.novel:
            raise CharwiseError(f"{flag('novel')} cannot be combined with {flag('adapt')}")
        dyn = DynamicConfig(**adapt)

        def generate(opts, on_text=None):
            return adapted_sample(r, cmd.adapt, opts, dyn, on_text)

    if cmd.novel:
        return _novel(args.run_dir, r, opts)
    out = sys.stdout
    if opts.num_samples == 1:
        out.write(opts.prime)

        def on_text(_s: int, piece: str) -> None:
            out.write(piece)
            out.flush()

        generate(opts, on_text)
        out.write("\n")
    else:
        for i, text in enumerate(generate(opts)):
            out.write(("" if i == 0 else "\n---\n") + opts.prime + text)
        out.write("\n")
    out.flush()
    return 0


def read_prime(path: str, vocab) -> str:
    """The text of a --prime-file, exactly as written (no newline translation), or a one-line
    CharwiseError: missing, not UTF-8, empty, or with characters the model does not know."""
    p = Path(path)
    if not p.is_file():
        raise CharwiseError(f"no such prime file: {path}")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise CharwiseError(
            f"{path} is not valid UTF-8 (byte {e.start}); a prime file is read as UTF-8 text"
        ) from None
    if not text:
        raise FieldError("prime_file", f"{literal(path)} is empty: {{prime_file}} needs text")
    bad = vocab.unknown_chars(text)
    if bad:
        raise CharwiseError(
            f"{path} has characters that are not in the model's vocabulary: {', '.join(bad[:10])}"
        )
    return text


# Options a decoding mode never reads: giving them is a note, not an error (nothing breaks).
_SAMPLING_ONLY = ("temperature", "temperature_end", "top_k", "top_p")


def _note_unused(opts: SampleOptions, given: dict) -> None:
    """Say which given options change nothing: greedy and beam search draw nothing, and the
    length penalty ranks beam candidates only."""
    if opts.argmax or opts.beam is not None:
        mode = f"{flag('argmax')} takes the most likely character"
        if opts.beam is not None:
            mode = f"{flag('beam')} ranks texts by the model's own probabilities"
        unused = [flag(k) for k in _SAMPLING_ONLY if k in given]
    else:
        mode = f"{flag('length_penalty')} ranks {flag('beam')} search's texts"
        unused = [flag("length_penalty")] if "length_penalty" in given else []
    if unused:
        print(f"charwise: note: {mode}; {', '.join(unused)} change nothing", file=sys.stderr)


def _novel(run_dir, r, opts) -> int:
    nf = NoveltyFilter(r.path, r.vocab)
    if not nf.available:
        raise CharwiseError(f"{run_dir} keeps no list of training lines, so --novel cannot check")
    # Lines are checked and printed as each stream completes them, so output flows while it
    # samples (and a Ctrl-C keeps what was printed). The prime's own whole lines are the
    # user's text, not the model's: they are neither checked nor printed. The line the prime
    # leaves open is finished by the model, and is checked whole.
    open_line = opts.prime.rsplit("\n", 1)[-1]
    tails, shown = [open_line] * opts.num_samples, 0

    def emit(line: str) -> None:
        nonlocal shown
        if nf.is_novel(line):
            print(line, flush=True)
            shown += 1

    def on_text(s: int, piece: str) -> None:
        *whole, tails[s] = (tails[s] + piece).split("\n")
        for line in whole:
            emit(line)

    texts = r.generate(opts, on_text)
    # A stream that --length cut off ends in a partial line, which is not checked; one that
    # a stop rule ended (before its full length) ends in a whole one (--stop-at '\n': one line).
    stops = opts.stop_at or opts.stop_regex
    for s, text in enumerate(texts):
        if stops and len(text) < opts.length:
            emit(tails[s])
    if shown == 0:
        hint = "a higher --temperature or --length"
        if stops:
            hint = "a higher --temperature or --num-samples"
        print(f"charwise: no novel lines in this sample; try {hint}", file=sys.stderr)
    return 0
