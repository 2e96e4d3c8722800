"""The experiments page: one markdown file collecting every finished experiment, the post's claim
beside our figure, numbers and samples, with the command and machine that produced them.

`write_page(runs, page)` reads runs/experiments/NAME[-long]/metrics.json and samples.json,
draws the figures into docs/images/experiments/ (next to the page) and writes the page.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from . import figures
from .catalog import ALL
from .registry import POST_URL, Experiment
from .runner import RUN_SUBDIR, read_metrics, read_samples
from .table import PaperTable, format_table

SHOWN_CHARS = 700  # characters of each sample on the page


def fence(text: str) -> str:
    """`text` in a code fence longer than any run of backticks inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    f = "`" * max(3, longest + 1)
    return f"{f}text\n{text.rstrip()}\n{f}"


def _cut(text: str, n: int = SHOWN_CHARS) -> str:
    return text if len(text) <= n else text[:n] + " [...]"


def finished(runs: Path) -> list[tuple[Experiment | PaperTable, Path, dict[str, Any]]]:
    """(experiment, its folder, its metrics) for each finished one, in the catalog's order,
    the CPU default before --long."""
    out = []
    for name, exp in ALL.items():
        for folder in (runs / name, runs / f"{name}-long"):
            m = read_metrics(folder)
            if m is not None:
                out.append((exp, folder, m))
    return out


def write_page(runs: str | Path, page: str | Path, images: str | Path | None = None) -> list[str]:
    """Write the page; returns the folders it shows."""
    runs, page = Path(runs), Path(page)
    # Each page its own figures (docs/experiments.md -> docs/images/experiments/), so two pages
    # drawn from different runs never overwrite each other's.
    images = Path(images) if images else page.parent / "images" / page.stem
    done = finished(runs)
    names = {exp.name for exp, _, _ in done}
    parts = [_header(names, page)]
    for exp, folder, m in done:
        tag = folder.name
        if isinstance(exp, PaperTable):
            parts.append(_table_section(exp, m, images, page, tag))
        else:
            parts.append(_section(exp, folder, m, images, page, tag))
    page.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(page, "\n\n".join(parts).rstrip() + "\n")
    return [str(f) for _, f, _ in done]


def _header(done: set[str], page: Path) -> str:
    missing = [n for n in ALL if n not in done]
    lines = [
        "# Experiments: the post and the paper, rerun",
        "",
        "Each section is one command, `charwise experiment NAME` (`charwise experiment --list` "
        "names them), run on the CPU budget unless it says `--long`. Beside each result is what "
        f"[the post]({POST_URL}) claims, paraphrased, and where to find its own figure. The "
        "budgets here are minutes on a CPU, not the post's hours on a GPU: the samples show "
        "how far a small budget gets, not the post's quality (`--long` aims at that).",
        "",
        "Times are wall-clock seconds of training on the machine named under each section; "
        "on a machine shared with other jobs they overstate what the budget costs.",
        "",
        f"This page is generated: `charwise experiment --page {page.as_posix()}` (it reads "
        "the finished experiments' folders).",
    ]
    if missing:
        lines += ["", "Not run for this page: " + ", ".join(f"`{n}`" for n in missing) + "."]
    return "\n".join(lines)


def _rel(path: Path, page: Path) -> str:
    return Path(os.path.relpath(path, page.parent)).as_posix()


def _ngram_line(m: dict[str, Any]) -> tuple[str, float] | None:
    """The n-gram's validation bits as the curve's baseline (label, bits), if one was counted."""
    g = m.get("ngram")
    if not g or not g.get("val"):
        return None
    return f"{g['order']}-gram (validation)", g["val"]["bits_per_char"]


def _loss_rows(m: dict[str, Any]) -> list[str]:
    unit = m.get("unit", "char")
    rows = [f"| split | nats/{unit} | bits/{unit} |", "| --- | --- | --- |"]
    for split in ("val", "test"):
        r = m.get(split)
        if r:
            rows.append(f"| {split} | {r['nats_per_char']:.4f} | {r['bits_per_char']:.4f} |")
    g = m.get("ngram")
    for split in ("val", "test") if g else ():
        r = g.get(split)
        if r:
            rows.append(
                f"| {split}, baseline: {g['order']}-gram (Kneser-Ney) | "
                f"{r['nats_per_char']:.4f} | {r['bits_per_char']:.4f} |"
            )
    r = g.get("test_cache") if g else None
    if r:
        c = r["cache"]
        rows.append(
            f"| test, baseline: the {g['order']}-gram with a cache of its own (order "
            f"{c['cache_order']}, weight {c['cache_lambda']:g}) | {r['nats_per_char']:.4f} | "
            f"{r['bits_per_char']:.4f} |"
        )
    for key, what in (
        ("test_dynamic", "dynamic evaluation"),
        ("test_cache", "the continuous cache"),
        ("test_dynamic_cache", "dynamic evaluation and the cache"),
    ):
        r = m.get(key)
        if r:
            rows.append(
                f"| test, {what} ({r['chars_per_s']:,.0f} chars/s) | "
                f"{r['nats_per_char']:.4f} | {r['bits_per_char']:.4f} |"
            )
    return rows


