"""Commands that read a run directory (sample, eval, info) with bad input or a damaged run: one
`charwise: error:` line and a non-zero status, never a traceback. Also what `info` reports about
training progress. Runs the CLI in-process through charwise.cli.main, as test_cli.py does."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch

from charwise.cli import main
from conftest import tiny_config

TEXT = "the cat sat on the mat and the dog ran far away from it\n" * 4  # 224 chars, 19 distinct


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """(run_dir, TrainResult): a 2x32 GRU trained 15 steps at 12 steps per epoch (202 training
    characters in 2 streams of 8-step windows), so it stops inside its second epoch. Shared:
    tests must not write into it."""
    from charwise.training.lifecycle import train

    base = tmp_path_factory.mktemp("run-errors")
    src = base / "text.txt"
    src.write_text(TEXT, encoding="utf-8")
    cfg = tiny_config([src], batch_size=2, max_steps=15, log_every=5)
    res = train(cfg, base / "run", cache_dir=base / "cache")
    return base / "run", res


@pytest.fixture
def run_copy(tmp_path, tiny_run):
    """A private copy of the tiny run, free to break."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run[0], dst)
    return dst


def _one_error_line(capsys) -> str:
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("charwise: error: ")
    assert out == ""  # nothing half-done on stdout either
    return lines[0]


def _edit_json(path, edit) -> None:
    d = json.loads(path.read_text(encoding="utf-8"))
    edit(d)
    path.write_text(json.dumps(d), encoding="utf-8")


# the three commands that load a run, with what each needs besides the run directory
COMMANDS = [["sample", "--length", "5"], ["info"], ["eval", "--split", "train"]]


def _run(cmd: list[str], run_dir) -> int:
    return main([cmd[0], str(run_dir), *cmd[1:]])


# -- 1: escapes in --prime and --stop-at -----------------------------------------------------------
@pytest.mark.parametrize("option", ["--prime", "--stop-at"])
@pytest.mark.parametrize(
    "value, shown",
    [("a\\", '"\\"'), ("a\\x", '"\\x"'), ("\\x4g", '"\\x4"'), ("\\U00110000", "U+110000")],
)
def test_bad_escapes_name_the_option(tiny_run, capsys, option, value, shown):
    assert main(["sample", str(tiny_run[0]), option, value, "--length", "5"]) == 2
    line = _one_error_line(capsys)
    assert f"{option}: bad escape" in line and shown in line


@pytest.mark.parametrize("value, char", [("\\u00e9", "'é' (U+00E9)"), ("\\u4e2d", "'中' (U+4E2D)")])
def test_non_latin_escapes_decode_to_their_character(tiny_run, capsys, value, char):
    # Decoded properly, the character is simply not in this model's vocabulary.
    assert main(["sample", str(tiny_run[0]), "--prime", value, "--length", "5"]) == 2
    assert char in _one_error_line(capsys)


def test_escaped_prime_and_stop_at_are_used(tiny_run, capsys):
    args = ["sample", str(tiny_run[0]), "--length", "30", "--seed", "1", "--stop-at", "\\x74t"]
    assert main([*args, "--prime", "\\x74he\\u0020cat"]) == 0
    assert capsys.readouterr().out.startswith("the cat")


# -- 2: a damaged vocab.json -----------------------------------------------------------------------
def _write(d, **kw):
    d.update(kw)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("symbols"),
        lambda d: _write(d, version="x"),
        lambda d: _write(d, symbols=None),
        lambda d: _write(d, symbols="abc"),
        lambda d: _write(d, symbols={"a": 1}),
        lambda d: _write(d, symbols=[-1, *d["symbols"][1:]]),
        lambda d: _write(d, symbols=[*d["symbols"][:-1], 0x110000]),
        lambda d: _write(d, symbols=[*d["symbols"][:-1], 1e300]),
        lambda d: _write(d, symbols=d["symbols"][::-1]),
        lambda d: _write(d, mode=None),
    ],
    ids=[
        "missing",
        "version",
        "null",
        "string",
        "object",
        "negative",
        "too-large",
        "float",
        "unsorted",
        "mode",
    ],
)
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_damaged_vocab_json(run_copy, capsys, damage, cmd):
    _edit_json(run_copy / "vocab.json", damage)
    assert _run(cmd, run_copy) == 2
    assert f"{run_copy / 'vocab.json'} is damaged: " in _one_error_line(capsys)


def test_vocab_json_that_is_not_utf8(run_copy, capsys):
    (run_copy / "vocab.json").write_bytes(b'{"format": "charwise-vocab", \xff\xfe}')
    assert main(["info", str(run_copy)]) == 2
    assert "vocab.json is damaged: not UTF-8" in _one_error_line(capsys)


# -- 3: a damaged config.json ----------------------------------------------------------------------
@pytest.mark.parametrize("section", ["model", "data", "train"])
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_config_section_that_is_not_an_object(run_copy, capsys, section, cmd):
    _edit_json(run_copy / "config.json", lambda d: _write(d, **{section: "x"}))
    assert _run(cmd, run_copy) == 2
    line = _one_error_line(capsys)
    assert f"config.json is damaged: the {section} section is not an object" in line


