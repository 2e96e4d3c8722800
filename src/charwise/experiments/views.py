"""An experiment's own views of its samples: the names experiment's real-vs-novel count, the War
and Peace samples recorded during training, and structure metrics when that analysis exists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..data.novelty import NoveltyFilter
from ..data.vocab import Vocab
from ..runs.run import Run
from ..training.records import SAMPLES_FILE

SHOWN_NOVEL = 30  # novel lines kept in metrics.json for the page
# The training text the structure metrics compare with is cut here: decoding is a Python loop,
# and 5M characters hold every n-gram a 1,500-character sample is likely to repeat.
STRUCTURE_CORPUS_CHARS = 5_000_000


def line_view(run_dir: Path, vocab: Vocab, sample: dict[str, Any]) -> dict[str, Any]:
    """The post's baby-names view of one sample: its complete lines, how many are real (lines of
    the text the run was given, all splits: `train_lines.npy`) and the novel ones."""
    text = sample["text"]
    lines = text.split("\n")
    if not text.endswith("\n"):
        lines = lines[:-1]  # the last line was cut off by the sample's length
    lines = [ln for ln in lines if ln.strip()]
    nf = NoveltyFilter(run_dir, vocab)
    novel = [ln for ln in lines if nf.is_novel(ln)] if nf.available else []
    n = len(lines)
    return {
        "temperature": sample["temperature"],
        "lines": n,
        "real": n - len(novel),
        "real_share": (n - len(novel)) / n if n else None,
        "novel_share": len(novel) / n if n else None,
        "novel_examples": novel[:SHOWN_NOVEL],
    }


def evolution(run_dir: Path, steps: tuple[int, ...]) -> list[dict[str, Any]]:
    """The training-time samples (samples.jsonl) at `steps`, in order; steps the run did not
    reach are left out."""
    path = Path(run_dir) / SAMPLES_FILE
    if not path.exists():
        return []
    by_step = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            by_step[rec["step"]] = rec
    return [
        {"step": s, "temperature": by_step[s]["temperature"], "text": by_step[s]["text"]}
        for s in steps
        if s in by_step
    ]


def structure(run: Run, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{temperature: structure_metrics(sample, training text)} when charwise.analysis.structure
    is part of this build, else None (the experiments run without it)."""
    try:
        from ..analysis.structure import structure_metrics
    except ImportError:
        return None
    corpus = run.vocab.decode(run.split("train")[:STRUCTURE_CORPUS_CHARS])
    out = {}
    for s in samples:
        try:
            m = structure_metrics(s["text"], corpus)
        except (TypeError, ValueError) as e:  # an interface this runner does not know yet
            return {"error": f"structure_metrics failed: {e}"}
        out[str(s["temperature"])] = _plain(m)
    return out


def _plain(m: Any) -> Any:
    """A metrics object (a dataclass or a dict) as plain JSON-able values."""
    if hasattr(m, "to_dict"):
        return m.to_dict()
    if hasattr(m, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(m)
    return m
