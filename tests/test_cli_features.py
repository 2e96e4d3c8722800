"""Advertised command-line features, each through the command that offers it, checked for its
effect (not only that the command exits 0): --optimizer rmsprop|muon, --schedule linear|exp, the
dropouts through train / --resume / --init-from, compare with RNN rows, sample into a closed
pipe, --threads, eval --split test, --corpus python, --glob, serve's limits and --host."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import threading

import httpx
import pytest
import torch
import torch.nn.functional as F

from charwise.cli import main
from charwise.data import corpora
from charwise.nn import model as model_module
from charwise.runs.load import load
from charwise.training import optimizer as optimizer_module
from charwise.training.state import load_train_state
from charwise.training.trainer import Trainer
from conftest import SHORT_TEXT, read_records

TINY = ["--hidden", "16", "--layers", "1", "--embed", "8", "--batch-size", "4", "--seq-len", "8"]
TINY += ["--device", "cpu", "--seed", "0", "--eval-every", "1000", "--sample-every", "1000"]
TINY += ["--quiet"]


@pytest.fixture
def text(tmp_path):
    p = tmp_path / "text.txt"
    p.write_text(SHORT_TEXT, encoding="utf-8")
    return p


def _config(run) -> dict:
    return json.loads((run / "config.json").read_text(encoding="utf-8"))


def test_rmsprop_trains_and_resumes_with_its_own_state(tmp_path, text):
    run = tmp_path / "run"
    assert main(["train", str(text), "--out", str(run), "--max-steps", "3", *TINY,
                 "--optimizer", "rmsprop", "--log-every", "1"]) == 0  # fmt: skip
    assert _config(run)["train"]["optimizer"] == "rmsprop"
    tensors, _ = load_train_state(run)
    opt = {k.split(".")[-1] for k in tensors if k.startswith("opt.")}
    assert opt == {"square_avg", "step"}  # RMSprop's state, not AdamW's exp_avg / exp_avg_sq
    assert main(["train", "--resume", str(run), "--max-steps", "5", "--quiet"]) == 0
    assert [r["step"] for r in read_records(run)] == [1, 2, 3, 4, 5]
    assert {k.split(".")[-1] for k in load_train_state(run)[0] if k.startswith("opt.")} == opt


def test_muon_trains_and_resumes_with_both_optimizers_state(tmp_path, text, monkeypatch):
    run = tmp_path / "run"
    # No --optimizer: "auto", Muon where bf16 matmuls are native (as here, patched).
    monkeypatch.setattr(optimizer_module, "bf16_native", lambda device: True)
    assert main(["train", str(text), "--out", str(run), "--max-steps", "3", *TINY,
                 "--muon-scale", "2", "--log-every", "1"]) == 0  # fmt: skip
    assert _config(run)["train"]["optimizer"] == "muon"
    assert _config(run)["train"]["muon_scale"] == 2
    tensors, trainer = load_train_state(run)
    opt = {k.split(".")[-1] for k in tensors if k.startswith("opt.")}
    assert opt == {"momentum_buffer", "exp_avg", "exp_avg_sq", "step"}  # Muon's and AdamW's
    assert len(trainer["optimizer"]["param_groups"]) == 3
    assert main(["train", "--resume", str(run), "--max-steps", "5", "--quiet"]) == 0
    assert [r["step"] for r in read_records(run)] == [1, 2, 3, 4, 5]
    buf = {k: v for k, v in load_train_state(run)[0].items() if k.endswith("momentum_buffer")}
    assert buf and all(not torch.equal(v, tensors[k]) for k, v in buf.items())  # kept moving


def test_muon_settings_without_muon_are_an_error(tmp_path, text, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main(["train", str(text), "--out", str(run), "--max-steps", "3", *TINY,
                 "--optimizer", "adamw", "--muon-decay", "0.2"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "--muon-decay set Muon's updates; this run trains with adamw" in err
    # The transformer's default is AdamW: Muon's settings alone are refused there too.
    assert main(["train", str(text), "--out", str(run), "--max-steps", "3", "--model",
                 "transformer", "--muon-scale", "2", "--quiet"]) == 2  # fmt: skip
    assert "--muon-scale set Muon's updates; this run trains with adamw" in capsys.readouterr().err
    # An RNN's "auto" without native bf16 is AdamW, and says so.
    monkeypatch.setattr(optimizer_module, "bf16_native", lambda device: False)
    assert main(["train", str(text), "--out", str(run), "--max-steps", "3", *TINY,
                 "--muon-scale", "2", "--quiet"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "this run trains with adamw (auto's choice on this machine)" in err
    assert not run.exists()


def test_linear_and_exp_schedules_set_the_learning_rate_of_each_step(tmp_path, text):
    args = [*TINY, "--lr", "0.01", "--warmup", "0", "--log-every", "1", "--max-steps", "20"]
    lin = tmp_path / "linear"
    assert main(["train", str(text), "--out", str(lin), *args, "--schedule", "linear",
                 "--min-lr-ratio", "0.1"]) == 0  # fmt: skip
    # From 0.01 at the start down to 0.001 at the end, in a straight line over the 20 steps.
    for r in read_records(lin):
        assert r["lr"] == pytest.approx(0.001 + 0.009 * (1 - (r["step"] - 1) / 20)), r
    exp = tmp_path / "exp"
    assert main(["train", str(text), "--out", str(exp), *args, "--schedule", "exp",
                 "--decay-rate", "0.5", "--decay-start", "1"]) == 0  # fmt: skip
    # char-rnn's: the rate halves at each epoch from the first on (epoch e: 0.01 * 0.5**e),
    # the epoch being the one the step starts in.
    recs = read_records(exp)
    epochs = [0] + [math.floor(r["epoch"]) for r in recs[:-1]]
    assert max(epochs) >= 2
    for r, e in zip(recs, epochs, strict=True):
        assert r["lr"] == pytest.approx(0.01 * 0.5**e), r


def _dropout_spy(monkeypatch) -> set:
    """Records (what, p) of every dropout the training forward applies: the embedding's locked
    dropout and DropConnect on W_hh (a 2-D F.dropout)."""
    seen: set = set()
    real_locked, real_dropout = model_module.locked_dropout, model_module.F.dropout

    def locked(t, p):
        if t.shape[-1] == 8:  # the embedding's width (the hidden width is 16)
            seen.add(("embed", p))
        return real_locked(t, p)

    def dropout(t, p=0.5, training=True, inplace=False):
        if t.dim() == 2 and training:
            seen.add(("w_hh", p))
        return real_dropout(t, p, training, inplace)

    monkeypatch.setattr(model_module, "locked_dropout", locked)
    monkeypatch.setattr(model_module.F, "dropout", dropout)
    return seen


def test_embed_dropout_and_weight_drop_through_train_resume_and_init_from(
    tmp_path, text, monkeypatch
):
    seen = _dropout_spy(monkeypatch)
    run = tmp_path / "run"
    assert main(["train", str(text), "--out", str(run), "--max-steps", "2", *TINY,
                 "--embed-dropout", "0.3", "--weight-drop", "0.4"]) == 0  # fmt: skip
    m = _config(run)["model"]
    assert (m["embed_dropout"], m["weight_drop"]) == (0.3, 0.4)
    assert seen == {("embed", 0.3), ("w_hh", 0.4)}
    # --resume keeps them (from config.json) and trains with them.
    seen.clear()
    assert main(["train", "--resume", str(run), "--max-steps", "4", "--quiet"]) == 0
    m = _config(run)["model"]
    assert (m["embed_dropout"], m["weight_drop"]) == (0.3, 0.4)
    assert seen == {("embed", 0.3), ("w_hh", 0.4)}
    # --init-from: the architecture is the base run's, these settings the new run's own.
    seen.clear()
    ft = tmp_path / "ft"
    assert main(["train", str(text), "--init-from", str(run), "--out", str(ft), "--max-steps",
                 "2", "--batch-size", "4", "--seq-len", "8", "--device", "cpu", "--quiet",
                 "--embed-dropout", "0.1", "--weight-drop", "0.2"]) == 0  # fmt: skip
    m = _config(ft)["model"]
    assert (m["hidden"], m["embed_dropout"], m["weight_drop"]) == (16, 0.1, 0.2)
    assert seen == {("embed", 0.1), ("w_hh", 0.2)}


def test_compare_with_rnn_rows_from_the_command_line(tmp_path, small_text, capsys):
    out = tmp_path / "runs"
    assert main(["compare", str(small_text), "--orders", "2", "--models", "gru,rnn",
                 "--max-steps", "2", "--budget", "60", "--layers", "1", "--hidden", "8",
                 "--embed", "4", "--batch-size", "4", "--seq-len", "8", "--device", "cpu",
                 "--sample-length", "12", "--split", "0.8,0.1,0.1", "--out", str(out),
                 "--json"]) == 0  # fmt: skip
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["model"] for r in rows] == ["2-gram (kn)", "GRU 1x8", "RNN 1x8"]
    for row, kind in zip(rows[1:], ("gru", "rnn"), strict=True):
        run = load(out / kind)
        assert run.kind == kind and row["extra"]["steps"] == 2
        assert row["size"] == sum(p.numel() for p in run.model.parameters())
        assert len(row["sample"]) == 12
        # The row's val bpc is the kept run's, as `charwise eval --split val` gives it.
        assert main(["eval", str(out / kind), "--split", "val", "--json"]) == 0
        assert row["val_bpc"] == pytest.approx(json.loads(capsys.readouterr().out)["bits_per_char"])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("features")
    (d / "text.txt").write_text((SHORT_TEXT + "\n") * 3, encoding="utf-8")
    assert main(["train", str(d / "text.txt"), "--out", str(d / "run"), "--max-steps", "3",
                 *TINY]) == 0  # fmt: skip
    return d / "run"


# Subprocesses on one thread: the suite shares 2 cores, and idle OpenMP threads spinning on a
# loaded machine made a 3-step model's sampling take a minute.
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.parametrize("novel", [[], ["--novel", "--temperature", "1.5"]], ids=["", "novel"])
def test_sample_into_a_pipe_closed_early(tiny_run, novel):
    """`charwise sample ... | head` (`make demo` pipes --novel into head): the reader goes away
    mid-sample; no traceback, no "Exception ignored" at exit, status 0."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "charwise", "sample", str(tiny_run), "--length", "5000",
         "--seed", "1", *novel],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ONE_THREAD,
    )  # fmt: skip
    killer = threading.Timer(120, proc.kill)
    killer.start()
    try:
        assert len(proc.stdout.read(10)) == 10
        proc.stdout.close()  # as head does after its lines
        err = proc.stderr.read().decode()
        code = proc.wait()
    finally:
        killer.cancel()
    assert "Traceback" not in err and "Exception ignored" not in err and "Error" not in err, err
    assert code == 0, err


