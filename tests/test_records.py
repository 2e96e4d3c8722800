"""What a run records: a log window's means, strict JSON lines, rank 0 alone writing, and the
records past a saved step dropped on resume."""

from __future__ import annotations

import json
import math

import pytest
import torch

from charwise.training.distributed import Dist
from charwise.training.events import Callbacks
from charwise.training.progress import Progress
from charwise.training.records import LogWindow, RunLog


def test_a_log_window_averages_its_steps_and_starts_afresh():
    w = LogWindow(torch.device("cpu"), chars_per_step=100)
    w.add(torch.tensor(2.0), torch.tensor(1.0), 0.5)
    w.add(torch.tensor(4.0), torch.tensor(3.0), 0.5)
    loss, grad_norm, chars_per_s = w.close(Dist())
    assert (loss, grad_norm) == (3.0, 2.0)
    assert 0 < chars_per_s <= 200  # 200 characters in a bit over one second
    assert w.steps == 0 and float(w.loss) == 0.0 and float(w.grad_norm) == 0.0


class Seen(Callbacks):
    def __init__(self):
        self.steps, self.evals, self.samples = [], [], []

    def on_step(self, rec) -> None:
        self.steps.append(rec)

    def on_eval(self, rec) -> None:
        self.evals.append(rec)

    def on_sample(self, rec) -> None:
        self.samples.append(rec)


def _lines(path):
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines()]


def test_records_are_strict_json_and_reach_the_callbacks(tmp_path):
    seen, p = Seen(), Progress(steps_per_epoch=10, step=3, pos=3, best=1.5)
    log = RunLog(tmp_path, seen)
    log.train(p, float("nan"), 1e-3, 0.5, 1000.0)
    log.val(p, 2.0)
    log.sample(p, "héllo")
    train, val = _lines(tmp_path / "log.jsonl")
    assert train["loss"] is None and train["step"] == 3 and train["epoch"] == 0.3
    assert val["val_loss"] == 2.0 and val["best_val_loss"] == 1.5
    assert val["val_bpc"] == pytest.approx(2.0 / math.log(2))
    assert _lines(tmp_path / "samples.jsonl")[0]["text"] == "héllo"
    assert math.isnan(seen.steps[0]["loss"]) and seen.evals[0] == val and seen.samples


def test_a_log_that_does_not_write_still_reports(tmp_path):
    seen = Seen()
    RunLog(tmp_path, seen, writes=False).train(Progress(steps_per_epoch=1), 1.0, 1e-3, 0.5, 1.0)
    assert seen.steps and not (tmp_path / "log.jsonl").exists()


def test_truncate_drops_the_records_past_the_saved_step(tmp_path):
    log = RunLog(tmp_path, Callbacks())
    p = Progress(steps_per_epoch=100)
    for step in range(1, 6):
        p.step = step
        log.train(p, 1.0, 1e-3, 0.5, 1.0)
        log.sample(p, "x")
    log.truncate(3)
    assert [r["step"] for r in _lines(tmp_path / "log.jsonl")] == [1, 2, 3]
    assert [r["step"] for r in _lines(tmp_path / "samples.jsonl")] == [1, 2, 3]
