"""`charwise info RUN_DIR`: what a run directory holds."""

from __future__ import annotations

import json
from pathlib import Path

from ..runs.format import load


def register(sub) -> None:
    p = sub.add_parser("info", help="config, size, vocabulary and progress of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(run_dir) -> dict:
    from ..training.state import STATE_FILE

    r = load(run_dir)
    cfg = r.config
    out = {
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
    }
    if r.kind == "ngram":
        out.update(r.model.describe())
        return out
    out["params"] = r.model.num_params
    out["best_val_loss"] = r.info.get("val_loss")
    # Without a validation yet, load() fell back to the resumable state: its step is the last
    # one, not the step of a best checkpoint.
    out["best_step"] = r.info.get("step") if out["best_val_loss"] is not None else None
    if (Path(run_dir) / STATE_FILE).exists():
        last = load(run_dir, weights="last").info
        out["steps"] = last.get("step")
        out["epochs"] = epochs_trained(last)
        out["time_trained_s"] = last.get("elapsed")
        out["chars_seen"] = last.get("chars_seen")
    return out


def epochs_trained(trainer: dict) -> float | None:
    """Fractional passes over the train split, as the saved state records them (runs saved
    before it did: the step's epoch counter, or None)."""
    ep = trainer.get("epochs_trained", trainer.get("epoch"))
    return float(ep) if isinstance(ep, int | float) else None


def run(args) -> int:
    d = describe(args.run_dir)
    if args.json:
        print(json.dumps(d, ensure_ascii=False))
        return 0
    m = d["model"]
    if d["kind"] == "ngram":
        print(f"n-gram model, order {m.get('order')}")
    else:
        print(
            f"{m['kind'].upper()} {m['layers']}x{m['hidden']} (embedding {m['embed']}, "
            f"dropout {m['dropout']}), {d['params']:,} parameters"
        )
    print(
        f"vocabulary  {d['vocab_size']} {'bytes' if d['bytes_mode'] else 'characters'}: "
        f"{d['vocab'][:200]!r}"
    )
    if d.get("best_val_loss") is not None:
        bl = d["best_val_loss"]
        print(
            f"best val    {bl:.4f} nats/char ({bl / 0.6931471805599453:.4f} bits/char) "
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
        print(
            f"data        {', '.join(src[:3])}{f' and {len(src) - 3} more' if len(src) > 3 else ''}"
        )
    print(f"charwise    {d['charwise_version']} (format {d['format_version']})")
    return 0
