"""What an exported folder says about its model: a summary of the run (architecture, training
text, validation loss, a sample), and the model card (README.md with YAML metadata) built from it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from ..data.corpora import corpus_files
from ..data.corpus import resolve_files
from ..errors import CharwiseError
from ..runs.rnn import cell_name
from ..runs.run import Run
from ..use.sampling import SampleOptions, generate

# The card's sample: fixed so that exporting a run twice writes the same card.
CARD_SAMPLE = SampleOptions(length=300, temperature=0.8, seed=0, precision="fp32")
TAGS = ("charwise", "char-rnn", "character-level", "text-generation")


@dataclass(frozen=True)
class RunSummary:
    """A run as a model card describes it."""

    name: str  # the run folder's name
    kind: str  # gru | lstm | rnn
    layers: int
    hidden: int
    embed: int
    params: int
    vocab_size: int
    bytes_mode: bool
    text_name: str  # "tinyshakespeare.txt", "names (built-in corpus)", "linux (*.c, 512 files)"
    text_bytes: int | None  # size of the training text, where its files are still readable
    val_loss: float | None  # best validation loss, nats/char
    step: int | None  # the step of that checkpoint
    sample: str  # CARD_SAMPLE's text from the exported weights
    cell: str = ""  # the cell as people name it ("LN-GRU"); empty: kind.upper()

    @property
    def val_bpc(self) -> float | None:
        return None if self.val_loss is None else self.val_loss / math.log(2)


def summarize(run: Run) -> RunSummary:
    """The summary of a loaded RNN run (charwise.load)."""
    m = run.config["model"]
    name, size = text_of(run.config.get("data") or {})
    val = run.info.get("val_loss")
    return RunSummary(
        name=Path(run.path).resolve().name,
        kind=m["kind"],
        layers=m["layers"],
        hidden=m["hidden"],
        embed=m["embed"],
        params=run.model.num_params,
        vocab_size=run.vocab.size,
        bytes_mode=run.vocab.bytes_mode,
        text_name=name,
        text_bytes=size,
        val_loss=float(val) if isinstance(val, int | float) else None,
        step=run.info.get("step") if val is not None else None,
        sample=generate(run.model, run.vocab, CARD_SAMPLE)[0],
        cell=cell_name(run.model.cfg),
    )


def text_of(data: dict[str, Any]) -> tuple[str, int | None]:
    """(a name for the training text, its size in bytes or None where its files are gone)."""
    corpus, sources = data.get("corpus"), list(data.get("sources") or [])
    try:
        if corpus:
            files = corpus_files(corpus)
        else:
            files = resolve_files(sources, data.get("glob") or "*")
        size: int | None = sum(f.stat().st_size for f in files)
    except (CharwiseError, OSError):  # moved, deleted, or a machine the run was copied from
        files, size = [], None
    if corpus:
        return f"{corpus} (built-in corpus)", size
    name = ", ".join(Path(s).name for s in sources[:3])
    name += f" and {len(sources) - 3} more" if len(sources) > 3 else ""
    if any(Path(s).is_dir() for s in sources) and files:
        name += f" ({data.get('glob') or '*'}, {len(files)} files)"
    return name, size


def card_metadata(s: RunSummary) -> dict[str, Any]:
    """The card's YAML header: the Hub's fields (library, tags, model-index with the validation
    loss) and charwise's own (architecture, training text)."""
    meta: dict[str, Any] = {
        "library_name": "charwise",
        "pipeline_tag": "text-generation",
        "tags": list(TAGS) + [s.kind],
        "charwise_version": __version__,
        "architecture": {
            "kind": s.kind,
            "layers": s.layers,
            "hidden": s.hidden,
            "embed": s.embed,
            "parameters": s.params,
            "vocab_size": s.vocab_size,
            "unit": "byte" if s.bytes_mode else "character",
        },
        "training_text": {"name": s.text_name, "bytes": s.text_bytes},
    }
    if s.val_loss is not None:
        meta["validation_loss"] = {"nats_per_char": s.val_loss, "bits_per_char": s.val_bpc}
        meta["model-index"] = [
            {
                "name": s.name,
                "results": [
                    {
                        "task": {"type": "text-generation", "name": "next-character prediction"},
                        "dataset": {"type": "text", "name": s.text_name},
                        "metrics": [
                            {
                                "type": "loss",
                                "value": round(s.val_loss, 6),
                                "name": "validation loss (nats/char)",
                            }
                        ],
                    }
                ],
            }
        ]
    return meta


def to_yaml(obj: Any, pad: str = "") -> list[str]:
    """A dict of dicts, lists and scalars as YAML block lines. Strings are written as JSON
    strings, which are valid YAML double-quoted scalars, so no text can break the header."""
    lines: list[str] = []
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, v in items:
        head = f"{pad}{key}:" if isinstance(obj, dict) else f"{pad}-"
        if isinstance(v, dict | list) and v:
            inner = to_yaml(v, pad + "  ")
            if isinstance(obj, list) and isinstance(v, dict):  # "- key: value" on one line
                inner[0] = f"{pad}- {inner[0].lstrip()}"
                lines.extend(inner)
            else:
                lines.extend([head, *inner])
        else:
            lines.append(f"{head} {_scalar(v)}")
    return lines


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, dict | list):
        return "{}" if isinstance(v, dict) else "[]"
    return json.dumps(str(v), ensure_ascii=False)


def model_card(s: RunSummary, usage: str) -> str:
    """README.md: the YAML header (card_metadata) and the Markdown body (card_body)."""
    return "---\n" + "\n".join(to_yaml(card_metadata(s))) + "\n---\n\n" + card_body(s, usage)


def fenced(text: str) -> str:
    """text in a Markdown code block whose fence no run of backticks inside it can close."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def card_body(s: RunSummary, usage: str) -> str:
    """The card's Markdown after the YAML header; `usage` is the format's how-to section."""
    size = "size unknown" if s.text_bytes is None else f"{s.text_bytes:,} bytes"
    loss = (
        "not validated yet"
        if s.val_loss is None
        else f"{s.val_loss:.4f} nats/char ({s.val_bpc:.4f} bits/char) at step {s.step}"
    )
    return "\n".join(
        [
            f"# {s.name}",
            "",
            f"A character-level {s.cell or s.kind.upper()} language model trained with "
            "charwise: it writes text one "
            f"{'byte' if s.bytes_mode else 'character'} at a time.",
            "",
            "| | |",
            "| --- | --- |",
            f"| network | {s.layers} x {s.hidden} {s.cell or s.kind.upper()}, embedding {s.embed}, "
            f"{s.params:,} parameters |",
            f"| vocabulary | {s.vocab_size} {'bytes' if s.bytes_mode else 'characters'} |",
            f"| training text | {s.text_name}, {size} |",
            f"| validation loss | {loss} |",
            "",
            "## A sample",
            "",
            f"Temperature {CARD_SAMPLE.temperature}, seed {CARD_SAMPLE.seed}, "
            f"{CARD_SAMPLE.length} characters:",
            "",
            fenced(s.sample),
            "",
            usage.strip(),
            "",
        ]
    )
