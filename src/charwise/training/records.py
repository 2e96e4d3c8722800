"""What a run records besides its weights: log.jsonl (a `train` record per log window, a `val`
record per validation) and samples.jsonl, one JSON object a line, each with its step; the
callbacks get the same records as they come."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from ..use.evaluate import LN2
from . import distributed as ddp
from .events import Callbacks
from .progress import Progress

LOG_FILE = "log.jsonl"
SAMPLES_FILE = "samples.jsonl"
SAMPLE_TEMPERATURE = 0.8


class LogWindow:
    """The steps since the last `train` record: their summed loss and gradient norm, kept on the
    device (no host sync per step), their count and their training time."""

    def __init__(self, device: torch.device, chars_per_step: int):
        self.chars_per_step = chars_per_step  # the global batch's: B streams x T characters
        self.loss = torch.zeros((), device=device)
        self.grad_norm = torch.zeros((), device=device)
        self.steps = 0
        self.seconds = 0.0

    def add(self, loss: torch.Tensor, grad_norm: torch.Tensor, seconds: float) -> None:
        """One step: its mean loss and gradient norm (0-d tensors on the device), its time."""
        self.loss += loss
        self.grad_norm += grad_norm
        self.steps += 1
        self.seconds += seconds

    def close(self, dist: ddp.Dist) -> tuple[float, float, float]:
        """(mean loss of the global batch, mean gradient norm, characters per second) over the
        window, which then starts afresh. One host sync, counted in the window's time: the
        device may still be running the last steps."""
        t0 = time.perf_counter()
        loss = float(ddp.mean(dist, self.loss) / self.steps)
        # DDP all-reduced the gradients: every rank has the same norm.
        grad_norm = float(self.grad_norm) / self.steps
        self.seconds += time.perf_counter() - t0
        chars_per_s = self.steps * self.chars_per_step / max(self.seconds, 1e-9)
        self.loss.zero_()
        self.grad_norm.zero_()
        self.steps, self.seconds = 0, 0.0
        return loss, grad_norm, chars_per_s


class RunLog:
    """Writes the records of `run_dir` (when `writes`: rank 0 only under torchrun) and passes
    them to `callbacks`."""

    def __init__(self, run_dir: Path, callbacks: Callbacks, writes: bool = True):
        self.run_dir, self.cb, self.writes = Path(run_dir), callbacks, writes

    def train(self, p: Progress, loss: float, lr: float, grad_norm: float, chars_per_s: float):
        """A log window's record: its mean loss (nats/char) and gradient norm, the last lr."""
        rec = {
            "event": "train",
            "step": p.step,
            "epoch": round(p.epoch_float, 4),
            "loss": loss,
            "bpc": loss / LN2,
            "lr": lr,
            "grad_norm": grad_norm,
            "chars_per_s": round(chars_per_s, 1),
            "elapsed": round(p.elapsed, 2),
        }
        self.cb.on_step(rec)
        self._append(LOG_FILE, rec)

    def val(self, p: Progress, loss: float) -> None:
        """A validation's record: its loss (nats/char) and the best so far (p.best)."""
        rec = {
            "event": "val",
            "step": p.step,
            "epoch": round(p.epoch_float, 4),
            "val_loss": loss,
            "val_bpc": loss / LN2,
            "elapsed": round(p.elapsed, 2),
            "best_val_loss": p.best,
        }
        self._append(LOG_FILE, rec)
        self.cb.on_eval(rec)

    def sample(self, p: Progress, text: str) -> None:
        rec = {
            "step": p.step,
            "elapsed": round(p.elapsed, 2),
            "temperature": SAMPLE_TEMPERATURE,
            "text": text,
        }
        self._append(SAMPLES_FILE, rec)
        self.cb.on_sample(rec)

    def truncate(self, step: int) -> None:
        """Drop the records past `step` (written after the last state save, before a crash or
        a stop: the resumed run writes them again)."""
        if self.writes:
            for name in (LOG_FILE, SAMPLES_FILE):
                truncate_jsonl(self.run_dir / name, step)

    def _append(self, name: str, rec: dict[str, Any]) -> None:
        if not self.writes:
            return
        with open(self.run_dir / name, "a", encoding="utf-8") as f:
            # Strict JSON: a NaN / inf figure is written as null.
            clean = {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in rec.items()
            }
            f.write(json.dumps(clean, ensure_ascii=False) + "\n")


def truncate_jsonl(path: Path, step: int) -> None:
    """Drop the records of `path` past `step`."""
    if not path.exists():
        return
    keep = [
        ln
        for ln in path.read_text(encoding="utf-8").splitlines()
        if ln.strip() and json.loads(ln).get("step", 0) <= step
    ]
    path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
