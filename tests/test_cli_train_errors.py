"""`charwise train` user errors, in-process through charwise.cli.main: every bad option value is
refused up front as one `charwise: error:` line (no traceback, no half-written run folder),
--resume / --init-from refuse the options they cannot honour instead of ignoring them, and the
library's typed errors (a diverged run, a run folder in use, a changed text) come with the
command to type next."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from charwise.cli import main
from charwise.commands.train import divergence_advice
from charwise.training.errors import DivergedError
from conftest import poison_after, read_records

TINY = ["--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "8"]
TINY += ["--device", "cpu", "--seed", "0", "--quiet"]
TEXT = "the cat sat on the mat; the dog ran far away from home.\n" * 12


@pytest.fixture
def text(tmp_path):
    p = tmp_path / "text.txt"
    p.write_text(TEXT, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A run trained for 4 steps (finished: resuming it without a new limit trains nothing)."""
    d = tmp_path_factory.mktemp("finished")
    (d / "text.txt").write_text(TEXT, encoding="utf-8")
    args = ["train", str(d / "text.txt"), "--out", str(d / "run"), "--max-steps", "4", *TINY]
    assert main(args) == 0
    return d / "run"


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("charwise: error: ") and "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    "option, value",
    [
        ("--beta2", "1.5"),
        ("--beta2", "-1"),
        ("--sample-length", "-5"),
        ("--sample-length", "0"),
        ("--max-loss", "-1"),
        ("--max-loss", "nan"),
        ("--lr", "inf"),
        ("--lr", "nan"),
        ("--lr", "0"),
        ("--warmup", "-5"),
        ("--decay-rate", "-1"),
        ("--decay-rate", "0"),
        ("--decay-rate", "1.5"),
        ("--min-lr-ratio", "5"),
        ("--min-lr-ratio", "-0.1"),
        ("--weight-decay", "-1"),
        ("--weight-decay", "inf"),
        ("--decay-start", "-3"),
        ("--grad-clip", "-1"),
        ("--grad-clip", "nan"),
        ("--max-time", "inf"),
        ("--epochs", "nan"),
        ("--seed", "-1"),
        ("--ema", "1"),
        ("--start-batch", "0"),
        ("--start-batch", "5"),  # above --batch-size 4: it grows to it
        ("--batch-ramp", "0"),
        ("--batch-ramp", "1.5"),
    ],
)
def test_bad_training_values_are_refused_up_front(tmp_path, text, capsys, option, value):
    out = tmp_path / "r"
    assert main(["train", str(text), "--out", str(out), *TINY, option, value]) == 2
    assert option in _one_error_line(capsys)
    assert not out.exists()  # refused before anything was trained or written


@pytest.mark.parametrize("split", ["nan,0.5,0.5", "inf,0,0"])
def test_bad_split_values_are_refused(tmp_path, text, capsys, split):
    assert main(["train", str(text), "--out", str(tmp_path / "r"), *TINY, "--split", split]) == 2
    assert "--split" in _one_error_line(capsys)


def test_out_that_is_a_file(tmp_path, text, capsys):
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    assert main(["train", str(text), "--out", str(tmp_path / "notes.txt"), *TINY]) == 2
    assert "is a file, not a run directory" in _one_error_line(capsys)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


def test_a_package_folder_with_an_empty_init_trains(tmp_path, capsys):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_bytes(b"")
    (pkg / "mod.py").write_text(TEXT, encoding="utf-8")
    out = tmp_path / "r"
    assert main(["train", str(pkg), "--out", str(out), "--max-steps", "1", *TINY]) == 0
    cfg = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert cfg["sources"] == [str(pkg / "mod.py")]


def test_resume_refuses_data_model_and_out_options(finished_run, tmp_path, capsys):
    args = ["train", "--resume", str(finished_run)]
    for extra, flag in [
        (["--split", "0.8,0.1,0.1"], "--split"),
        (["--bytes"], "--bytes"),
        (["--max-vocab", "5"], "--max-vocab"),
        (["--glob", "*.py"], "--glob"),
        (["--out", str(tmp_path / "x")], "--out"),
        (["--model", "lstm"], "--model"),
        (["--seq-len", "4"], "--seq-len"),
    ]:
        assert main([*args, *extra]) == 2
        line = _one_error_line(capsys)
        assert f"cannot change on --resume: {flag} " in line, line
    # Several at once are all named.
    assert main([*args, "--glob", "*.py", "--hidden", "8", "--optimizer", "sgd"]) == 2
    assert "--hidden, --glob, --optimizer" in _one_error_line(capsys)


