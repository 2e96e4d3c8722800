"""The resumable state: a run interrupted and resumed retraces the uninterrupted one exactly
(weights, optimizer, generators, data position, carried state, weight average), and a state
that does not fit the run is refused."""

from __future__ import annotations

import signal
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from charwise.config import RunConfig
from charwise.data.corpus import load_corpus
from charwise.errors import CharwiseError
from charwise.runs.format import read_config, read_vocab
from charwise.training.events import Callbacks
from charwise.training.lifecycle import resume, train
from charwise.training.state import STATE_FILE, saved_in
from charwise.training.trainer import Trainer
from conftest import InterruptAt, read_records, read_samples


def _last_weights(run_dir):
    """The latest raw weights and, with --ema, the weight average, from the resumable state."""
    t = load_file(str(run_dir / STATE_FILE))
    return {k: v for k, v in t.items() if k.startswith(("model.", "average."))}


@pytest.mark.parametrize(("kind", "ema"), [("lstm", 0.0), ("gru", 0.0), ("lstm", 0.9)])
def test_resume_after_ctrl_c_equals_uninterrupted(tmp_path, short_text, make_config, kind, ema):
    # Dropout uses the RNG, the cosine schedule the step; 15 steps cross two epoch boundaries
    # (7 steps per epoch); the interruption falls mid-epoch, so the carried state matters.
    # With --ema the weight average and its update count must survive the interruption too.
    cfg = make_config(
        [short_text],
        model={"kind": kind, "dropout": 0.2},
        max_steps=15,
        warmup=3,
        sample_every=1000,
        ema=ema,
    )
    full = train(cfg, tmp_path / "full")
    assert full.stopped == "max_steps" and full.steps == 15

    part = train(cfg, tmp_path / "part", callbacks=InterruptAt(5))
    assert part.stopped == "interrupted" and part.steps == 5
    # Ctrl-C restores the previous handler afterwards.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    done = resume(tmp_path / "part")
    assert done.stopped == "max_steps" and done.steps == 15

    a = {r["step"]: r for r in read_records(tmp_path / "full")}
    b = {r["step"]: r for r in read_records(tmp_path / "part")}
    assert sorted(b) == list(range(1, 16))  # no step lost, none repeated
    for step in range(1, 16):
        assert (b[step]["loss"], b[step]["lr"]) == (a[step]["loss"], a[step]["lr"]), step
    wa, wb = _last_weights(tmp_path / "full"), _last_weights(tmp_path / "part")
    assert wa.keys() == wb.keys()
    assert any(k.startswith("average.") for k in wa) == (ema > 0)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    va, vb = read_records(tmp_path / "full", "val"), read_records(tmp_path / "part", "val")
    assert va[-1]["val_loss"] == vb[-1]["val_loss"]
    assert (
        read_samples(tmp_path / "full")[-1]["text"] == read_samples(tmp_path / "part")[-1]["text"]
    )


def test_a_state_saved_with_another_global_batch_is_refused(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "r")
    cfg = RunConfig.from_dict(read_config(tmp_path / "r"))
    cfg = replace(cfg, train=replace(cfg.train, batch_size=2))
    corpus = load_corpus(cfg.data, vocab=read_vocab(tmp_path / "r"))
    tr = Trainer(cfg, tmp_path / "r", corpus, Callbacks())
    with pytest.raises(CharwiseError, match="different batch_size"):
        tr.restore()


def test_saved_in_says_what_a_run_directory_keeps(tmp_path):
    assert saved_in(tmp_path) == "nothing"
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert saved_in(tmp_path) == "best"
    (tmp_path / STATE_FILE).write_bytes(b"")
    assert saved_in(tmp_path) == "state"
