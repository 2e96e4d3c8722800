"""Where a run stands (step, epoch, data position, time, best validation loss, patience) and the
rules that end it: the step, epoch and time limits and --patience."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..config import TrainConfig


@dataclass
class Progress:
    """The counters of a run, all saved with its state and restored on resume."""

    steps_per_epoch: int  # of the train split at this batch shape (not saved: it follows)
    step: int = 0  # optimisation steps taken, over all sessions
    epoch: int = 0  # whole epochs done
    pos: int = 0  # the next batch within the epoch
    elapsed: float = 0.0  # seconds of training, over all sessions
    best: float = math.inf  # the best validation loss so far
    bad_evals: int = 0  # validations since the best one (--patience)

    @property
    def epoch_float(self) -> float:
        return self.epoch + self.pos / self.steps_per_epoch

    @property
    def best_val_loss(self) -> float | None:
        return None if math.isinf(self.best) else self.best

    def advance(self) -> None:
        """One step done: the next batch, or the next epoch's first."""
        self.step, self.pos = self.step + 1, self.pos + 1
        if self.pos >= self.steps_per_epoch:
            self.epoch, self.pos = self.epoch + 1, 0

    def stop_reason(self, tc: TrainConfig) -> str | None:
        """The limit the run has reached, if any: "max_steps", "epochs" or "max_time"."""
        if tc.max_steps and self.step >= tc.max_steps:
            return "max_steps"
        if tc.epochs and self.epoch_float >= tc.epochs - 1e-9:
            return "epochs"
        if tc.max_time and self.elapsed >= tc.max_time:
            return "max_time"
        return None

    def finished_reason(self, tc: TrainConfig) -> str | None:
        """Why a restored run has nothing left to train (None: it has)."""
        if tc.patience and self.bad_evals >= tc.patience:
            return "patience"
        return self.stop_reason(tc)

    def total_steps(self, tc: TrainConfig) -> int | None:
        """The step at which a step or epoch limit ends the run (None: only time limits it)."""
        limits = [tc.max_steps] if tc.max_steps else []
        if tc.epochs:
            limits.append(math.ceil(tc.epochs * self.steps_per_epoch))
        return min(limits) if limits else None

    def record(self) -> dict[str, Any]:
        """The counters as the state file's metadata holds them."""
        return {
            "step": self.step,
            "epoch": self.epoch,
            "pos": self.pos,
            "epochs_trained": round(self.epoch_float, 4),  # what `charwise info` reports
            "elapsed": self.elapsed,
            "best_val_loss": self.best_val_loss,
            "bad_evals": self.bad_evals,
        }

    def restore(self, rec: dict[str, Any]) -> None:
        """Take the counters of a saved record (see `record`)."""
        self.step, self.epoch, self.pos = rec["step"], rec["epoch"], rec["pos"]
        self.elapsed, self.bad_evals = rec["elapsed"], rec["bad_evals"]
        self.best = rec["best_val_loss"] if rec["best_val_loss"] is not None else math.inf