def test_threads_sets_the_training_threads(tmp_path, text, monkeypatch):
    seen = []
    real = Trainer.train_step

    def spy(self, lr, groups=1):
        seen.append(torch.get_num_threads())
        return real(self, lr, groups)

    monkeypatch.setattr(Trainer, "train_step", spy)
    run = tmp_path / "run"
    torch.set_num_threads(1)
    assert main(["train", str(text), "--out", str(run), "--max-steps", "2", *TINY,
                 "--threads", "2"]) == 0  # fmt: skip
    assert seen == [2, 2] and _config(run)["train"]["threads"] == 2
    # --resume may change it.
    seen.clear()
    assert main(["train", "--resume", str(run), "--max-steps", "3", "--threads", "1",
                 "--quiet"]) == 0  # fmt: skip
    assert seen == [1] and _config(run)["train"]["threads"] == 1


def test_eval_split_test_on_an_rnn_run(tiny_run, capsys):
    """The test split is the text's last 5%; its loss is one forward pass of the model (one
    stream on so short a split)."""
    assert main(["eval", str(tiny_run), "--split", "test", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    run = load(tiny_run)
    text = (tiny_run.parent / "text.txt").read_text(encoding="utf-8")
    test = run.split("test")
    assert text.endswith(run.vocab.decode(test.tolist()))
    assert abs(len(test) - 0.05 * len(text)) <= 2 and d["chars"] == len(test) - 1
    x = torch.tensor(test.tolist())[None]
    with torch.no_grad():
        logits, _ = run.model(x[:, :-1])
    nats = float(F.cross_entropy(logits[0], x[0, 1:]))
    assert d["bits_per_char"] == pytest.approx(nats / math.log(2), abs=1e-4)
    assert main(["eval", str(tiny_run), "--split", "test"]) == 0
    assert f"bits/char   {d['bits_per_char']:.4f}" in capsys.readouterr().out


def test_train_on_the_python_corpus(tmp_path, monkeypatch, capsys):
    """`--corpus python` is this Python's standard library, tests left out. Training on all of
    it takes a minute, so the run here reads its first three files."""
    import sysconfig
    from pathlib import Path

    assert main(["corpora"]) == 0 and "\npython" in capsys.readouterr().out
    root = Path(sysconfig.get_paths()["stdlib"])
    files = corpora._python_files()
    assert root / "os.py" in files and root / "json" / "__init__.py" in files and len(files) > 300
    assert all(f.suffix == ".py" for f in files)
    skipped = {"test", "tests", "idle_test", "site-packages"}
    assert not any(skipped.intersection(f.relative_to(root).parts) for f in files)
    few = files[:3]
    monkeypatch.setattr(corpora, "_python_files", lambda: few)
    out = tmp_path / "py"
    assert main(["train", "--corpus", "python", "--out", str(out), "--max-steps", "2",
                 *TINY]) == 0  # fmt: skip
    cfg = _config(out)
    assert cfg["data"]["corpus"] == "python" and cfg["data"]["sources"] == []
    chars = set("".join(f.read_text(encoding="utf-8") for f in few))
    assert set(load(out).vocab._chars) == chars


def test_train_glob_picks_the_files_of_a_directory(tmp_path):
    d = tmp_path / "texts"
    (d / "sub").mkdir(parents=True)
    (d / "a.md").write_text("abc abc cab\n" * 30, encoding="utf-8")
    (d / "sub" / "b.md").write_text("bca bac\n" * 30, encoding="utf-8")
    (d / "c.txt").write_text("xyz zyx\n" * 30, encoding="utf-8")
    out = tmp_path / "md"
    assert main(["train", str(d), "--glob", "*.md", "--out", str(out), "--max-steps", "1",
                 *TINY]) == 0  # fmt: skip
    assert _config(out)["data"]["glob"] == "*.md"
    assert set(load(out).vocab._chars) == set("abc \n")  # a.md and sub/b.md, not c.txt
    assert main(["train", str(d), "--out", str(tmp_path / "all"), "--max-steps", "1",
                 *TINY]) == 0  # fmt: skip
    assert set(load(tmp_path / "all").vocab._chars) == set("abcxyz \n")


def _loopback_alias() -> str | None:
    """127.0.0.2 where this system routes it to the loopback (Linux does; macOS does not)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.2", 0))
        except OSError:
            return None
    return "127.0.0.2"


def test_serve_limits_and_host_through_the_command(tiny_run):
    host = _loopback_alias()
    if host is None:
        pytest.skip("127.0.0.2 is not a loopback address here: --host cannot be told apart")
    proc = subprocess.Popen(
        [sys.executable, "-m", "charwise", "serve", str(tiny_run), "--port", "0", "--host", host,
         "--max-length", "30", "--max-text", "40"],
        stderr=subprocess.PIPE, text=True, env=ONE_THREAD,
    )  # fmt: skip
    killer = threading.Timer(60, proc.kill)
    killer.start()
    try:
        warning = proc.stderr.readline()
        assert warning.startswith(f"charwise: warning: serving on {host}"), warning
        line = proc.stderr.readline()
        m = re.search(rf"on http://{re.escape(host)}:(\d+)/", line)
        assert m, line
        url = f"http://{host}:{m.group(1)}"
        limits = httpx.get(f"{url}/api/runs", timeout=30).json()["limits"]
        assert limits["max_length"] == 30 and limits["max_text"] == 40
        r = httpx.post(f"{url}/api/sample", json={"length": 31}, timeout=30)
        assert r.status_code == 400 and "between 1 and 30" in r.json()["error"]
        assert len(httpx.post(f"{url}/api/sample", json={"length": 30}, timeout=30).text) == 30
        r = httpx.post(f"{url}/api/analyze", json={"text": "it was " * 6}, timeout=30)
        assert r.status_code == 413 and "over 40 characters" in r.json()["error"]
        # Bound to that address only: not reachable on 127.0.0.1.
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{m.group(1)}/api/runs", timeout=5)
    finally:
        killer.cancel()
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()
