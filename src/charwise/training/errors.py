"""The errors training raises with the facts a front end needs to advise the user.

Each carries what happened and what is on disk; its message states those plainly. What to do
next (which command to type, which option to change) is the front end's to word: the CLI's
advice is in commands/train.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import CharwiseError

# What a run directory keeps to continue from (state.saved_in): a resumable state.safetensors,
# only the best weights (model.safetensors: no state was saved yet), or nothing.
Saved = Literal["state", "best", "nothing"]

_KEPT = {
    "state": "its resumable state, saved before it diverged, is intact in {d}",
    "best": "its best weights are intact in {d}, but no resumable state was saved yet",
    "nothing": "nothing was saved in {d} yet",
}


class DivergedError(CharwiseError):
    """The training loss went over `max_loss` or turned NaN / inf (`loss` holds it), or the
    weights stopped being finite before a save (`loss` is None: no loss was checked since).

    Facts: `step` (the step at which, or by which, it diverged), `max_loss` (the threshold),
    `vocab_size` (ln of it is the loss of a model that knows nothing), `run_dir`, `saved` (what
    the directory keeps), `lr` (the configured peak learning rate), `save_every`.
    """

    def __init__(
        self,
        *,
        step: int,
        loss: float | None,
        max_loss: float,
        vocab_size: int,
        run_dir: Path,
        saved: Saved,
        lr: float,
        save_every: int,
    ):
        self.step, self.loss, self.max_loss = step, loss, max_loss
        self.vocab_size, self.run_dir, self.saved = vocab_size, Path(run_dir), saved
        self.lr, self.save_every = lr, save_every
        if loss is None:
            what = f"by step {step} (the weights are not finite)"
        else:
            what = f"at step {step} (loss {loss:.4g}, limit max_loss = {max_loss:g})"
        super().__init__(f"training diverged {what}; {_KEPT[saved].format(d=self.run_dir)}")


class RunExistsError(CharwiseError):
    """A new run was asked for in a directory that already holds one (`run_dir`)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        super().__init__(f"{self.run_dir} already holds a run")


class RunTextChangedError(CharwiseError):
    """The text of the run in `run_dir` is not the one it started on, so it cannot resume."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        super().__init__(
            f"the training text changed since the run in {self.run_dir} started, so it cannot "
            "be resumed"
        )