@pytest.mark.parametrize(
    "section, key, value, msg",
    [
        ("model", "hidden", -1, "hidden must be at least 1"),
        ("train", "seq_len", 0, "seq_len must be at least 1"),
        ("model", "dropout", 2.0, "dropout must be in [0, 1)"),
    ],
)
def test_out_of_range_config_value_blames_config_json(run_copy, capsys, section, key, value, msg):
    _edit_json(run_copy / "config.json", lambda d: d[section].update({key: value}))
    assert main(["info", str(run_copy)]) == 2
    line = _one_error_line(capsys)
    assert f"{run_copy / 'config.json'} is damaged: {msg}" in line
    assert "--" not in line  # not a command-line option the user gave


# -- 4: weights corrupted to NaN / inf under a valid header ----------------------------------------
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
def test_non_finite_weights(run_copy, capsys, bad, cmd):
    path = run_copy / "model.safetensors"
    raw = bytearray(path.read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    name = "head.weight"
    start = 8 + n + header[name]["data_offsets"][0]
    raw[start : start + 4] = struct.pack("<f", bad)  # the first float32 of the tensor
    path.write_bytes(bytes(raw))
    assert _run(cmd, run_copy) == 2
    line = _one_error_line(capsys)
    assert "model.safetensors is damaged" in line and "non-finite" in line and name in line


# -- 5: --temperature nan --------------------------------------------------------------------------
def test_nan_temperature_is_rejected_and_inf_still_samples(tiny_run, capsys):
    assert main(["sample", str(tiny_run[0]), "--temperature", "nan"]) == 2
    assert "--temperature" in _one_error_line(capsys)
    # inf means uniform sampling over the vocabulary: still accepted
    assert main(["sample", str(tiny_run[0]), "--temperature", "inf", "--length", "20"]) == 0
    assert len(capsys.readouterr().out) == 21


# -- 6: --device -------------------------------------------------------------------------------
@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c[0] != "info"], ids=lambda c: c[0])
def test_unknown_device_is_a_clear_error(tiny_run, capsys, cmd):
    assert _run([*cmd, "--device", "foo"], tiny_run[0]) == 2
    assert "unknown --device 'foo'" in _one_error_line(capsys)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("cmd", [c for c in COMMANDS if c[0] != "info"], ids=lambda c: c[0])
def test_cuda_without_a_gpu_is_a_clear_error(tiny_run, capsys, cmd):
    assert _run([*cmd, "--device", "cuda"], tiny_run[0]) == 2
    assert "no CUDA GPU is available" in _one_error_line(capsys)


# -- 7: eval on text with no character in the vocabulary -------------------------------------------
def test_eval_on_text_entirely_outside_the_vocabulary(tiny_run, tmp_path, capsys):
    f = tmp_path / "x.txt"
    f.write_text("XYZ中", encoding="utf-8")
    assert main(["eval", str(tiny_run[0]), str(f)]) == 2
    line = _one_error_line(capsys)
    assert "no character of the text is in the model's vocabulary" in line
    assert "'X' (U+0058)" in line and "'中' (U+4E2D)" in line


def test_eval_errors_give_eval_advice(tiny_run, tmp_path, capsys):
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert main(["eval", str(tiny_run[0]), str(f)]) == 2
    line = _one_error_line(capsys)
    # eval has no --bytes: the training advice does not apply here.
    assert "not valid UTF-8 (byte 3)" in line and "reads UTF-8 text only" in line
    assert "--bytes" not in line
    assert main(["eval", str(tiny_run[0]), str(f), "--split", "val"]) == 2
    assert "not both" in _one_error_line(capsys)
    assert main(["eval", str(tiny_run[0])]) == 2
    assert "one of them" in _one_error_line(capsys)


def test_eval_split_refuses_a_text_changed_since_training(tmp_path, capsys):
    from charwise.training.lifecycle import train

    src = tmp_path / "text.txt"
    src.write_text(TEXT, encoding="utf-8")
    train(tiny_config([src], batch_size=2, max_steps=2), tmp_path / "run")
    assert main(["eval", str(tmp_path / "run"), "--split", "val", "--json"]) == 0
    capsys.readouterr()
    src.write_text(TEXT.replace("e", "a"), encoding="utf-8")
    assert main(["eval", str(tmp_path / "run"), "--split", "val"]) == 2
    line = _one_error_line(capsys)
    assert "text changed since it was trained" in line and "its val split" in line


def test_info_has_no_best_step_before_any_validation(run_copy, capsys):
    # Interrupted before its first validation: only the resumable state, whose step is the
    # last one, not a best checkpoint's.
    (run_copy / "model.safetensors").unlink()
    assert main(["info", str(run_copy), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["best_val_loss"] is None and d["best_step"] is None and d["steps"] == 15


# -- 8: info reports fractional epochs -------------------------------------------------------------
def test_info_reports_the_fractional_epochs_trained(tiny_run, capsys):
    run_dir, res = tiny_run
    assert 1 < res.epochs < 2  # stopped inside its second epoch
    assert main(["info", str(run_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == pytest.approx(res.epochs, abs=1e-4)
    assert main(["info", str(run_dir)]) == 0
    assert f"{res.epochs:.2f} epochs" in capsys.readouterr().out


def test_info_reports_a_fraction_of_the_first_epoch(tmp_path, capsys):
    from charwise.training.lifecycle import train

    src = tmp_path / "text.txt"
    src.write_text(TEXT, encoding="utf-8")
    res = train(tiny_config([src], batch_size=2, max_steps=4), tmp_path / "run")
    assert 0 < res.epochs < 1
    assert main(["info", str(tmp_path / "run"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == pytest.approx(res.epochs, abs=1e-4)
