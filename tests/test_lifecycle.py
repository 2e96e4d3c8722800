"""A run's lifecycle: resume (what it may change, where it finds its text, a text that
changed), fine-tuning with init_from (the base run's architecture, vocabulary and text mode),
and what a new run refuses before it reads any text."""

from __future__ import annotations

import importlib
import json

import pytest

from charwise.config import RunConfig
from charwise.data.corpus import load_corpus
from charwise.errors import CharwiseError
from charwise.fields import FieldError
from charwise.runs.format import read_config
from charwise.runs.load import load
from charwise.training.errors import RunExistsError, RunTextChangedError
from charwise.training.events import Callbacks
from charwise.training.lifecycle import resume, train
from charwise.training.trainer import Trainer
from conftest import SHORT_TEXT, read_records


def test_resume_rejects_changes_to_the_model_or_data(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "r")
    # The library names the fields; the CLI words them as flags (test_cli_train_errors.py).
    with pytest.raises(FieldError, match="when a run resumes: optimizer, seq_len$"):
        resume(tmp_path / "r", overrides={"seq_len": 4, "optimizer": "sgd"})
    # Limits can change: continue a finished run for two more steps.
    assert resume(tmp_path / "r", overrides={"max_steps": 4}).steps == 4
    with pytest.raises(RunExistsError, match="already holds a run") as e:
        train(make_config([short_text], max_steps=2), tmp_path / "r")
    assert e.value.run_dir == tmp_path / "r"


def test_resume_may_change_the_learning_rate_clipping_and_weight_decay(
    tmp_path, short_text, make_config
):
    # AdamW's two groups (Muon's three: tests/test_optimizer.py).
    cfg = make_config([short_text], max_steps=4, schedule="constant", warmup=0, optimizer="adamw")
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


def test_resume_refuses_text_that_changed(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "r")
    assert read_config(tmp_path / "r")["text_hash"]
    short_text.write_text(SHORT_TEXT + "Zebra!", encoding="utf-8")
    with pytest.raises(RunTextChangedError, match="training text changed since the run ") as e:
        resume(tmp_path / "r", overrides={"max_steps": 4})
    assert e.value.run_dir == tmp_path / "r"  # what the CLI's advice to fine-tune names
    # A run from before the hash was stored can only be checked by its vocabulary: characters it
    # lacks ("Z", "!") show another text; a change within the vocabulary goes unnoticed.
    cfg_path = tmp_path / "r" / "config.json"
    d = json.loads(cfg_path.read_text(encoding="utf-8"))
    del d["text_hash"]
    cfg_path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(RunTextChangedError, match="training text changed"):
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
    assert read_records(tmp_path / "ft")[0]["loss"] < 0.5
    assert read_records(tmp_path / "fresh")[0]["loss"] > 2.0

    other = tmp_path / "other.txt"
    other.write_text("THE QUICK fox; the cat ran far.\n" * 3, encoding="utf-8")
    with pytest.raises(CharwiseError, match="vocabulary mismatch.*'Q'"):
        train(make_config([other]), tmp_path / "bad", init_from=base)


def test_init_from_refuses_max_vocab(tmp_path, short_text, make_config):
    train(make_config([short_text], max_steps=2), tmp_path / "b")
    cfg = make_config([short_text], data={"max_vocab": 5}, max_steps=2)
    with pytest.raises(CharwiseError, match="^max_vocab cannot be given with init_from"):
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
    with pytest.raises(CharwiseError, match="^out .*f.txt is a file, not a run directory"):
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
