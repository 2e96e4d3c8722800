"""`charwise info RUN_DIR`: what a run directory holds."""

from __future__ import annotations

import json
from pathlib import Path

from ..checkpoint import load


def register(sub) -> None:
    p = sub.add_parser("info", help="config, size, vocabulary and progress of a run")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(run_dir) -> dict:
    from ..state import STATE_FILE

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
    out["best_step"] = r.info.get("step")
    if (Path(run_dir) / STATE_FILE).exists():
        last = load(run_dir, weights="last").info
        out["steps"] = last.get("step")
        out["epochs"] = epochs_trained(Path(run_dir), last)
        out["time_trained_s"] = last.get("elapsed")
        out["chars_seen"] = last.get("chars_seen")
    return out


def epochs_trained(run_dir: Path, trainer: dict) -> float | None:
    """Fractional passes over the train split, as training reports them (epoch + pos / steps per
    epoch). The saved state has the step, the epoch counter and the position in the epoch, not
    the steps per epoch; every step advances the position and an epoch ends after exactly steps
    per epoch of them, so step = epoch * steps_per_epoch + pos gives it once an epoch is done."""
    step, epoch, pos = trainer.get("step"), trainer.get("epoch"), trainer.get("pos")
    if not all(isinstance(v, int) for v in (step, epoch, pos)):
        return None
    if pos == 0:
        return float(epoch)
    if epoch >= 1 and step > pos:
        return round(epoch + pos * epoch / (step - pos), 4)  # as log.jsonl rounds it
    # Still in the first epoch: only the log knows how far through. Its records carry the
    # fractional epoch; the last one before the saved step scales to it (pos is the step here).
    last = None
    try:
        with open(run_dir / "log.jsonl", encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut off by a crash
                if not isinstance(rec, dict):
                    continue
                s, e = rec.get("step"), rec.get("epoch")
                if isinstance(s, int) and isinstance(e, int | float) and 0 < s <= step and e > 0:
                    last = (s, e)
    except (OSError, UnicodeDecodeError):  # no log, or a damaged one: no figure
        return None
    return round(last[1] * step / last[0], 4) if last else None


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
