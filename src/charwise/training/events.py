"""What a training run reports: progress hooks while it runs and its result at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class TrainResult:
    run_dir: Path
    steps: int
    epochs: float
    best_val_loss: float | None
    elapsed: float
    stopped: str  # "max_steps" | "max_time" | "epochs" | "patience" | "interrupted"
    # True when a resumed run had already reached its limits: nothing was trained, validated,
    # sampled or logged in this session.
    already_finished: bool = False


class Callbacks:
    """Hooks the CLI uses to show progress; the library itself never prints. Only rank 0's are
    called under torchrun."""

    def on_start(self, info: dict[str, Any]) -> None: ...
    def on_step(self, rec: dict[str, Any]) -> None: ...
    def on_eval(self, rec: dict[str, Any]) -> None: ...
    def on_sample(self, rec: dict[str, Any]) -> None: ...
    def on_end(self, result: TrainResult) -> None: ...
