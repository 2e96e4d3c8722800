"""Ctrl-C and SIGTERM: the first sets a flag (the loop finishes its step, saves and stops), a
second Ctrl-C stops at once; a run stopped either way resumes where it stopped."""

from __future__ import annotations

import os
import signal

import pytest

from charwise.training.lifecycle import resume, train
from charwise.training.signals import SAME_PRESS_S, Interrupt
from charwise.training.trainer import Trainer
from conftest import InterruptAt, read_records


def test_the_first_ctrl_c_asks_the_second_stops(monkeypatch):
    with Interrupt() as intr:
        assert not intr.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert intr.requested
        # Under torchrun one press arrives twice: a repeat at once is the same press.
        os.kill(os.getpid(), signal.SIGINT)
        intr._first -= SAME_PRESS_S + 1  # a press later than that is a second one
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_only_asks_and_immediate_stops_at_the_first_ctrl_c():
    with Interrupt() as intr:
        os.kill(os.getpid(), signal.SIGTERM)
        intr._first -= SAME_PRESS_S + 1
        os.kill(os.getpid(), signal.SIGTERM)  # never more than a request
        assert intr.requested
    with Interrupt() as intr:
        intr.immediate = True  # the state is saved: nothing to finish first
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_sigterm_saves_a_resumable_state_like_ctrl_c(tmp_path, short_text, make_config):
    # Slurm, and torchrun stopping its workers, send SIGTERM: save and stop, not die unsaved.
    cfg = make_config([short_text], max_steps=12, sample_every=1000)
    part = train(cfg, tmp_path / "r", callbacks=InterruptAt(4, signal.SIGTERM))
    assert part.stopped == "interrupted" and part.steps == 4
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the old handler is back
    done = resume(tmp_path / "r")
    assert done.stopped == "max_steps" and done.steps == 12
    assert [r["step"] for r in read_records(tmp_path / "r")] == list(range(1, 13))


def test_ctrl_c_during_the_final_validation_keeps_a_resumable_run(
    tmp_path, short_text, make_config, monkeypatch
):
    # The last validation runs after the loop (a while on a large validation split); a Ctrl-C
    # there used to escape the handler and leave a run folder without any state.
    real = Trainer.evaluate_and_check

    def interrupted_eval(self):
        if self.progress.step == 6:  # the final one: eval_every is far away
            os.kill(os.getpid(), signal.SIGINT)
        return real(self)

    monkeypatch.setattr(Trainer, "evaluate_and_check", interrupted_eval)
    cfg = make_config([short_text], max_steps=6, eval_every=1000, sample_every=1000)
    res = train(cfg, tmp_path / "r")
    assert res.stopped == "interrupted" and res.steps == 6
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert (tmp_path / "r" / "state.safetensors").exists()
    monkeypatch.setattr(Trainer, "evaluate_and_check", real)
    more = resume(tmp_path / "r", overrides={"max_steps": 9})
    assert more.steps == 9 and more.stopped == "max_steps"
    assert [r["step"] for r in read_records(tmp_path / "r")] == list(range(1, 10))
