"""`charwise inspect RUN_DIR --text FILE | --corpus-split val --out report.html`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import RunConfig
from ..data.corpus import load_corpus, split_ids
from ..errors import CharwiseError
from ..inspect.record import QUANTITIES
from ..inspect.report import ReportOptions, build_report
from ..runs.format import atomic_write, load


def register(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="write an HTML report: predictions, cell activations, interpretable cells",
        description="Run a trained model over a text and write one self-contained HTML file: the "
        "text coloured by any cell (interpretable cells ranked first), the top "
        "guesses for every next character, surprise, training curves, samples "
        "during training and a temperature comparison.",
    )
    p.add_argument("run_dir", help="run directory written by `charwise train`")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", metavar="FILE", help="a text file to look at")
    src.add_argument(
        "--corpus-split",
        choices=["train", "val", "test"],
        help="look at this split of the run's own training data",
    )
    p.add_argument(
        "--out", "-o", default="report.html", help="HTML file to write (default report.html)"
    )
    p.add_argument(
        "--max-chars",
        type=int,
        default=5000,
        help="characters of the text to show (default 5000; the file grows with it)",
    )
    p.add_argument("--offset", type=int, default=0, help="start this many characters into the text")
    p.add_argument(
        "--feature",
        action="append",
        default=[],
        metavar="NAME=REGEX",
        help="an extra property to find cells for: 1 on characters REGEX matches "
        "(repeatable), e.g. --feature 'digit=[0-9]'",
    )
    p.add_argument(
        "--show",
        default=None,
        help="more activations for the picker besides c (LSTM) or h, comma-separated "
        "(LSTM: h,input,forget,output,candidate; GRU: reset,update,new)",
    )
    p.add_argument("--top-k", type=int, default=5, help="next-character guesses per character")
    p.add_argument(
        "--temperatures",
        default="0.2,0.5,0.8,1.0,1.3",
        help="the temperature view's temperatures (default 0.2,0.5,0.8,1.0,1.3)",
    )
    p.add_argument(
        "--prime",
        default=None,
        help="the temperature view's prime (default: the text's first line)",
    )
    p.add_argument(
        "--sample-length",
        type=int,
        default=300,
        help="characters per temperature sample (default 300)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the temperature samples")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or mps")
    p.set_defaults(func=run)


def _floats(s: str, flag: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in s.split(",") if x.strip())
    except ValueError:
        raise CharwiseError(f"{flag} needs comma-separated numbers, got {s!r}") from None


def _text_ids(args, r) -> tuple[np.ndarray, str, int]:
    """(ids, description of the source, characters left out) of the text to inspect."""
    if args.offset < 0:
        raise CharwiseError("--offset must not be negative")
    if args.text:
        path = Path(args.text)
        if not path.is_file():
            raise CharwiseError(f"no such text file: {path}")
        raw = path.read_bytes()
        if not r.vocab.bytes_mode:
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError as e:  # replacing bad bytes would hide them from the report
                raise CharwiseError(
                    f"{path} is not valid UTF-8 (byte {e.start}); this run was trained on "
                    "characters, so it reads UTF-8 text"
                ) from None
        syms = r.vocab.symbols_of(raw)[args.offset : args.offset + 2 * args.max_chars + 1024]
        ids, unknown = r.vocab.encode_array(syms, strict=False)
        known = np.flatnonzero(~unknown)[: args.max_chars]  # positions of the characters kept
        used = int(known[-1]) + 1 if len(known) else 0
        return np.asarray(ids[known], dtype=np.int64), str(path), int(unknown[:used].sum())
    data = RunConfig.from_dict(r.config).data
    split = getattr(split_ids(load_corpus(data, vocab=r.vocab).ids, data.split), args.corpus_split)
    if len(split) < 2:
        raise CharwiseError(f"the run's {args.corpus_split} split is empty; use --text FILE")
    ids = np.asarray(split[args.offset : args.offset + args.max_chars], dtype=np.int64)
    return ids, f"the {args.corpus_split} split", 0


def run(args) -> int:
    r = load(args.run_dir, device=args.device)
    if r.kind == "ngram":
        raise CharwiseError("this is an n-gram run: it has no cells to inspect")
    show = tuple(s.strip() for s in args.show.split(",") if s.strip()) if args.show else None
    if show:
        bad = [q for q in show if q not in QUANTITIES[r.kind]]
        if bad:
            raise CharwiseError(
                f"--show: a {r.kind} has no {', '.join(bad)}; choose from "
                f"{', '.join(QUANTITIES[r.kind])}"
            )
    opts = ReportOptions(
        max_chars=args.max_chars,
        top_k=args.top_k,
        show=show,
        features=tuple(args.feature),
        temperatures=_floats(args.temperatures, "--temperatures"),
        prime=args.prime,
        sample_length=args.sample_length,
        seed=args.seed,
    )
    # Checked before the report's work, which a bad --out would otherwise throw away.
    out = Path(args.out)
    if out.is_dir() or out.name in ("", ".", ".."):
        raise CharwiseError(f"--out must name an HTML file, not a folder: {args.out}")
    if out.parent and not out.parent.exists():
        raise CharwiseError(f"the folder for --out does not exist: {out.parent}")
    ids, source, skipped = _text_ids(args, r)
    if len(ids) < 2:
        raise CharwiseError("the text to inspect needs at least 2 characters (after --offset)")
    page, rec, interp = build_report(r, ids, source, opts, skipped)
    atomic_write(out, page)
    print(
        f"wrote {out} ({len(page.encode('utf-8')) / 1e6:.1f} MB): {rec.n:,} characters, "
        f"{rec.bits_per_char():.3f} bits/char"
        + (f"; {skipped:,} characters outside the vocabulary left out" if skipped else "")
    )
    print(
        f"interpretable cells: {len(interp.interpretable)} of {interp.total_cells} "
        f"({100 * interp.fraction:.1f}%)"
    )
    for p in interp.properties:
        b = p.best[0]
        print(
            f"  {p.name:<14} best L{b.layer} cell {b.cell:<4} {p.metric} {b.score:.3f}"
            f"{' (inverted)' if b.sign < 0 else ''}  ({p.interpretable} over threshold)"
        )
    if interp.skipped:
        names = ", ".join(interp.skipped)
        print(f"  not scored (constant in this text, or too little of it): {names}")
    return 0
