"""`charwise experiment NAME`: the post's experiments (and the paper's table), one command each;
`--list` names them, `--page FILE` collects the finished ones into one markdown page."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CharwiseError
from ..experiments import catalog
from ..experiments.registry import Experiment
from ..experiments.runner import DEFAULT_OUT, ExperimentOptions, data_folder
from ..experiments.table import PaperTable, format_table
from ._options import add_options, build
from .train import ProgressCallbacks

EXAMPLES = """examples:
  charwise experiment --list
  charwise experiment names                      # a minute on a CPU
  charwise experiment warpeace --data ../shared/data
  charwise experiment enwik8 --text ~/data/enwik8 --long
  charwise experiment paper-table
  charwise experiment --page docs/experiments.md
"""


@dataclass(frozen=True)
class ExperimentCommand:
    """`charwise experiment`'s own options; the rest are ExperimentOptions'."""

    experiments: tuple[str, ...] = ()  # the experiments to run (see --list)
    list: bool = False  # list the experiments, their budgets and where their text comes from
    page: str | None = None  # write the page of every finished experiment to this .md file
    runs: str = str(DEFAULT_OUT)  # where --page looks for finished experiments
    quiet: bool = False  # no progress bar


def register(sub) -> None:
    p = sub.add_parser(
        "experiment",
        help="rerun one of the post's experiments (--list), or write their page",
        description="Train, score and sample one of the experiments of Karpathy's "
        "'The Unreasonable Effectiveness of Recurrent Neural Networks' (and the paper's "
        "table), writing runs/experiments/NAME/.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(p, ExperimentCommand, positional="experiments")
    add_options(p.add_argument_group("experiment"), ExperimentOptions)
    p.set_defaults(func=run)


def run(args) -> int:
    cmd, opts = build(args, ExperimentCommand), build(args, ExperimentOptions)
    if cmd.list:
        print(listing(opts))
        return 0
    if not cmd.experiments and not cmd.page:
        raise CharwiseError("name an experiment (see --list), or give --page FILE")
    exps = [catalog.get(n) for n in cmd.experiments]
    for exp in exps:  # every name and text checked before any work
        catalog.check(exp, opts)
    if len(exps) > 1 and opts.out:
        raise CharwiseError("--out names one experiment's folder: run one experiment with it")
    for exp in exps:
        cb = ProgressCallbacks() if not cmd.quiet else None
        if not cmd.quiet:
            print(f"charwise: experiment {exp.name}", file=sys.stderr, flush=True)
        metrics = catalog.run(exp, opts, cb, on_cell=None if cmd.quiet else _cell)
        print(summary(exp, metrics))
    if cmd.page:
        from ..experiments.page import write_page  # matplotlib is optional: only --page needs it

        shown = write_page(cmd.runs, cmd.page)
        print(f"charwise: wrote {cmd.page} ({len(shown)} experiment(s) from {cmd.runs})")
    return 0


def _cell(cell) -> None:
    print(
        f"charwise: {cell['text']} {cell['model']}: test {cell['test_nats']:.4f} nats/char",
        file=sys.stderr,
        flush=True,
    )


def listing(opts: ExperimentOptions) -> str:
    """One line per experiment: name, what it reproduces, its CPU budget, where the text is."""
    folder = data_folder(opts)
    lines = []
    for name, exp in catalog.ALL.items():
        if isinstance(exp, PaperTable):
            texts = ", ".join(t.text.file for t in exp.texts)
            where = f"{texts} in {folder}"
            about = exp.cpu.about
        else:
            t, b = exp.text, exp.cpu
            length = f"{b.max_time:g} s" if b.max_time else f"{b.max_steps} steps"
            about = f"{b.layers}x{b.hidden} {b.kind.upper()}, {length}, {b.about}"
            if t.user:
                where = "needs --text PATH (no copy here)"
            elif t.file:
                found = "" if (folder / t.file).is_file() else " (missing)"
                where = f"{t.file} in {folder}{found}"
            else:
                where = t.label
        lines.append(f"{name:16s} {exp.title}\n{'':16s} {about}; text: {where}")
    return "\n".join(lines)


def summary(exp: Experiment | PaperTable, m: dict) -> str:
    """What an experiment measured, printed when it is done."""
    if isinstance(exp, PaperTable):
        return format_table(m)
    unit = m.get("unit", "char")
    out = [
        f"{exp.name}: {m['params']:,} parameters, {m['train']['steps']} steps, "
        f"{m['train']['seconds']:.0f} s"
    ]
    for split in ("val", "test"):
        if m.get(split):
            out.append(
                f"  {split}: {m[split]['nats_per_char']:.4f} nats/{unit}, "
                f"{m[split]['bits_per_char']:.4f} bits/{unit}"
            )
    g = m.get("ngram") or {}
    for split in ("val", "test"):
        if g.get(split):
            out.append(
                f"  {split}, {g['order']}-gram baseline: {g[split]['nats_per_char']:.4f} "
                f"nats/{unit}, {g[split]['bits_per_char']:.4f} bits/{unit}"
            )
    if m.get("test_dynamic"):
        d = m["test_dynamic"]
        out.append(
            f"  test, dynamic evaluation: {d['nats_per_char']:.4f} nats/{unit}, "
            f"{d['bits_per_char']:.4f} bits/{unit} ({d['chars_per_s']:,.0f} chars/s)"
        )
    for v in m.get("names", []):
        if v["lines"]:
            out.append(
                f"  temperature {v['temperature']}: {v['lines']} names, "
                f"{v['real_share']:.0%} in the list, {v['novel_share']:.0%} new"
            )
    if m.get("evolution"):
        out.append("  samples saved at steps " + ", ".join(str(e["step"]) for e in m["evolution"]))
    out.append(f"  written to {Path(m['run_dir']).parent}")
    return "\n".join(out)
