"""The command line, in-process through charwise.cli.main: every command on a tiny run, and
every user error as one line on stderr with a non-zero status. One real subprocess checks that
Ctrl-C saves a resumable state and that --resume continues from it."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from charwise.cli import main
from charwise.commands.train import ProgressCallbacks
from charwise.runs.load import load
from charwise.training.events import TrainResult

TINY = [
    "--hidden",
    "16",
    "--layers",
    "2",
    "--embed",
    "8",
    "--batch-size",
    "4",
    "--seq-len",
    "8",
    "--device",
    "cpu",
    "--seed",
    "0",
]
NAMES = [
    "Anna",
    "Bert",
    "Carla",
    "Dieter",
    "Emma",
    "Frida",
    "Gustav",
    "Hanna",
    "Ida",
    "Jonas",
    "Karla",
    "Lena",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Quirin",
    "Rosa",
    "Sven",
    "Tilda",
]


@pytest.fixture(scope="module")
def names_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("cli-data") / "names.txt"
    p.write_text(
        "\n".join(NAMES[(i * 7) % 20] + NAMES[i % 20].lower() for i in range(150)) + "\n",
        encoding="utf-8",
    )
    return p


@pytest.fixture(scope="module")
def cli_run(names_file, tmp_path_factory):
    """A tiny run trained through the CLI (5 steps)."""
    out = tmp_path_factory.mktemp("cli-run") / "run"
    cache = tmp_path_factory.mktemp("cli-cache")
    old = os.environ.get("CHARWISE_CACHE")
    os.environ["CHARWISE_CACHE"] = str(cache)
    try:
        code = main(
            [
                "train",
                str(names_file),
                "--out",
                str(out),
                "--max-steps",
                "5",
                "--eval-every",
                "5",
                "--sample-every",
                "5",
                "--sample-length",
                "20",
                "--quiet",
                *TINY,
            ]
        )
    finally:
        if old is None:
            os.environ.pop("CHARWISE_CACHE", None)
        else:
            os.environ["CHARWISE_CACHE"] = old
    assert code == 0
    return out


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""  # nothing half-done on stdout either
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("charwise: error: ")
    assert "Traceback" not in err
    return lines[0]


# -- every command ------------------------------------------------------------------------------
def test_train_shows_progress_and_writes_a_run(tmp_path, names_file, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            str(names_file),
            "--out",
            str(out),
            "--max-steps",
            "4",
            "--eval-every",
            "2",
            "--sample-every",
            "2",
            "--sample-length",
            "15",
            "--log-every",
            "1",
            *TINY,
        ]
    )
    assert code == 0
    cap = capsys.readouterr()
    assert "parameters" in cap.err and "vocabulary" in cap.err
    shown = cap.out + cap.err  # validations and samples are written above the progress bar
    assert "step 2: val" in shown and "bits/char" in shown
    assert "--- sample at step 2 ---" in shown
    assert "stopped (max_steps) after 4 steps" in cap.err
    assert {
        "config.json",
        "vocab.json",
        "model.safetensors",
        "state.safetensors",
        "log.jsonl",
        "samples.jsonl",
        "train_lines.npy",
    } <= {p.name for p in out.iterdir()}
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["model"]["hidden"] == 16 and cfg["train"]["batch_size"] == 4
    assert cfg["sources"] == [str(names_file)]


def test_sample_streams_prime_and_exact_length(cli_run, capsys):
    assert main(["sample", str(cli_run), "--length", "40", "--prime", "Anna", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Anna") and out.endswith("\n")
    assert len(out) == len("Anna") + 40 + 1
    # The same seed gives the same text.
    main(["sample", str(cli_run), "--length", "40", "--prime", "Anna", "--seed", "3"])
    assert capsys.readouterr().out == out


def test_sample_options(cli_run, capsys):
    args = ["sample", str(cli_run), "--length", "25", "--seed", "1"]
    assert main([*args, "--num-samples", "3", "--prime", "Em", "--temperature", "0.7"]) == 0
    parts = capsys.readouterr().out.rstrip("\n").split("\n---\n")
    assert len(parts) == 3 and all(p.startswith("Em") and len(p) == 27 for p in parts)
    assert main([*args, "--argmax"]) == 0
    greedy = capsys.readouterr().out
    assert main([*args, "--top-k", "1", "--seed", "9"]) == 0
    assert capsys.readouterr().out == greedy
    assert main([*args, "--top-p", "0.9", "--stop-at", "\\n"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and len(out) <= 26
    for precision in ("bf16", "fp32"):
        assert main([*args, "--num-samples", "16", "--precision", precision]) == 0
        parts = capsys.readouterr().out.rstrip("\n").split("\n---\n")
        assert len(parts) == 16 and all(len(p) == 25 for p in parts)


def test_argmax_says_which_sampling_options_it_ignores(cli_run, capsys):
    assert main(["sample", str(cli_run), "--argmax", "-t", "0.5", "--top-k", "3"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("charwise: note: --argmax") and "--temperature, --top-k" in err
    assert main(["sample", str(cli_run), "--argmax", "--length", "5"]) == 0
    assert capsys.readouterr().err == ""


def test_sample_novel_prints_only_new_lines(cli_run, names_file, capsys):
    train_lines = set(names_file.read_text(encoding="utf-8").splitlines())
    assert (
        main(
            [
                "sample",
                str(cli_run),
                "--novel",
                "--length",
                "300",
                "--num-samples",
                "4",
                "--temperature",
                "1.5",
                "--seed",
                "0",
            ]
        )
        == 0
    )
    cap = capsys.readouterr()
    lines = cap.out.splitlines()
    assert all(line.strip() and line not in train_lines for line in lines)
    # The same samples without --novel: the printed lines are exactly their whole lines that are
    # not training lines (the last, cut-off line of each is not checked). At temperature 1.5 a
    # 5-step model writes many such lines, so an empty answer is a failure, not "no novel lines".
    plain = ["sample", str(cli_run), "--length", "300", "--num-samples", "4"]
    assert main([*plain, "--temperature", "1.5", "--seed", "0"]) == 0
    samples = capsys.readouterr().out.rstrip("\n").split("\n---\n")
    want = [
        ln
        for text in samples
        for ln in text.split("\n")[:-1]
        if ln.strip() and ln not in train_lines
    ]
    assert len(want) >= 5 and sorted(lines) == sorted(want)
    assert "no novel lines" not in cap.err


def test_sample_novel_with_stop_at_newline_checks_each_one_line_sample(cli_run, names_file, capsys):
    # Each sample is one line, ended by --stop-at: it is whole and is checked. Before, only
    # lines followed by a newline counted, so this printed nothing and advised --length.
    train_lines = set(names_file.read_text(encoding="utf-8").splitlines())
    args = ["sample", str(cli_run), "--novel", "--stop-at", "\\n", "--num-samples", "8"]
    assert main([*args, "--length", "40", "--temperature", "1.5", "--seed", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert 1 <= len(lines) <= 8
    assert all(line.strip() and line not in train_lines for line in lines)


def test_sample_novel_filters_memorised_lines(overfit_run, capsys):
    run_dir, text = overfit_run
    # Greedy sampling from the memorised run reproduces its one line, which is not novel.
    assert (
        main(["sample", str(run_dir), "--novel", "--argmax", "--prime", "t", "--length", "29"]) == 0
    )
    cap = capsys.readouterr()
    assert cap.out == "" and "no novel lines" in cap.err


def test_eval_command(cli_run, names_file, capsys):
    assert main(["eval", str(cli_run), str(names_file)]) == 0
    out = capsys.readouterr().out
    assert "bits/char" in out and "nats/char" in out and "perplexity" in out
    assert main(["eval", str(cli_run), "--split", "val", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    # The val split is the 5% of the text after the first 90%; on ~80 characters the evaluator
    # runs one stream, so its loss is one forward pass of the model over the split.
    text = names_file.read_text(encoding="utf-8")
    run = load(cli_run)
    val = run.split("val")
    start = text.find(run.vocab.decode(val.tolist()), int(0.9 * len(text)) - 2)
    assert abs(start - 0.9 * len(text)) <= 2 and abs(len(val) - 0.05 * len(text)) <= 2
    assert d["chars"] == len(val) - 1
    x = torch.tensor(val.tolist())[None]
    with torch.no_grad():
        logits, _ = run.model(x[:, :-1])
    nats = float(F.cross_entropy(logits[0], x[0, 1:]))
    assert d["nats_per_char"] == pytest.approx(nats, abs=1e-4)
    assert d["bits_per_char"] == pytest.approx(nats / math.log(2), abs=1e-4)


def test_info_command(cli_run, capsys):
    assert main(["info", str(cli_run)]) == 0
    out = capsys.readouterr().out
    assert "GRU 2x16" in out and "parameters" in out and "best val" in out and "5 steps" in out
    assert main(["info", str(cli_run), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["kind"] == "gru" and d["steps"] == 5
    assert d["params"] == sum(p.numel() for p in load(cli_run).model.parameters())
    assert d["best_val_loss"] > 0 and d["vocab_size"] == len(d["vocab"])
    # The training time of the saved state: that of its last logged step (both rounded to 10
    # ms), and a 5-step tiny run takes seconds, not minutes.
    logged = [json.loads(ln) for ln in (cli_run / "log.jsonl").read_text().splitlines()]
    last = [r for r in logged if r.get("event") == "train"][-1]
    assert last["step"] == 5 and 0 < d["time_trained_s"] < 60
    assert d["time_trained_s"] >= last["elapsed"] - 0.011


def test_train_on_a_builtin_corpus(tmp_path, capsys):
    out = tmp_path / "names"
    assert (
        main(
            ["train", "--corpus", "names", "--out", str(out), "--max-steps", "2", "--quiet", *TINY]
        )
        == 0
    )
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["data"]["corpus"] == "names" and cfg["data"]["sources"] == []
    assert main(["sample", str(out), "--length", "30", "--seed", "0"]) == 0
    assert len(capsys.readouterr().out) == 31


def test_corpora_command(capsys):
    assert main(["corpora"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("names") and "\npython" in out


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("charwise ")


# -- every error: one line, non-zero -------------------------------------------------------------
@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "t.txt", "--hidden", "abc"], "--hidden: invalid int value: 'abc'"),
        (["sample", "run", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "required: COMMAND"),
    ],
)
def test_option_errors_are_one_line_too(argv, message, capsys):
    # argparse printed its usage block (20 lines for train) before the message.
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    line = _one_error_line(capsys)
    assert message in line and line.endswith("--help)")


def test_missing_path(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "no such file or directory" in _one_error_line(capsys)


def test_empty_file(tmp_path, capsys):
    (tmp_path / "e.txt").write_bytes(b"")
    assert main(["train", str(tmp_path / "e.txt"), "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "is empty" in _one_error_line(capsys)


def test_undecodable_file_suggests_bytes(tmp_path, capsys):
    (tmp_path / "b.txt").write_bytes(b"caf\xe9 " * 50)
    assert main(["train", str(tmp_path / "b.txt"), "--out", str(tmp_path / "r"), *TINY]) == 2
    line = _one_error_line(capsys)
    assert "not valid UTF-8" in line and "--bytes" in line
    # ... and with --bytes it trains.
    assert (
        main(
            [
                "train",
                str(tmp_path / "b.txt"),
                "--out",
                str(tmp_path / "r"),
                "--bytes",
                "--max-steps",
                "1",
                "--quiet",
                *TINY,
            ]
        )
        == 0
    )


def test_corpus_too_short(tmp_path, capsys):
    (tmp_path / "s.txt").write_text("too short for this", encoding="utf-8")
    assert main(["train", str(tmp_path / "s.txt"), "--out", str(tmp_path / "r"), *TINY]) == 2
    line = _one_error_line(capsys)
    assert "needs at least 36" in line and "--batch-size or --seq-len" in line


def test_corpus_too_short_counts_the_training_split_not_the_file(tmp_path, capsys):
    # 38 characters pass the 36 that 4 streams of 8 steps need, but the 90% training split
    # (34) does not: the message must say which part is short and what the whole text needs.
    (tmp_path / "s.txt").write_text("x" * 37 + "\n", encoding="utf-8")
    args = ["--batch-size", "4", "--seq-len", "8", "--split", "0.9,0.1,0", "--device", "cpu"]
    assert main(["train", str(tmp_path / "s.txt"), "--out", str(tmp_path / "r"), *args]) == 2
    line = _one_error_line(capsys)
    assert "training split (90% of it) has 34 characters and needs at least 36" in line
    assert "a text of about 40" in line and "--split" in line
    assert not (tmp_path / "r").exists()


def test_unknown_prime_characters(cli_run, capsys):
    assert main(["sample", str(cli_run), "--prime", "Ω€"]) == 2
    line = _one_error_line(capsys)
    assert "'Ω'" in line and "'€'" in line


def test_stop_at_the_model_can_never_write_is_refused(cli_run, capsys):
    # It could never match, so a long --length ran to its end instead of stopping.
    assert main(["sample", str(cli_run), "--stop-at", "Ω", "--length", "10000000"]) == 2
    line = _one_error_line(capsys)
    assert "--stop-at" in line and "'Ω'" in line


@pytest.mark.parametrize("cmd", [["sample"], ["info"], ["eval", "--split", "val"]])
def test_bad_run_dir(tmp_path, capsys, cmd):
    assert main([cmd[0], str(tmp_path / "nope"), *cmd[1:]]) == 2
    assert "no such run directory" in _one_error_line(capsys)
    (tmp_path / "notarun").mkdir()
    assert main([cmd[0], str(tmp_path / "notarun"), *cmd[1:]]) == 2
    assert "not a charwise run directory" in _one_error_line(capsys)


@pytest.mark.parametrize(
    "option, value, msg",
    [
        ("--model", "foo", "unknown --model 'foo'; choose one of lstm, gru, rnn"),
        ("--optimizer", "adam9", "unknown --optimizer"),
        ("--device", "tpu", "unknown --device"),
        ("--split", "0.5,0.5", "--split needs 3 numbers"),
        ("--split", "a,b,c", "--split needs comma-separated numbers"),
        ("--dropout", "1.5", "--dropout"),
        ("--batch-size", "0", "--batch-size"),
    ],
)
def test_bad_option_values(tmp_path, names_file, capsys, option, value, msg):
    assert main(["train", str(names_file), "--out", str(tmp_path / "r"), *TINY, option, value]) == 2
    assert msg in _one_error_line(capsys)


def test_bad_command_combinations(tmp_path, names_file, cli_run, capsys):
    assert main(["train", str(names_file), *TINY]) == 2
    assert "--out" in _one_error_line(capsys)
    assert main(["train", "--out", str(tmp_path / "r"), *TINY]) == 2
    assert "--corpus" in _one_error_line(capsys)
    assert main(["train", "--resume", str(cli_run), "--hidden", "32"]) == 2
    assert "cannot change on --resume" in _one_error_line(capsys)
    assert main(["train", str(names_file), "--out", str(cli_run), *TINY]) == 2
    assert "already holds a run" in _one_error_line(capsys)
    assert main(["train", "--corpus", "nope", "--out", str(tmp_path / "r")]) == 2
    assert "unknown corpus" in _one_error_line(capsys)
    assert main(["eval", str(cli_run)]) == 2
    assert "--split" in _one_error_line(capsys)
    assert main(["sample", str(cli_run), "--temperature", "0"]) == 2
    assert "--argmax" in _one_error_line(capsys)


# -- Ctrl-C in a real process, then --resume ------------------------------------------------------
def test_ctrl_c_saves_and_resume_continues(tmp_path, names_file):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "charwise",
            "train",
            str(names_file),
            "--out",
            str(out),
            "--max-time",
            "120",
            "--log-every",
            "1",
            "--threads",
            "1",
            *TINY,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    log = out / "log.jsonl"
    deadline = time.monotonic() + 60
    try:
        while not (log.exists() and log.read_text(encoding="utf-8").strip()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no training step within 60 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted at step" in err and f"--resume {out}" in err
    saved = int(err.split("interrupted at step ")[1].split(";")[0])
    assert saved >= 1
    assert main(["train", "--resume", str(out), "--max-steps", str(saved + 3), "--quiet"]) == 0
    steps = [
        json.loads(ln)["step"]
        for ln in log.read_text(encoding="utf-8").splitlines()
        if json.loads(ln).get("event") == "train"
    ]
    assert steps == list(range(1, saved + 4))  # continued from the saved step, nothing repeated
    assert (
        json.loads(Path(out / "config.json").read_text(encoding="utf-8"))["train"]["max_steps"]
        == saved + 3
    )


def test_train_end_notes_overfitting_only_when_val_rose(tmp_path, capsys):
    def finish(vals: list[float]) -> str:
        cb = ProgressCallbacks()
        best = float("inf")
        for i, v in enumerate(vals):
            best = min(best, v)
            cb.on_eval(
                {"step": 100 * (i + 1), "val_loss": v, "val_bpc": v / 0.693, "best_val_loss": best}
            )
        cb.on_end(TrainResult(tmp_path, 100 * len(vals), 9.0, best, 120.0, "max_time"))
        return capsys.readouterr().err

    err = finish([2.1, 1.88, 1.95, 2.45])
    assert "best val loss 1.8800" in err
    assert "note: validation loss rose from its best, 1.8800 (step 200), to 2.4500" in err
    # The advice: where the best weights are, and the options that help (each a real flag).
    advice = (
        "nats/char: the model overfits this text. model.safetensors keeps the best weights; "
        "more text, a shorter run (--max-time, --epochs), --patience N or more --dropout would "
        "help."
    )
    assert advice in err.replace("\n", " ")
    options = _train_help()
    assert all(f in options for f in ("--max-time", "--epochs", "--patience", "--dropout"))
    assert "note:" not in finish([2.1, 1.88, 1.885])  # within noise of the best
    assert "note:" not in finish([2.1, 1.9, 1.88])
    # The threshold is 2% above the best, pinned from both sides.
    assert "note:" not in finish([2.0, 1.0, 1.0195])
    assert "note: validation loss rose from its best, 1.0000 (step 200), to 1.0205" in finish(
        [2.0, 1.0, 1.0205]
    )


def _train_help() -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        main(["train", "--help"])
    return buf.getvalue()


def test_train_end_gives_no_overfit_note_when_patience_stopped_it(tmp_path, capsys):
    cb = ProgressCallbacks()
    for i, (v, best) in enumerate([(2.1, 2.1), (1.88, 1.88), (2.45, 1.88)]):
        rec = {"step": 100 * (i + 1), "val_loss": v, "val_bpc": v / 0.693, "best_val_loss": best}
        cb.on_eval(rec)
    cb.on_end(TrainResult(tmp_path, 300, 9.0, 1.88, 120.0, "patience"))
    err = capsys.readouterr().err
    assert "stopped (patience)" in err and "note:" not in err
