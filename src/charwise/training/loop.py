"""The training loop, top to bottom: when each thing happens. How each is done (the step,
validation, samples, saves) is the Trainer's (trainer.py)."""

from __future__ import annotations

import time

from . import distributed as ddp
from .events import TrainResult
from .records import LogWindow
from .schedule import learning_rate, progress, update_groups
from .signals import Interrupt
from .trainer import Trainer


def run(tr: Trainer) -> TrainResult:
    """Train `tr` from its current step until a limit (steps, time, epochs), --patience or a
    signal stops the run; the state is saved at the end, so the run can be resumed.

    Each step: the learning rate (and the batch-size schedule's updates per batch) for this
    point of the run, one training step on the next batch, the counters
    and the clock (rank 0's, so every rank agrees). Every so often: a `train` record of the log
    window (which also checks that the loss has not diverged), validation (rank 0; keeps the
    best weights, counts patience), a sample (rank 0), a resumable save. A run that stops
    validates and samples once more unless it just did. Every rank runs this loop; the stop
    decisions are agreed between ranks, so all stop at the same step.
    """
    tc, p, main = tr.tc, tr.progress, tr.dist.is_main
    done = p.finished_reason(tc)
    if done:
        # A resumed run already at its limits: validating, sampling and logging again would
        # only duplicate the last records (and count against --patience).
        return tr.finish(done, already_finished=True)
    tr.model.train()
    tr.cb.on_start(tr.start_info())
    window = LogWindow(tr.device, chars_per_step=tr.chars_per_step)
    t_last = time.perf_counter()
    lr = tc.lr  # set by every step; read only once a step has run
    with Interrupt() as intr:
        while True:
            stopped = p.stop_reason(tc)
            if stopped or ddp.any_flag(tr.dist, intr.requested):
                stopped = stopped or "interrupted"
                # A partial window is logged, or its losses would be lost (every rank gets here
                # together: the flag was agreed between ranks).
                if window.steps:
                    tr.log_window(window, lr)
                break

            prog = progress(tc, p.step, p.elapsed, p.epoch_float)
            lr = learning_rate(tc, p.step, prog, p.epoch)
            t0 = time.perf_counter()
            loss = tr.train_step(lr, update_groups(tc, prog))
            window.add(loss, tr.grad_norm, time.perf_counter() - t0)
            p.advance()
            now = time.perf_counter()
            p.elapsed += ddp.broadcast_float(tr.dist, now - t_last)
            t_last = now

            if p.step % tc.log_every == 0 or p.stop_reason(tc):
                tr.log_window(window, lr)
            if p.step % tc.eval_every == 0 and tr.evaluate_and_check():
                stopped = "patience"
                break
            if main and p.step % tc.sample_every == 0:
                tr.write_sample()
            if p.step % tc.save_every == 0:
                tr.save_state()

        # Still under the handler: a Ctrl-C during the final validation or sample (a while on a
        # large validation split) must not lose the run, so its state is saved first; from then
        # on a Ctrl-C stops at once.
        final_eval = stopped not in ("patience", "interrupted") and p.step % tc.eval_every
        final_sample = main and stopped != "interrupted" and p.step % tc.sample_every
        tr.save_state()
        if final_eval or final_sample:
            intr.immediate = True
            try:
                if final_eval:
                    tr.evaluate_and_check()
                if final_sample:
                    tr.write_sample()
            except KeyboardInterrupt:
                stopped = "interrupted"
            else:
                tr.save_state()
            finally:
                intr.immediate = False
    return tr.finish(stopped)
