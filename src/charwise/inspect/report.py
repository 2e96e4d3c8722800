"""`charwise inspect`: one self-contained HTML file about a run and a text.

Everything is inline (CSS, scripts, data, SVG plots), and a Content-Security-Policy forbids any
network access, so the file opens anywhere, offline, and can be mailed around.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import CharwiseError
from ..fields import option, validate
from ..use.sampling import SampleOptions
from .features import Interpretability, RankOptions, rank_cells
from .payload import viewer_payload
from .plots import read_jsonl, training_curves
from .properties import text_properties
from .record import RecordOptions, ranked_quantity, record, untrained_like
from .recording import TANH_SHOWN, Recording


@dataclass(frozen=True)
class ReportOptions:
    # The HTML grows by ~1.4 KB per character per 1k cells.
    max_chars: int = option(5000, ge=2)  # characters of the text to show
    top_k: int = option(5, ge=1)  # next-character guesses shown on hover
    # LSTM: h,input,forget,output,candidate; GRU: reset,update,new.
    show: tuple[str, ...] | None = None  # activations to add to the picker besides c or h
    features: tuple[str, ...] = ()  # an extra property, 1 where REGEX matches (repeatable)
    temperatures: tuple[float, ...] = option((0.2, 0.5, 0.8, 1.0, 1.3), gt=0, items=True)  # views
    prime: str | None = None  # the temperature view's prime (default: the text's first line)
    sample_length: int = option(300, ge=0)  # characters per temperature sample
    seed: int = option(0, seed=True)  # the temperature samples' seed (all columns share it)

    def __post_init__(self) -> None:
        validate(self)  # here, before the report's work, not at its last step


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _script_json(obj) -> str:
    """JSON safe inside <script>: no '</' or '<!--' can end or confuse the element."""
    return (
        json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        .replace("</", "<\\/")
        .replace("<!--", "<\\!--")
    )


def _fill(template: str, parts: dict[str, str]) -> str:
    # One pass, so text inside a filled part (user text, samples) is never scanned again.
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: parts[m.group(1)], template)


def _cell_button(layer: int, cell: int, text: str) -> str:
    """A button that picks unit `cell` of layer `layer` in the viewer (report.js)."""
    return (
        f'<button type="button" class="cw-pick" data-layer="{layer}" data-cell="{cell}">'
        f"{html.escape(text)}</button>"
    )


def _null_text(null: float) -> str:
    return "&ndash;" if math.isnan(null) else f"{null:.3f}"


def interp_html(interp: Interpretability, unit: str = "cell") -> str:
    """The table of properties with their best cells (buttons that pick the cell); `unit`
    names what a cell is (a transformer's MLP "unit")."""
    q = f"tanh({interp.quantity})" if interp.quantity in TANH_SHOWN else interp.quantity
    n = len(interp.interpretable)
    null = (
        f" and above the null: the {interp.null_quantile:g} quantile of what the best cell "
        f"scores against the property shifted in time ({interp.null_shifts} shifts), which is "
        "what chance gives"
        if interp.null_shifts
        else ""
    )
    if any(not math.isnan(p.untrained) for p in interp.properties):
        null += ", and above the best cell of an untrained network of the same shape"
    head = (
        f"<p><strong>{n} of {interp.total_cells} {unit}s ({100 * interp.fraction:.1f}%) are "
        f"interpretable</strong> by these tests: AUC &ge; {interp.auc_threshold:g} for a "
        f"yes/no property or |r| &ge; {interp.r_threshold:g} for a graded one, on {q}{null}. "
        f"A {unit} with AUC near 1 is high where the property holds; &ldquo;inverted&rdquo; "
        f"{unit}s are low there.</p>"
    )
    rows = []
    for p in interp.properties:
        cells = " ".join(
            _cell_button(
                c.layer,
                c.cell,
                f"L{c.layer} {unit} {c.cell}: {c.score:.3f}"
                + (" (inverted)" if c.sign < 0 else ""),
            )
            for c in p.best
        )
        rows.append(
            f"<tr><td><strong>{html.escape(p.name)}</strong><br><span class='cw-help'>"
            f"{html.escape(p.description)}</span></td><td>{p.metric}</td>"
            f"<td>{_null_text(p.null)}</td><td>{_null_text(p.untrained)}</td>"
            f"<td>{p.interpretable}</td><td>{cells}</td></tr>"
        )
    skipped = (
        f"<p class='cw-help'>Not scored (constant or too rare in this text, or too little text): "
        f"{html.escape(', '.join(interp.skipped))}.</p>"
        if interp.skipped
        else ""
    )
    return (
        head + "<table class='cw-props'><tr><th>property</th><th>score</th>"
        "<th title='the best cell&#39;s score against the shifted property'>null</th>"
        "<th title='the best score of an untrained network&#39;s cells'>untrained</th>"
        "<th>cells over threshold and null</th><th>best cells</th></tr>"
        + "".join(rows)
        + "</table>"
        + skipped
    )


def samples_html(records: list[dict]) -> str:
    """samples.jsonl in step order: how the samples evolved while training."""
    if not records:
        return '<p class="cw-empty">no samples.jsonl in this run</p>'
    out = []
    for r in sorted(records, key=lambda r: r.get("step", 0)):
        when = f"step {r.get('step', '?')}"
        if "elapsed" in r:
            when += f", {float(r['elapsed']):.0f} s"
        if "temperature" in r:
            when += f", temperature {r['temperature']}"
        out.append(
            f'<div class="cw-sample"><div class="cw-step">{html.escape(when)}</div>'
            f"<pre>{html.escape(str(r.get('text', '')))}</pre></div>"
        )
    return "".join(out)


def temperature_samples(
    run, prime: str, temperatures: tuple[float, ...], length: int, seed: int
) -> list[tuple[float, str]]:
    """The same prime sampled at each temperature (same seed): [(temperature, text)]."""
    return [
        (
            t,
            run.generate(SampleOptions(length=length, prime=prime, temperature=t, seed=seed))[0],
        )
        for t in temperatures
    ]


def temperatures_html(prime: str, samples: list[tuple[float, str]]) -> str:
    cols = "".join(
        f'<div><h3>temperature {t:g}</h3><pre><span class="cw-prime">'
        f"{html.escape(prime)}</span>{html.escape(text)}</pre></div>"
        for t, text in samples
    )
    return (
        f'<p class="cw-help">The same prime (grey), sampled at each temperature with the same '
        f"seed: low temperatures are safe and repetitive, high ones inventive and error-prone."
        f'</p><div class="cw-temps">{cols}</div>'
    )


def default_prime(rec: Recording) -> str:
    """The text's first line (up to 40 characters), which the model can always read."""
    text = "".join(rec.chars[:200])
    line = text.split("\n", 1)[0][:40]
    return line if line and all(len(c) == 1 for c in rec.chars[: len(line)]) else ""


def _meta_html(run, rec: Recording, source: str, skipped: int) -> str:
    m = run.config["model"]
    best = run.info.get("val_loss")
    shape = (
        f"{m['layers']}-layer transformer, {m['hidden']} wide, {m['heads']} heads, context "
        f"{m['block']} ({rec.hidden} MLP units per layer)"
        if m["kind"] == "transformer"
        else f"{m['layers']}-layer {m['kind'].upper()}, {m['hidden']} cells per layer"
    )
    bits = [
        f"run <code>{html.escape(str(run.path))}</code>",
        f"{shape}, vocabulary {run.vocab.size}",
        f"text: {html.escape(source)}, {rec.n:,} characters",
    ]
    bpc = rec.bits_per_char()
    if np.isfinite(bpc):
        bits.append(f"{bpc:.3f} bits/char on it")
    if best is not None:
        bits.append(
            f"best validation {best / np.log(2):.3f} bits/char at step {run.info.get('step')}"
        )
    if skipped:
        bits.append(f"{skipped} characters outside the vocabulary left out")
    return " &middot; ".join(bits)


def attention_html(rec: Recording) -> str:
    """A transformer's attention section: how far back each head looks on average, and how to
    see where it looks from one character (the viewer's attention panel). "" for an RNN."""
    if rec.attn_dist is None:
        return ""
    heads = rec.attn_dist.shape[1]
    head_cells = "".join(f"<th>head {h}</th>" for h in range(heads))
    rows = "".join(
        f"<tr><td>layer {layer}</td>"
        + "".join(f"<td>{d:.1f}</td>" for d in rec.attn_dist[layer])
        + "</tr>"
        for layer in range(rec.layers)
    )
    return (
        '<h2 id="attention">Attention</h2><p class="cw-help">Click a character in the text to '
        "see, under it, the earlier characters each head of each layer attends to most from it "
        "(with their weights); colour by <em>attention</em> to shade them for one head. Below: "
        "how many characters back each head looks on average (its attention-weighted distance, "
        "0 = the character itself).</p><table class='cw-props cw-attn-dist'><tr><th></th>"
        f"{head_cells}</tr>{rows}</table>"
    )


def build_report(
    run, ids: np.ndarray, source: str, opts: ReportOptions | None = None, skipped: int = 0
) -> tuple[str, Recording, Interpretability]:
    """Record `run` over ids (N,) (the first opts.max_chars), rank its cells, and return the
    report's HTML with the recording and the ranking."""
    opts = opts or ReportOptions()
    model = run.inspect_model()  # a clear error for a run without a network (an n-gram)
    ids = np.asarray(ids, dtype=np.int64)[: opts.max_chars]
    if len(ids) < 2:
        raise CharwiseError("the text to inspect needs at least 2 characters")
    tokens = [run.vocab.token(i) for i in range(run.vocab.size)]
    base = ranked_quantity(model)
    # The ranked quantity always comes first: the interpretable cells refer to it.
    show = tuple(dict.fromkeys((base, *(opts.show or ()))))
    rec = record(model, ids, tokens, RecordOptions(top_k=opts.top_k, quantities=show))
    # The same cells of an untrained network of this shape: the baseline to beat.
    untrained = record(untrained_like(model), ids, tokens, RecordOptions(1, (base,)))
    props = text_properties(rec.chars, opts.features)
    interp = rank_cells(rec, props, RankOptions(), baseline=untrained)
    payload = viewer_payload(rec, interp, show)
    prime = opts.prime if opts.prime is not None else default_prime(rec)
    temps = temperature_samples(run, prime, opts.temperatures, opts.sample_length, opts.seed)
    title = f"charwise: inside {Path(run.path).name}"
    page = _fill(
        _asset("report.html"),
        {
            "TITLE": html.escape(title),
            "META": _meta_html(run, rec, source, skipped),
            "INTERP": interp_html(interp, rec.unit),
            "ATTENTION": attention_html(rec),
            "CURVES": training_curves(read_jsonl(Path(run.path) / "log.jsonl")),
            "SAMPLES": samples_html(read_jsonl(Path(run.path) / "samples.jsonl")),
            "TEMPERATURES": temperatures_html(prime, temps),
            "DATA": _script_json(payload),
            "VIEWER_CSS": _asset("viewer.css"),
            "REPORT_CSS": _asset("report.css"),
            "VIEWER_JS": _asset("viewer.js"),
            "REPORT_JS": _asset("report.js"),
        },
    )
    return page, rec, interp