def _section(
    exp: Experiment, folder: Path, m: dict[str, Any], images: Path, page: Path, tag: str
) -> str:
    model, tr = m["model"], m["train"]
    text = m["text"] if exp.text.user else exp.text.label  # a user's path, else the registry's
    lines = [
        f"## {exp.title}" + (" (`--long`)" if m.get("long") else ""),
        "",
        f"> **The post:** {exp.claim}  ",
        f"> *Its figure:* {exp.post_figure}.",
        "",
        f"**Ours:** a {model['layers']}x{model['hidden']} {model['kind'].upper()} "
        f"({m['params']:,} parameters) on {text} ({m['text_chars']:,} characters, "
        f"vocabulary {m['vocab_size']}), {tr['steps']:,} steps of {tr['batch_size']}x"
        f"{tr['seq_len']} characters ({tr['epochs']} epochs) in {tr['seconds']:.0f} s; the "
        f"best validation was at step {tr['best_step']}.",
        "",
        *_loss_rows(m),
    ]
    curve = figures.curve_figure(
        folder / RUN_SUBDIR,
        images / f"{tag}-curve.png",
        f"{exp.title}: {model['layers']}x{model['hidden']} {model['kind'].upper()}",
        m.get("unit", "char"),
        exp.evolution,
        _ngram_line(m),
    )
    if curve:
        lines += ["", f"![training curve of {tag}]({_rel(curve, page)})"]
    if m.get("names"):
        lines += ["", *_names_rows(m["names"])]
        fig = figures.names_figure(m["names"], images / f"{tag}-names.png")
        if fig:
            lines += ["", f"![real and new names of {tag}]({_rel(fig, page)})"]
    if m.get("evolution"):
        lines += [
            "",
            "**Samples during training** (temperature "
            f"{m['evolution'][0]['temperature']}, the weights of that step):",
        ]
        for e in m["evolution"]:
            lines += ["", f"Step {e['step']}:", "", fence(_cut(e["text"], 400))]
    if m.get("structure"):
        lines += ["", *_structure_rows(m["structure"])]
    lines += [
        "",
        f"**Samples after training** (seeded; the first {SHOWN_CHARS} characters of each):",
    ]
    for s in read_samples(folder):
        text = s["text"]
        if exp.line_list:  # one name a line reads better as a list
            text = ", ".join(ln for ln in text.split("\n") if ln.strip())
        lines += ["", f"Temperature {s['temperature']}:", "", fence(_cut(text))]
    lines += [
        "",
        f"*Command:* `{m['command']}`  ",
        f"*Machine:* {m['machine']}  ",
        f"*Date:* {m['date']}",
    ]
    return "\n".join(lines)


def _names_rows(views: list[dict[str, Any]]) -> list[str]:
    rows = [
        "| temperature | sampled names | in the list | new |",
        "| --- | --- | --- | --- |",
    ]
    for v in views:
        if v["lines"]:
            rows.append(
                f"| {v['temperature']} | {v['lines']} | {v['real_share']:.0%} | "
                f"{v['novel_share']:.0%} |"
            )
    for v in views:
        if v["novel_examples"]:
            rows += [
                "",
                f"New names at temperature {v['temperature']} (the novel-only view): "
                + ", ".join(v["novel_examples"][:20]),
            ]
    return rows


def _structure_rows(structure: dict[str, Any]) -> list[str]:
    """The structure metrics' numbers, one column per temperature."""
    if "error" in structure:
        return [f"Structure metrics: {structure['error']}"]
    temps = list(structure)
    keys = list(dict.fromkeys(k for t in temps for k, v in _flat(structure[t]).items()))
    rows = [
        "| structure | " + " | ".join(f"T={t}" for t in temps) + " |",
        "|" + " --- |" * (1 + len(temps)),
    ]
    for k in keys:
        vals = [_flat(structure[t]).get(k) for t in temps]
        # Metrics with nothing to measure in this text (no brackets in names, no C in LaTeX)
        # come back empty or zero at every temperature: they would only be noise on the page.
        if all(v is None or v == 0 for v in vals):
            continue
        rows.append(f"| {k} | " + " | ".join(_num(v) for v in vals) + " |")
    return rows


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix.rstrip("."): d}
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) or v is None:
            out[f"{prefix}{k}"] = v
    return out


def _num(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def _table_section(exp: PaperTable, m: dict[str, Any], images: Path, page: Path, tag: str) -> str:
    g = m["grid"]
    lines = [
        f"## {exp.title}" + (" (`--long`)" if m.get("long") else ""),
        "",
        f"> **The paper:** {exp.claim}",
        "",
        f"**Ours:** every cell trained {g['max_steps']:,} steps of {g['batch_size']}x"
        f"{g['seq_len']} characters on the paper's 80/10/10 split (char-rnn's loader: 100 rows, "
        "each split 80/10/10); test loss in nats per "
        "character. Only the published figures we could check are quoted"
        + (
            "."
            if m.get("long")
            else ". At this CPU budget no cell is near convergence: the "
            "order of the cells shows how fast each learns at first, not what it can reach "
            "(`--long` trains the widths 64 to 512 for 20,000 steps each)."
        ),
        "",
        format_table(m),
    ]
    fig = figures.table_figure(m, images / f"{tag}.png")
    if fig:
        lines += ["", f"![test loss against size]({_rel(fig, page)})"]
    lines += [
        "",
        f"*Command:* `{m['command']}`  ",
        f"*Machine:* {m['machine']}  ",
        f"*Date:* {m['date']}",
    ]
    return "\n".join(lines)
