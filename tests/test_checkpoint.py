"""The run directory: exact round trip, clear errors for bad files, atomic writes, no pickle."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import charwise
from charwise import atomic
from charwise.config import DataConfig, ModelConfig, RunConfig
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN
from charwise.runs import format as checkpoint
from charwise.runs.format import atomic_write, save_config, save_model
from charwise.runs.load import load

SRC = Path(charwise.__file__).parent


@pytest.fixture
def run_copy(tmp_path, overfit_run):
    """A private copy of the shared overfit run, free to break."""
    dst = tmp_path / "run"
    shutil.copytree(overfit_run[0], dst)
    return dst


def _logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids]))[0]


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_round_trip_gives_identical_logits(tmp_path, kind):
    vocab = Vocab.from_text("abcdé\n")
    cfg = RunConfig(
        ModelConfig(vocab_size=vocab.size, kind=kind, layers=2, hidden=16, embed=8),
        DataConfig(sources=("x.txt",)),
    )
    torch.manual_seed(3)
    model = CharRNN(cfg.model).eval()
    save_config(tmp_path, cfg, vocab)
    save_model(tmp_path / "model.safetensors", model, {"step": 7})
    run = load(tmp_path)
    ids = [0, 3, 4, 1, 5, 2]
    assert torch.equal(_logits(run.model, ids), _logits(model, ids))
    assert run.vocab == vocab and run.kind == kind and run.info["step"] == 7
    assert not run.model.training
    cfg_json = json.loads((tmp_path / "config.json").read_text(encoding="utf-8"))
    assert cfg_json["format"] == "charwise-run"
    assert cfg_json["charwise_version"] == charwise.__version__
    assert RunConfig.from_dict(cfg_json) == cfg


def test_trained_run_has_everything_and_loads_last_weights(overfit_run):
    run_dir = overfit_run[0]
    names = {p.name for p in run_dir.iterdir()}
    assert {
        "config.json",
        "vocab.json",
        "model.safetensors",
        "state.safetensors",
        "log.jsonl",
        "samples.jsonl",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    last = load(run_dir, weights="last")
    assert last.info["step"] == 200
    best = load(run_dir)
    ids = best.vocab.encode("the cat").tolist()
    # No validation split: the model saved at the end is the last weights.
    assert torch.equal(_logits(best.model, ids), _logits(last.model, ids))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_weights_are_a_clear_error(run_copy, damage):
    path = run_copy / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x13\x37" * 500, "empty": b""}[damage]
    )
    with pytest.raises(CharwiseError, match="model.safetensors is corrupted"):
        load(run_copy)


def test_foreign_safetensors_file_is_rejected(run_copy):
    save_file({"weight": torch.zeros(3)}, str(run_copy / "model.safetensors"))
    with pytest.raises(CharwiseError, match="not written by charwise"):
        load(run_copy)


def test_weights_of_another_architecture_are_rejected(run_copy, tmp_path):
    other = CharRNN(ModelConfig(vocab_size=16, layers=1, hidden=4, embed=2))
    save_model(run_copy / "model.safetensors", other, {})
    with pytest.raises(CharwiseError, match="does not match the model described in config.json"):
        load(run_copy)


def test_newer_format_is_rejected(run_copy):
    cfg = json.loads((run_copy / "config.json").read_text(encoding="utf-8"))
    cfg["format_version"] = 99
    (run_copy / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CharwiseError, match="format version 99, newer .* upgrade charwise"):
        load(run_copy)


def test_newer_weights_format_is_rejected(run_copy, monkeypatch):
    monkeypatch.setattr(checkpoint, "FORMAT_VERSION", 5)
    model = load(run_copy).model
    save_model(run_copy / "model.safetensors", model, {})
    monkeypatch.undo()
    with pytest.raises(CharwiseError, match="model.safetensors has format version 5"):
        load(run_copy)


@pytest.mark.parametrize(
    "body, msg",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a charwise config"),
        ('{"format": "charwise-run", "format_version": 1}', "config.json"),
        (
            '{"format": "charwise-run", "format_version": 1, '
            '"model": {"vocab_size": 16, "kind": "foo"}}',
            "unknown kind 'foo'",
        ),
        (
            '{"format": "charwise-run", "format_version": 1, "model": {"kind": "lstm"}}',
            "config.json",
        ),
        ('{"format": "other", "format_version": 1}', "not written by charwise"),
    ],
)
def test_bad_config_json_is_a_clear_error(run_copy, body, msg):
    (run_copy / "config.json").write_text(body, encoding="utf-8")
    with pytest.raises(CharwiseError, match=msg) as e:
        load(run_copy)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("section", ["model", "data", "train"])
def test_config_section_that_is_not_an_object(run_copy, section):
    cfg = json.loads((run_copy / "config.json").read_text(encoding="utf-8"))
    cfg[section] = "x"
    (run_copy / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CharwiseError, match=f"the {section} section is not an object"):
        load(run_copy)


@pytest.mark.parametrize(
    "section, key, value, msg",
    [
        ("model", "hidden", -1, "hidden must be at least 1, not -1"),
        ("train", "batch_size", 0, "batch_size must be at least 1, not 0"),
        ("data", "split", [0.5, 0.6, 0.1], "split fractions must add up to 1"),
    ],
)
def test_out_of_range_config_value_names_the_run_config(run_copy, section, key, value, msg):
    cfg = json.loads((run_copy / "config.json").read_text(encoding="utf-8"))
    cfg[section][key] = value
    (run_copy / "config.json").write_text(json.dumps(cfg), encoding="utf-8")
    with pytest.raises(CharwiseError) as e:
        load(run_copy)
    # The file is at fault, not an option given on the command line.
    assert str(e.value) == f"{run_copy / 'config.json'} is damaged: {msg}"


@pytest.mark.parametrize("weights", ["best", "last"])
def test_non_finite_weights_are_a_clear_error(run_copy, weights):
    file = "model.safetensors" if weights == "best" else "state.safetensors"
    tensors, meta = checkpoint.load_tensors(run_copy / file)
    key = "head.bias" if weights == "best" else "model.head.bias"
    tensors[key] = tensors[key].clone()
    tensors[key][3] = float("nan")
    save_file(tensors, str(run_copy / file), metadata=meta)
    with pytest.raises(CharwiseError, match=f"{file} is damaged: .*non-finite.* in head.bias$"):
        load(run_copy, weights=weights)


@pytest.mark.parametrize("weights", ["best", "last"])
@pytest.mark.parametrize("value", ["not json", "[1, 2]"])
def test_metadata_that_is_not_a_json_object_is_a_clear_error(run_copy, weights, value):
    file = "model.safetensors" if weights == "best" else "state.safetensors"
    key = "info" if weights == "best" else "trainer"
    tensors, meta = checkpoint.load_tensors(run_copy / file)
    save_file(tensors, str(run_copy / file), metadata={**meta, key: value})
    with pytest.raises(CharwiseError, match=f"{file} is damaged: its '{key}' metadata"):
        load(run_copy, weights=weights)


@pytest.mark.parametrize("device", ["foo", "tpu:0", "meta"])
def test_unknown_device_is_a_clear_error(run_copy, device):
    with pytest.raises(CharwiseError, match=f"unknown device '{device}'"):
        load(run_copy, device=device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(run_copy):
    with pytest.raises(CharwiseError, match="no CUDA GPU is available"):
        load(run_copy, device="cuda")


def test_vocab_json_that_is_not_utf8(run_copy):
    (run_copy / "vocab.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(CharwiseError, match="vocab.json is damaged: not UTF-8 text"):
        load(run_copy)


def test_vocab_and_config_disagreeing_is_a_clear_error(run_copy):
    (run_copy / "vocab.json").write_text(Vocab.from_text("ab").to_json(), encoding="utf-8")
    with pytest.raises(CharwiseError, match="disagree on the vocabulary size"):
        load(run_copy)


def test_missing_run_dir_and_missing_files(tmp_path, run_copy):
    with pytest.raises(CharwiseError, match="no such run directory"):
        load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CharwiseError, match="not a charwise run directory"):
        load(tmp_path / "empty")
    (run_copy / "vocab.json").unlink()
    with pytest.raises(CharwiseError, match="no vocab.json"):
        load(run_copy)


def test_failed_weight_write_leaves_the_old_file(run_copy, monkeypatch):
    path = run_copy / "model.safetensors"
    before = path.read_bytes()
    model = load(run_copy).model

    def crash_midway(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "save_file", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_model(path, model, {"step": 999})
    assert path.read_bytes() == before
    assert load(run_copy).info["step"] == 200
    assert not list(run_copy.glob(".*.tmp"))  # no debris either


def test_failed_text_write_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    atomic_write(path, '{"old": true}')

    def no_space(fd):
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, '{"new": true}')
    assert path.read_text() == '{"old": true}'
    assert not list(tmp_path.glob(".*.tmp"))


def test_no_pickle_anywhere_in_the_package():
    offenders = []
    for f in sorted(SRC.rglob("*.py")):
        text = f.read_text(encoding="utf-8")
        for m in re.finditer(r"torch\.load\(", text):
            call = text[m.start() : text.find(")", m.start()) + 1]
            if "weights_only=True" not in call:
                offenders.append(f"{f.name}: {call}")
        for pat in (
            r"^\s*import pickle",
            r"^\s*from pickle",
            r"allow_pickle\s*=\s*True",
            r"import dill",
            r"cloudpickle",
        ):
            if re.search(pat, text, re.M):
                offenders.append(f"{f.name}: {pat}")
    assert offenders == []
