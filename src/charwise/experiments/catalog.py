"""Every experiment by name: the post's (posts.py) and the paper's table (table.py), and the
one entry point that runs any of them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import CharwiseError
from ..training.events import Callbacks
from .posts import EXPERIMENTS
from .registry import Experiment
from .runner import (
    RUN_SUBDIR,
    ExperimentOptions,
    check_existing,
    out_folder,
    run_config,
    run_experiment,
    text_data,
)
from .table import PAPER_TABLE, PaperTable, run_table

ALL: dict[str, Experiment | PaperTable] = {**EXPERIMENTS, PAPER_TABLE.name: PAPER_TABLE}


def get(name: str) -> Experiment | PaperTable:
    if name not in ALL:
        raise CharwiseError(f"unknown experiment {name!r}; choose one of {', '.join(ALL)}")
    return ALL[name]


def check(exp: Experiment | PaperTable, opts: ExperimentOptions) -> None:
    """Fail now, in one line, when the experiment's text is missing or its folder holds a run
    of other settings."""
    if isinstance(exp, PaperTable):
        for t in exp.texts:
            text_data(t.text, exp.name, opts)
        return
    check_existing(run_config(exp, opts), out_folder(exp, opts) / RUN_SUBDIR)


def folder(exp: Experiment | PaperTable, opts: ExperimentOptions) -> Path:
    return out_folder(exp, opts)


def run(
    exp: Experiment | PaperTable,
    opts: ExperimentOptions,
    cb: Callbacks | None = None,
    on_cell=None,
) -> dict[str, Any]:
    """Run `exp` with `opts`; returns what its metrics.json holds."""
    if isinstance(exp, PaperTable):
        return run_table(exp, opts, out_folder(exp, opts), cb, on_cell)
    return run_experiment(exp, opts, cb)
