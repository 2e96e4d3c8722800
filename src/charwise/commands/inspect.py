"""`charwise inspect RUN_DIR --text FILE | --corpus-split val --out report.html`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_write
from ..errors import CharwiseError
from ..fields import option
from ..inspect.record import QUANTITIES
from ..inspect.report import ReportOptions, build_report
from ..runs.load import load
from ..runs.run import SPLITS
from ._options import add_options, build


@dataclass(frozen=True)
class InspectCommand:
    """Which text `charwise inspect` looks at, and where the report goes."""

    text: str | None = None  # a text file to look at (default: the run's validation split)
    corpus_split: str | None = option(None, choices=SPLITS)  # a split of the run's own text
    offset: int = option(0, ge=0)  # start this many characters into the text
    out: str = option("report.html", nonempty=True)  # the HTML file to write
    device: str = "cpu"  # where the model runs: cpu, cuda, cuda:N, mps or auto


def register(sub) -> None:
    p = sub.add_parser(
        "inspect",
        help="write an HTML report: predictions, cell activations, interpretable cells",
        description="Run a trained model over a text (a file, or a split of the run's own text; "
        "by default its validation split) and write one self-contained HTML file: the text "
        "coloured by any cell (interpretable cells ranked first), the top guesses for every "
        "next character, surprise, training curves, samples during training and a "
        "temperature comparison. For a transformer the cells are its MLP units, and the "
        "report adds where each attention head looks.",
    )
    p.add_argument("run_dir", help="run directory written by `charwise train`")
    add_options(p, InspectCommand)
    add_options(p, ReportOptions)
    p.set_defaults(func=run)


def _text_ids(cmd: InspectCommand, r, max_chars: int) -> tuple[np.ndarray, str, int]:
    """(ids, description of the source, characters left out) of the text to inspect."""
    if cmd.text:
        path = Path(cmd.text)
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
        syms = r.vocab.symbols_of(raw)[cmd.offset : cmd.offset + 2 * max_chars + 1024]
        ids, unknown = r.vocab.encode_array(syms, strict=False)
        known = np.flatnonzero(~unknown)[:max_chars]  # positions of the characters kept
        used = int(known[-1]) + 1 if len(known) else 0
        return np.asarray(ids[known], dtype=np.int64), str(path), int(unknown[:used].sum())
    name = cmd.corpus_split or "val"
    split = r.split(name)
    if len(split) < 2:
        raise CharwiseError(f"the run's {name} split is empty; use --text FILE")
    ids = np.asarray(split[cmd.offset : cmd.offset + max_chars], dtype=np.int64)
    return ids, f"the {name} split", 0


def run(args) -> int:
    """Write the report and print what it found: the interpretable cells per property."""
    cmd = build(args, InspectCommand)
    if cmd.text and cmd.corpus_split:
        raise CharwiseError("give --text FILE or --corpus-split NAME, not both")
    opts = build(args, ReportOptions)
    r = load(args.run_dir, device=cmd.device)
    model = r.inspect_model()  # a clear error for a run without a network (an n-gram)
    kinds = QUANTITIES[model.cfg.kind]
    bad = [q for q in opts.show or () if q not in kinds]
    if bad:
        raise CharwiseError(
            f"--show: a {model.cfg.kind} has no {', '.join(bad)}; choose from {', '.join(kinds)}"
        )
    # Checked before the report's work, which a bad --out would otherwise throw away.
    out = Path(cmd.out)
    if out.is_dir() or out.name in ("", ".", ".."):
        raise CharwiseError(f"--out must name an HTML file, not a folder: {cmd.out}")
    if out.parent and not out.parent.exists():
        raise CharwiseError(f"the folder for --out does not exist: {out.parent}")
    ids, source, skipped = _text_ids(cmd, r, opts.max_chars)
    if len(ids) < 2:
        raise CharwiseError("the text to inspect needs at least 2 characters (after --offset)")
    page, rec, interp = build_report(r, ids, source, opts, skipped)
    atomic_write(out, page)
    print(
        f"wrote {out} ({len(page.encode('utf-8')) / 1e6:.1f} MB): {rec.n:,} characters, "
        f"{rec.bits_per_char():.3f} bits/char"
        + (f"; {skipped:,} characters outside the vocabulary left out" if skipped else "")
    )
    unit = rec.unit  # an RNN's "cell", a transformer's MLP "unit"
    print(
        f"interpretable {unit}s: {len(interp.interpretable)} of {interp.total_cells} "
        f"({100 * interp.fraction:.1f}%)"
        + (
            f"; each beats its property's nulls (the best {unit}'s score against the property "
            f"shifted in time, {interp.null_quantile:g} quantile of {interp.null_shifts} shifts; "
            f"the best {unit} of an untrained network of the same shape)"
            if interp.null_shifts
            else ""
        )
    )
    for p in interp.properties:
        b = p.best[0]
        null = f" null {p.null:.3f}" if interp.null_shifts else ""
        null += "" if math.isnan(p.untrained) else f" untrained {p.untrained:.3f}"
        print(
            f"  {p.name:<14} best L{b.layer} {unit} {b.cell:<4} {p.metric} {b.score:.3f}"
            f"{' (inverted)' if b.sign < 0 else ''}{null}  ({p.interpretable} over threshold"
            f"{' and nulls' if null else ''})"
        )
    if interp.skipped:
        names = ", ".join(interp.skipped)
        print(f"  not scored (constant in this text, or too little of it): {names}")
    if rec.attn_dist is not None:
        print("attention: characters each head looks back on average (0: the character itself)")
        for layer, row in enumerate(rec.attn_dist):
            print(f"  L{layer} " + " ".join(f"{d:6.1f}" for d in row))
    return 0
