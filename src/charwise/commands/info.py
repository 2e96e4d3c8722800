"""`charwise info RUN_DIR`: what a run directory holds."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..runs.load import load
from ._options import add_options, build


@dataclass(frozen=True)
class InfoCommand:
    json: bool = False  # print one JSON object


def register(sub) -> None:
    p = sub.add_parser("info", help="config, size, vocabulary and progress of a run")
    p.add_argument("run_dir")
    add_options(p, InfoCommand)
    p.set_defaults(func=run)


def describe(run_dir) -> dict:
    """What info reports: the run's stored settings and vocabulary, then its kind's own facts."""
    r = load(run_dir)
    cfg = r.config
    return {
        "run_dir": str(run_dir),
        "kind": r.kind,
        "charwise_version": cfg.get("charwise_version"),
        "format_version": cfg.get("format_version"),
        "model": cfg.get("model"),
        "train": cfg.get("train"),
        "data": cfg.get("data"),
        "sources": cfg.get("sources"),
        "vocab_size": r.vocab.size,
        "bytes_mode": r.vocab.bytes_mode,
        "vocab": "".join(r.vocab.token(i) for i in range(r.vocab.size)),
        **r.describe(),
    }


def run(args) -> int:
    """Print what the run holds, as text or one JSON object."""
    d = describe(args.run_dir)
    if build(args, InfoCommand).json:
        print(json.dumps(d, ensure_ascii=False))
        return 0
    print(d["headline"])
    print(
        f"vocabulary  {d['vocab_size']} {'bytes' if d['bytes_mode'] else 'characters'}: "
        f"{d['vocab'][:200]!r}"
    )
    if d.get("best_val_loss") is not None:
        bl = d["best_val_loss"]
        print(
            f"best val    {bl:.4f} nats/char ({bl / math.log(2):.4f} bits/char) "
            f"at step {d['best_step']}"
        )
    if d.get("steps") is not None:
        ep = f"{d['epochs']:.2f} epochs, " if d.get("epochs") is not None else ""
        print(
            f"trained     {d['steps']} steps, {ep}{d['time_trained_s']:.0f} s, "
            f"{d['chars_seen'] or 0:,} characters seen"
        )
    if d.get("sources"):
        src = d["sources"]
        more = f" and {len(src) - 3} more" if len(src) > 3 else ""
        print(f"data        {', '.join(src[:3])}{more}")
    print(f"charwise    {d['charwise_version']} (format {d['format_version']})")
    return 0