def test_resume_may_lower_the_learning_rate(finished_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    assert main(["train", "--resume", str(run), "--max-steps", "6", "--lr", "1e-4", "--quiet"]) == 0
    cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
    assert cfg["train"]["lr"] == 1e-4 and cfg["train"]["max_steps"] == 6


def test_resuming_a_finished_run_prints_one_note(finished_run, capsys):
    log = (finished_run / "log.jsonl").read_bytes()
    samples = (finished_run / "samples.jsonl").read_bytes()
    assert main(["train", "--resume", str(finished_run)]) == 0
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "already finished: its --max-steps limit (4) ends it at step 4" in err
    assert err.rstrip().endswith("resume with a higher --max-steps")
    assert (finished_run / "log.jsonl").read_bytes() == log
    assert (finished_run / "samples.jsonl").read_bytes() == samples


def test_a_finished_run_names_the_limit_that_ends_it(tmp_path, text, capsys):
    # No limit given: 10 epochs. Raising --max-steps then changes nothing, and the note must say
    # that the epochs are what to raise, not list every limit.
    run = tmp_path / "r"
    args = ["--hidden", "8", "--layers", "1", "--embed", "4", "--batch-size", "2", "--seq-len", "8"]
    assert main(["train", str(text), "--out", str(run), "--quiet", "--device", "cpu", *args]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--max-steps", "100000", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "its --epochs limit (10) ends it" in err and "resume with a higher --epochs" in err


def test_init_from_refuses_architecture_options(finished_run, tmp_path, text, capsys):
    base = ["train", str(text), "--out", str(tmp_path / "ft"), "--init-from", str(finished_run)]
    assert main([*base, "--hidden", "64", "--layers", "3"]) == 2
    line = _one_error_line(capsys)
    assert "--layers, --hidden cannot be given with --init-from" in line
    assert "architecture comes from the base run" in line
    # --bytes on a base run trained on characters: the conflict, not "not valid UTF-8".
    assert main([*base, "--bytes"]) == 2
    line = _one_error_line(capsys)
    assert "trained on characters" in line and "UTF-8" not in line


def test_init_from_keeps_the_base_dropout_unless_given(finished_run, tmp_path, text, capsys):
    def fine_tune(name: str, *extra: str) -> dict:
        args = ["train", str(text), "--out", str(tmp_path / name), "--init-from", str(finished_run)]
        assert main([*args, "--max-steps", "1", "--device", "cpu", "--quiet", *extra]) == 0
        return json.loads((tmp_path / name / "config.json").read_text(encoding="utf-8"))["model"]

    base = json.loads((finished_run / "config.json").read_text(encoding="utf-8"))["model"]
    # TINY's batch 4 x seq 8 fits the text; the default batch of 32 would not.
    assert fine_tune("a", "--batch-size", "4", "--seq-len", "8") == base
    tuned = fine_tune("b", "--batch-size", "4", "--seq-len", "8", "--dropout", "0.4")
    assert tuned == {**base, "dropout": 0.4}


def test_resume_of_a_run_with_a_bad_config_value_blames_config_json(tmp_path, finished_run, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    cfg = json.loads((run / "config.json").read_text(encoding="utf-8"))
    cfg["model"]["hidden"] = -1
    (run / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--max-steps", "8"]) == 2
    line = _one_error_line(capsys)
    assert "config.json is damaged" in line and "hidden" in line and "--hidden" not in line


def test_under_torchrun_only_rank_0_prints_the_error(tmp_path, text, capsys, monkeypatch):
    # torchrun starts N processes that meet the same bad input: one line, not N.
    args = ["train", str(text), "--out", str(tmp_path / "r"), *TINY, "--beta2", "1.5"]
    monkeypatch.setenv("RANK", "1")
    assert main(args) == 2
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("RANK", "0")
    assert main(args) == 2
    assert "--beta2" in _one_error_line(capsys)


# -- advice after the library's typed errors: what to type next -----------------------------------
def _diverged(saved: str, loss: float | None, run_dir="runs/x") -> DivergedError:
    return DivergedError(
        step=7,
        loss=loss,
        max_loss=20.0,
        vocab_size=65,
        run_dir=Path(run_dir),
        saved=saved,
        lr=3e-3,
        save_every=200,
    )


def test_divergence_advice_follows_what_the_run_directory_keeps():
    resume_it = divergence_advice(_diverged("state", None))
    assert resume_it.startswith("training diverged by step 7 (the weights are not finite); ")
    assert resume_it.endswith(
        "the last good checkpoint is intact in runs/x. Resume it with a lower learning rate "
        "(now 0.003) or --grad-clip: charwise train --resume runs/x --lr 0.0003"
    )
    fine_tune = divergence_advice(_diverged("best", float("nan")))
    assert fine_tune.startswith("training diverged at step 7 (loss nan, --max-loss 20); ")
    assert "no resumable state was saved yet (--save-every 200)" in fine_tune
    assert "--resume" not in fine_tune
    assert fine_tune.endswith("--init-from runs/x --out NEW_DIR --lr 0.0003")
    again = divergence_advice(_diverged("nothing", 25.0))
    # A finite loss over the threshold: the threshold may be what is wrong, so it comes first.
    assert again.startswith(
        "training diverged at step 7 (loss 25, --max-loss 20); if 20 is too low for this text "
        "(a model that knows nothing scores ln(65) = 4.17), raise --max-loss, else no "
        "checkpoint was saved yet. Start again with a lower --lr (now 0.003)"
    )
    assert again.endswith("the same --out runs/x may be reused")


SMALL = [*TINY, "--eval-every", "1000", "--sample-every", "1000", "--save-every", "1000"]


def _advised_command(line: str, after: str) -> list[str]:
    """The arguments of the `charwise ...` command the error line advises, after `after`."""
    return line.split(after, 1)[1].split()


def test_a_diverged_run_advises_resuming_its_last_good_state(tmp_path, text, capsys, monkeypatch):
    # log every 3: the NaN weights of step 4 reach the save at step 4 before any loss check;
    # the save refuses them, so the state of step 2 stays good, and the advice works.
    poison_after(monkeypatch, 3)
    out = tmp_path / "r"
    args = ["--save-every", "2", "--log-every", "3", "--max-steps", "8"]
    assert main(["train", str(text), "--out", str(out), *SMALL, *args]) == 2
    line = _one_error_line(capsys)
    assert "diverged by step 4" in line and f"charwise train --resume {out} --lr" in line
    monkeypatch.undo()
    assert main(_advised_command(line, "charwise ")) == 0  # train --resume DIR --lr X
    assert [r["step"] for r in read_records(out)][-1] == 8


def test_a_diverged_run_with_only_its_best_weights_advises_init_from(
    tmp_path, text, capsys, monkeypatch
):
    poison_after(monkeypatch, 3)
    out = tmp_path / "r"
    args = ["--eval-every", "2", "--log-every", "1", "--max-steps", "8"]
    assert main(["train", str(text), "--out", str(out), *SMALL, *args]) == 2
    line = _one_error_line(capsys)
    assert "diverged at step 5 " in line and "checkpoint is intact" in line
    assert "no resumable state was saved yet" in line and "--resume" not in line
    assert f"--init-from {out} --out NEW_DIR" in line
    monkeypatch.undo()
    advised = _advised_command(line, "weights with ")
    advised[advised.index("NEW_DIR")] = str(tmp_path / "new")
    same = ["--batch-size", "4", "--seq-len", "8", "--device", "cpu", "--quiet"]  # no --hidden
    assert main(["train", str(text), *advised, *same, *args]) == 0
    assert [r["step"] for r in read_records(tmp_path / "new")][-1] == 8


def test_an_exploding_loss_advises_a_lower_learning_rate(tmp_path, text, capsys):
    args = ["--optimizer", "sgd", "--lr", "1e4", "--grad-clip", "0", "--warmup", "0"]
    args += ["--schedule", "constant", "--max-steps", "40", "--log-every", "1"]
    assert main(["train", str(text), "--out", str(tmp_path / "r"), *SMALL, *args]) == 2
    assert re.search(r"training diverged at step \d+ .*--lr", _one_error_line(capsys))


def test_a_max_loss_below_the_start_advises_raising_it_first(tmp_path, text, capsys):
    # A finite loss over a --max-loss below where the text's loss starts: a lower --lr would stop
    # at the same place, so the advice names the threshold first. Before any checkpoint exists,
    # the message does not claim one.
    out = tmp_path / "r"
    args = ["--max-loss", "0.5", "--max-steps", "3", "--log-every", "1"]
    assert main(["train", str(text), "--out", str(out), *SMALL, *args]) == 2
    line = _one_error_line(capsys)
    assert re.search(r"step 1 \(loss \d.*no checkpoint was saved yet", line)
    assert re.search(
        r"--max-loss 0.5\); if 0.5 is too low .* raise --max-loss, else no checkpoint was "
        r"saved yet.*same --out .* reused",
        line,
    )
    assert main(["train", str(text), "--out", str(out), *SMALL, *args[2:]]) == 0  # as advised
    assert [r["step"] for r in read_records(out)] == [1, 2, 3]


def test_a_run_folder_in_use_advises_resume(finished_run, text, capsys):
    assert main(["train", str(text), "--out", str(finished_run), *TINY]) == 2
    line = _one_error_line(capsys)
    assert line.endswith(
        f"{finished_run} already holds a run; resume it with --resume {finished_run} or choose "
        "another --out"
    )


def test_a_changed_text_advises_fine_tuning(tmp_path, text, capsys):
    out = tmp_path / "r"
    assert main(["train", str(text), "--out", str(out), *SMALL, "--max-steps", "2"]) == 0
    text.write_text(TEXT + "Zebra!", encoding="utf-8")
    assert main(["train", "--resume", str(out), "--max-steps", "4"]) == 2
    line = _one_error_line(capsys)
    assert f"the training text changed since the run in {out} started" in line
    assert line.endswith(f"fine-tune from it: charwise train TEXT --init-from {out} --out NEW_DIR")
