"""Ctrl-C and SIGTERM while training: finish the step, save, stop (see Interrupt)."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

# Under torchrun one Ctrl-C arrives twice: from the terminal and forwarded by torchrun's agent.
# A repeat within this many seconds is the same press, not a second one.
SAME_PRESS_S = 2.0


class Interrupt:
    """A context manager that turns signals into a flag the loop checks between steps.

    First Ctrl-C: set `requested` (the loop finishes its step, saves and stops). Second: raise
    KeyboardInterrupt at once. SIGTERM (what schedulers such as Slurm send before a kill, and
    torchrun to its workers when it stops, e.g. on a double Ctrl-C) is always the first kind.
    Outside the main thread signals cannot be handled: the flag then stays down.
    """

    def __init__(self):
        self.requested = False
        self.immediate = False  # set once the state is saved: then any Ctrl-C stops at once
        self._first = 0.0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self._old[signal.SIGINT] = signal.signal(signal.SIGINT, self._ctrl_c)
            self._old[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._terminate)
        return self

    def _ctrl_c(self, signum, frame):
        if self.immediate or (self.requested and time.monotonic() - self._first > SAME_PRESS_S):
            raise KeyboardInterrupt
        self._terminate(signum, frame)

    def _terminate(self, signum, frame):
        if not self.requested:
            self.requested, self._first = True, time.monotonic()

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()
