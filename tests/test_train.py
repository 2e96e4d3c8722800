"""Training: overfitting, determinism, resume == uninterrupted, stopping rules, divergence,
fine-tuning, and the hidden state carried from batch to batch."""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from charwise.config import RunConfig
from charwise.data.corpus import load_corpus
from charwise.errors import CharwiseError
from charwise.runs.format import read_config
from charwise.runs.load import load
from charwise.training.lifecycle import Callbacks, Trainer, resume, train

# ~260 characters: with batch 4 x seq 8 an epoch is 7 steps, so short runs cross epoch boundaries.
SHORT_TEXT = (
    "It was the best of times, it was the worst of times; it was the age of wisdom, "
    "it was the age of foolishness. Über naïve café — 日本! "
) * 2


def _records(run_dir, event="train"):
    lines = (run_dir / "log.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == event]


def _samples(run_dir):
    lines = (run_dir / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(ln) for ln in lines]


def _last_weights(run_dir):
    """The latest raw weights and, with --ema, the weight average, from the resumable state."""
    t = load_file(str(run_dir / "state.safetensors"))
    return {k: v for k, v in t.items() if k.startswith(("model.", "average."))}


@pytest.fixture
def short_text(tmp_path):
    p = tmp_path / "short.txt"
    p.write_text(SHORT_TEXT, encoding="utf-8")
    return p


class InterruptAt(Callbacks):
    """Sends this process a real SIGINT (or `sig`) after step `at`: the trainer's handler sets
    its flag and the loop saves and stops at the next step boundary."""

    def __init__(self, at: int, sig: int = signal.SIGINT):
        self.at, self.sig = at, sig

    def on_step(self, rec) -> None:
        if rec["step"] == self.at:
            os.kill(os.getpid(), self.sig)


def test_tiny_model_overfits_a_30_character_text(overfit_run):
    run_dir, text = overfit_run
    assert len(text) == 30
    losses = [r["loss"] for r in _records(run_dir)]
    assert losses[0] > 2.0  # ~ln(16) at the start
    assert losses[-1] < 0.1
    for r in _records(run_dir):
        assert math.isclose(r["bpc"], r["loss"] / math.log(2))


def test_log_records_every_figure(tmp_path, short_text, make_config):
    cfg = make_config([short_text], max_steps=4, eval_every=2, sample_every=2)
    res = train(cfg, tmp_path / "r")
    assert res.steps == 4 and res.stopped == "max_steps"
    rec = _records(tmp_path / "r")[0]
    assert {"step", "epoch", "loss", "bpc", "lr", "grad_norm", "chars_per_s", "elapsed"} <= set(rec)
    # The gradient norm (before clipping), averaged over each log window.
    norms = [r["grad_norm"] for r in _records(tmp_path / "r")]
    assert all(n > 0 and math.isfinite(n) for n in norms)
    vals = _records(tmp_path / "r", "val")
    assert [v["step"] for v in vals] == [2, 4]
    assert {"val_loss", "val_bpc", "best_val_loss"} <= set(vals[0])
    assert [s["step"] for s in _samples(tmp_path / "r")] == [2, 4]
    assert res.best_val_loss == min(v["val_loss"] for v in vals)
    assert load(tmp_path / "r").info["val_loss"] == res.best_val_loss


def test_an_interrupted_run_logs_its_partial_window(tmp_path, short_text, make_config):
    # Ctrl-C mid-window (after the sample at step 5, with --log-every 4): the loss of step 5 is
    # logged as a window of one step, not lost; the resumed run logs its windows from there.
    class InterruptAtSample(Callbacks):
        def on_sample(self, rec) -> None:
            if rec["step"] == 5:
                os.kill(os.getpid(), signal.SIGINT)

    cfg = make_config([short_text], max_steps=12, log_every=4, sample_every=5)
    assert train(cfg, tmp_path / "r", callbacks=InterruptAtSample()).steps == 5
    assert [r["step"] for r in _records(tmp_path / "r")] == [4, 5]
    resume(tmp_path / "r")
    assert [r["step"] for r in _records(tmp_path / "r")] == [4, 5, 8, 12]


def test_ctrl_c_during_the_final_validation_keeps_a_resumable_run(
    tmp_path, short_text, make_config, monkeypatch
):
    # The last validation runs after the loop (a while on a large validation split); a Ctrl-C
    # there used to escape the handler and leave a run folder without any state.
    real = Trainer.evaluate_and_check

    def interrupted_eval(self):
        if self.step == 6:  # the final one: eval_every is far away
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
    assert [r["step"] for r in _records(tmp_path / "r")] == list(range(1, 10))


def test_sigterm_saves_a_resumable_state_like_ctrl_c(tmp_path, short_text, make_config):
    # Slurm, and torchrun stopping its workers, send SIGTERM: save and stop, not die unsaved.
    cfg = make_config([short_text], max_steps=12, sample_every=1000)
    part = train(cfg, tmp_path / "r", callbacks=InterruptAt(4, signal.SIGTERM))
    assert part.stopped == "interrupted" and part.steps == 4
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the old handler is back
    done = resume(tmp_path / "r")
    assert done.stopped == "max_steps" and done.steps == 12
    assert [r["step"] for r in _records(tmp_path / "r")] == list(range(1, 13))


def test_same_seed_same_losses_and_samples(tmp_path, short_text, make_config):
    cfg = make_config([short_text], model={"dropout": 0.2}, max_steps=8, sample_every=4)
    train(cfg, tmp_path / "a")
    train(cfg, tmp_path / "b")
    la, lb = _records(tmp_path / "a"), _records(tmp_path / "b")
    assert [r["loss"] for r in la] == [r["loss"] for r in lb]
    sa, sb = _samples(tmp_path / "a"), _samples(tmp_path / "b")
    assert len(sa) == 2 and [s["text"] for s in sa] == [s["text"] for s in sb]
    # The seed matters.
    train(
        make_config([short_text], model={"dropout": 0.2}, max_steps=8, sample_every=4, seed=1),
        tmp_path / "c",
    )
    assert [r["loss"] for r in _records(tmp_path / "c")] != [r["loss"] for r in la]


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

    a = {r["step"]: r for r in _records(tmp_path / "full")}
    b = {r["step"]: r for r in _records(tmp_path / "part")}
    assert sorted(b) == list(range(1, 16))  # no step lost, none repeated
    for step in range(1, 16):
        assert (b[step]["loss"], b[step]["lr"]) == (a[step]["loss"], a[step]["lr"]), step
    wa, wb = _last_weights(tmp_path / "full"), _last_weights(tmp_path / "part")
    assert wa.keys() == wb.keys()
    assert any(k.startswith("average.") for k in wa) == (ema > 0)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    va, vb = _records(tmp_path / "full", "val"), _records(tmp_path / "part", "val")
    assert va[-1]["val_loss"] == vb[-1]["val_loss"]
    assert _samples(tmp_path / "full")[-1]["text"] == _samples(tmp_path / "part")[-1]["text"]


def test_resume_rejects_changes_to_the_model_or_data(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "r")
    # The library names the fields; the CLI words them as flags (test_cli_train_errors.py).
    with pytest.raises(CharwiseError, match="when a run resumes: optimizer, seq_len$"):
        resume(tmp_path / "r", overrides={"seq_len": 4, "optimizer": "sgd"})
    # Limits can change: continue a finished run for two more steps.
    assert resume(tmp_path / "r", overrides={"max_steps": 4}).steps == 4
    with pytest.raises(CharwiseError, match="already holds a run"):
        train(make_config([short_text], max_steps=2), tmp_path / "r")


def _never_improving(make_config, short_text):
    """A run whose validation loss never improves: an update of 1e-30 cannot change float32
    weights. Patience 2 stops it after 3 validations."""
    return make_config(
        [short_text],
        optimizer="sgd",
        lr=1e-30,
        warmup=0,
        schedule="constant",
        eval_every=1,
        patience=2,
        max_steps=50,
    )


def test_patience_stops_when_validation_stops_improving(tmp_path, short_text, make_config):
    cfg = _never_improving(make_config, short_text)
    res = train(cfg, tmp_path / "r")
    assert res.stopped == "patience"
    assert res.steps == 3  # the first evaluation sets the best, two more fail to beat it
    vals = _records(tmp_path / "r", "val")
    assert len(vals) == 3 and len({v["val_loss"] for v in vals}) == 1


def test_epochs_limit(tmp_path, short_text, make_config):
    res = train(make_config([short_text], max_steps=None, epochs=2), tmp_path / "r")
    assert res.stopped == "epochs"
    per_epoch = (round(len(SHORT_TEXT) * 0.9) // 4 - 1) // 8  # 4 streams of 8-step windows
    assert res.steps == 2 * per_epoch and res.epochs == pytest.approx(2.0)
    assert _records(tmp_path / "r")[per_epoch - 1]["epoch"] == pytest.approx(1.0)


def test_time_limit(tmp_path, short_text, make_config):
    res = train(make_config([short_text], max_steps=None, max_time=1e-6), tmp_path / "r")
    assert res.stopped == "max_time" and res.steps == 1


def test_exploding_loss_stops_with_a_clear_error(tmp_path, short_text, make_config):
    cfg = make_config(
        [short_text],
        optimizer="sgd",
        lr=1e4,
        grad_clip=0.0,
        warmup=0,
        schedule="constant",
        max_steps=40,
    )
    with pytest.raises(CharwiseError, match=r"training diverged at step \d+ .*--lr"):
        train(cfg, tmp_path / "r")
    # Before any checkpoint exists, the message does not claim one.
    with pytest.raises(CharwiseError, match=r"step 1 \(loss \d.*no checkpoint was saved yet"):
        train(make_config([short_text], max_loss=0.5), tmp_path / "r2")


def test_nan_keeps_the_last_good_checkpoint(tmp_path, short_text, make_config, monkeypatch):
    original = Trainer.train_step

    def poisoned(self, lr):
        loss = original(self, lr)
        if self.step == 3:  # after the 4th update the weights turn to NaN
            with torch.no_grad():
                self.model.head.weight.fill_(float("nan"))
        return loss

    monkeypatch.setattr(Trainer, "train_step", poisoned)
    cfg = make_config([short_text], eval_every=2, max_steps=20)
    with pytest.raises(CharwiseError, match="diverged at step 5 .*checkpoint is intact"):
        train(cfg, tmp_path / "r")
    run = load(tmp_path / "r")
    # The NaN evaluation at step 4 did not replace the best model of step 2.
    assert run.info["step"] == 2
    assert all(torch.isfinite(p).all() for p in run.model.parameters())


def test_trainer_carries_the_hidden_state_between_batches(tmp_path, short_text, make_config):
    # amp off: the step's loss is compared with an fp32 forward pass to 1e-5.
    cfg = make_config([short_text], amp=False)
    corpus = load_corpus(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    tr = Trainer(cfg, tmp_path, corpus, Callbacks())
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    # lr 0: the weights do not move, so the losses depend only on the data and the state.
    tr.train_step(0.0)
    tr.pos = 1
    second = tr.train_step(0.0).item()
    assert all(torch.equal(before[k], v) for k, v in tr.model.state_dict().items())
    (x0, _), (x1, y1) = tr.batches.batch(0), tr.batches.batch(1)
    tr.model.eval()  # no dropout in this config either way
    with torch.no_grad():
        logits, _ = tr.model(torch.cat([x0, x1], 1))
        carried = F.cross_entropy(logits[:, 8:].reshape(-1, logits.shape[-1]), y1.reshape(-1))
        fresh = F.cross_entropy(tr.model(x1)[0].reshape(-1, logits.shape[-1]), y1.reshape(-1))
    assert second == pytest.approx(carried.item(), abs=1e-5)
    assert abs(second - fresh.item()) > 1e-4  # a reset state would give this instead


def test_init_from_fine_tunes_and_keeps_the_vocabulary(tmp_path, overfit_run, make_config):
    base, text = overfit_run
    new = tmp_path / "new.txt"
    new.write_text(text * 3, encoding="utf-8")  # more of what the base run memorised
    cfg = make_config(
        [new],
        data={"split": (1.0, 0.0, 0.0)},
        batch_size=1,
        seq_len=7,
        max_steps=2,
        model={"hidden": 8},
    )
    ft = train(cfg, tmp_path / "ft", init_from=base)
    train(cfg, tmp_path / "fresh")
    assert ft.steps == 2
    # Architecture and vocabulary come from the base run, whatever the new config said.
    assert read_config(tmp_path / "ft")["model"] == read_config(base)["model"]
    assert (tmp_path / "ft" / "vocab.json").read_text() == (base / "vocab.json").read_text()
    # The first step starts from the base run's weights: it already knows this text.
    assert _records(tmp_path / "ft")[0]["loss"] < 0.5
    assert _records(tmp_path / "fresh")[0]["loss"] > 2.0

    other = tmp_path / "other.txt"
    other.write_text("THE QUICK fox; the cat ran far.\n" * 3, encoding="utf-8")
    with pytest.raises(CharwiseError, match="vocabulary mismatch.*'Q'"):
        train(make_config([other]), tmp_path / "bad", init_from=base)


def test_resume_may_change_the_learning_rate_clipping_and_weight_decay(
    tmp_path, short_text, make_config
):
    cfg = make_config([short_text], max_steps=4, schedule="constant", warmup=0)
    train(cfg, tmp_path / "r")
    seen = {}

    class Spy(Callbacks):
        def on_step(self, rec) -> None:
            seen[rec["step"]] = rec["lr"]

    over = {"lr": 1e-4, "grad_clip": 0.5, "max_loss": 50.0, "weight_decay": 0.1, "max_steps": 6}
    res = resume(tmp_path / "r", Spy(), overrides=over)
    assert res.steps == 6 and seen == {5: 1e-4, 6: 1e-4}
    saved = read_config(tmp_path / "r")["train"]
    assert {k: saved[k] for k in over} == over
    # The weight decay of the loaded optimizer state was replaced by the new one.
    run_cfg = RunConfig.from_dict(read_config(tmp_path / "r"))
    corpus = load_corpus(run_cfg.data, vocab=load(tmp_path / "r").vocab)
    tr = Trainer(run_cfg, tmp_path / "r", corpus, Callbacks())
    tr.restore()
    assert [g["weight_decay"] for g in tr.opt.param_groups] == [0.1, 0.0]


def _poison_after(monkeypatch, step: int) -> None:
    """From optimizer step `step` + 1 on, the weights are NaN (the loss diverges)."""
    original = Trainer.train_step

    def poisoned(self, lr):
        loss = original(self, lr)
        if self.step == step:
            with torch.no_grad():
                self.model.head.weight.fill_(float("nan"))
        return loss

    monkeypatch.setattr(Trainer, "train_step", poisoned)


def test_divergence_advice_resume_when_a_state_was_saved(
    tmp_path, short_text, make_config, monkeypatch
):
    # log_every 3: the NaN weights of step 4 reach the save at step 4 before any loss check;
    # the save refuses them, so the state of step 2 stays good, and the advice works.
    _poison_after(monkeypatch, 3)
    cfg = make_config([short_text], save_every=2, log_every=3, max_steps=8)
    with pytest.raises(CharwiseError) as e:
        train(cfg, tmp_path / "r")
    msg = str(e.value)
    assert "diverged by step 4" in msg and f"charwise train --resume {tmp_path / 'r'} --lr" in msg
    monkeypatch.undo()
    res = resume(tmp_path / "r", overrides={"lr": 3e-4})
    assert res.steps == 8 and res.stopped == "max_steps"


def test_divergence_advice_init_from_when_only_the_best_weights_exist(
    tmp_path, short_text, make_config, monkeypatch
):
    _poison_after(monkeypatch, 3)
    cfg = make_config([short_text], eval_every=2, max_steps=8)
    with pytest.raises(CharwiseError) as e:
        train(cfg, tmp_path / "r")
    msg = str(e.value)
    assert "no resumable state was saved yet" in msg and "--resume" not in msg
    assert f"--init-from {tmp_path / 'r'} --out NEW_DIR" in msg
    monkeypatch.undo()
    assert train(cfg, tmp_path / "new", init_from=tmp_path / "r").steps == 8


def test_divergence_advice_start_again_in_the_same_folder(tmp_path, short_text, make_config):
    # A finite loss over a --max-loss below where the text's loss starts: a lower --lr would stop
    # at the same place, so the advice names the threshold first.
    with pytest.raises(
        CharwiseError,
        match=r"--max-loss 0.5\); if 0.5 is too low .* raise --max-loss, else no checkpoint was "
        r"saved yet.*same --out .* reused",
    ):
        train(make_config([short_text], max_loss=0.5, max_steps=3), tmp_path / "r")
    res = train(make_config([short_text], max_steps=3), tmp_path / "r")
    assert res.steps == 3
    # The failed attempt's records are gone: only this run's steps are logged.
    assert [r["step"] for r in _records(tmp_path / "r")] == [1, 2, 3]


def test_resuming_a_finished_run_trains_and_logs_nothing(tmp_path, short_text, make_config):
    cfg = make_config([short_text], max_steps=None, epochs=1.5, eval_every=1000, sample_every=1000)
    first = train(cfg, tmp_path / "r")
    names = ("log.jsonl", "samples.jsonl", "config.json")
    files = {n: (tmp_path / "r" / n).read_bytes() for n in names}
    state = (tmp_path / "r" / "state.safetensors").stat().st_mtime_ns
    res = resume(tmp_path / "r", overrides={"lr": 1e-4})  # nothing trains: nothing is recorded
    assert res.already_finished and res.stopped == "epochs" and res.steps == first.steps
    assert res.best_val_loss == first.best_val_loss
    assert {n: (tmp_path / "r" / n).read_bytes() for n in files} == files
    assert (tmp_path / "r" / "state.safetensors").stat().st_mtime_ns == state
    # Raising the limit goes on training as before.
    more = resume(tmp_path / "r", overrides={"epochs": 2.0})
    assert not more.already_finished and more.steps > first.steps


def test_resuming_a_run_stopped_by_patience_does_nothing(tmp_path, short_text, make_config):
    cfg = _never_improving(make_config, short_text)
    assert train(cfg, tmp_path / "r").stopped == "patience"
    n = len(_records(tmp_path / "r", "val"))
    res = resume(tmp_path / "r")
    assert res.already_finished and res.stopped == "patience"
    assert len(_records(tmp_path / "r", "val")) == n


def test_resume_refuses_text_that_changed(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "r")
    assert read_config(tmp_path / "r")["text_hash"]
    short_text.write_text(SHORT_TEXT + "Zebra!", encoding="utf-8")
    with pytest.raises(CharwiseError, match="training text changed since the run .*--init-from"):
        resume(tmp_path / "r", overrides={"max_steps": 4})
    # A run from before the hash was stored can only be checked by its vocabulary: characters it
    # lacks ("Z", "!") show another text; a change within the vocabulary goes unnoticed.
    cfg_path = tmp_path / "r" / "config.json"
    d = json.loads(cfg_path.read_text(encoding="utf-8"))
    del d["text_hash"]
    cfg_path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(CharwiseError, match="training text changed"):
        resume(tmp_path / "r", overrides={"max_steps": 4})
    short_text.write_text(SHORT_TEXT + SHORT_TEXT[:20], encoding="utf-8")
    assert resume(tmp_path / "r", overrides={"max_steps": 4}).steps == 4


def test_resume_works_from_another_working_directory(tmp_path, make_config, monkeypatch):
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "t.txt").write_text(SHORT_TEXT, encoding="utf-8")
    monkeypatch.chdir(proj)
    train(make_config(["data/t.txt"], max_steps=2), "runs/a")
    assert read_config(proj / "runs/a")["data"]["sources"] == [str(proj / "data" / "t.txt")]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert resume(proj / "runs/a", overrides={"max_steps": 3}).steps == 3
    # A run whose config holds the relative path (written by an older charwise) is found from
    # the run directory's parent folders, and its config gets the absolute path.
    cfg_path = proj / "runs/a/config.json"
    d = json.loads(cfg_path.read_text(encoding="utf-8"))
    d["data"]["sources"] = ["data/t.txt"]
    cfg_path.write_text(json.dumps(d), encoding="utf-8")
    assert resume(proj / "runs/a", overrides={"max_steps": 4}).steps == 4
    assert read_config(proj / "runs/a")["data"]["sources"] == [str(proj / "data" / "t.txt")]
    # A same-named file with other text in the current folder is passed over for the one whose
    # text is the run's (its hash); a run from before the hash was stored gets it when it goes on.
    (elsewhere / "data").mkdir()
    (elsewhere / "data" / "t.txt").write_text(SHORT_TEXT.upper(), encoding="utf-8")
    text_hash = d.pop("text_hash")
    cfg_path.write_text(json.dumps(d), encoding="utf-8")
    assert resume(proj / "runs/a", overrides={"max_steps": 5}).steps == 5
    stored = read_config(proj / "runs/a")
    assert stored["data"]["sources"] == [str(proj / "data" / "t.txt")]
    assert stored["text_hash"] == text_hash
    d["data"]["sources"] = ["nowhere/t.txt"]
    cfg_path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(CharwiseError, match="cannot find the run's text nowhere/t.txt"):
        resume(proj / "runs/a", overrides={"max_steps": 6})


def test_init_from_refuses_max_vocab(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "b")
    cfg = make_config([short_text], data={"max_vocab": 5}, max_steps=2)
    with pytest.raises(CharwiseError, match="--max-vocab cannot be given with --init-from"):
        train(cfg, tmp_path / "ft", init_from=tmp_path / "b")


def test_init_from_follows_the_base_runs_text_mode(tmp_path, short_text, make_config):
    train(make_config([short_text], data={"bytes_mode": True}, max_steps=2), tmp_path / "b")
    train(make_config([short_text], max_steps=2), tmp_path / "ft", init_from=tmp_path / "b")
    assert read_config(tmp_path / "ft")["data"]["bytes_mode"] is True
    assert load(tmp_path / "ft").vocab.bytes_mode
    # Asking for bytes from a base run trained on characters is refused, naming the conflict
    # (before: "not valid UTF-8 ... train on raw bytes with --bytes").
    train(make_config([short_text], max_steps=2), tmp_path / "chars")
    with pytest.raises(CharwiseError, match="trained on characters, not raw bytes.*must match"):
        bytes_cfg = make_config([short_text], data={"bytes_mode": True})
        train(bytes_cfg, tmp_path / "ft2", init_from=tmp_path / "chars")


def test_init_from_applies_the_new_dropout(tmp_path, overfit_run, make_config):
    base, text = overfit_run
    new = tmp_path / "new.txt"
    new.write_text(text * 3, encoding="utf-8")
    cfg = make_config([new], model={"dropout": 0.3}, max_steps=1, batch_size=1, seq_len=7)
    train(cfg, tmp_path / "ft", init_from=base)
    model = read_config(tmp_path / "ft")["model"]
    assert model["dropout"] == 0.3 and model["hidden"] == read_config(base)["model"]["hidden"]


def test_out_that_is_a_file_is_refused_before_reading_the_text(
    tmp_path, short_text, make_config, monkeypatch
):
    (tmp_path / "f.txt").write_text("mine", encoding="utf-8")

    def no_reading(*a, **k):
        raise AssertionError("the text was read")

    monkeypatch.setattr(
        importlib.import_module("charwise.training.lifecycle"), "load_corpus", no_reading
    )
    with pytest.raises(CharwiseError, match="--out .*f.txt is a file, not a run directory"):
        train(make_config([short_text]), tmp_path / "f.txt")
    assert (tmp_path / "f.txt").read_text(encoding="utf-8") == "mine"


def test_a_run_inside_its_text_directory_is_not_read_as_text(tmp_path, make_config):
    # `charwise train . --out run`: on --resume the run's own files (log, samples, weights) were
    # found by the directory scan, changed the text's hash, and the run could not be resumed.
    (tmp_path / "a.txt").write_text(SHORT_TEXT, encoding="utf-8")
    cfg = make_config([tmp_path], max_steps=3)
    first = train(cfg, tmp_path / "run")
    assert first.steps == 3
    more = resume(tmp_path / "run", overrides={"max_steps": 5})
    assert more.steps == 5 and more.stopped == "max_steps"
    assert load_corpus(cfg.data).files == (str(tmp_path / "a.txt"),)


def test_novel_knows_every_line_of_the_text_not_just_the_train_split(tmp_path, make_config):
    # The last 10% of the text is validation: its lines are the user's lines all the same, and
    # `sample --novel` counted them as invented.
    from charwise.data.novelty import NoveltyFilter
    from charwise.runs.format import read_vocab

    lines = [f"name{i:03d}" for i in range(60)]
    p = tmp_path / "names.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    train(make_config([p], max_steps=2), tmp_path / "r")
    f = NoveltyFilter(tmp_path / "r", read_vocab(tmp_path / "r"))
    assert not f.is_novel(lines[0]) and not f.is_novel(lines[-1])  # train, and validation split
    assert f.is_novel("name999")
