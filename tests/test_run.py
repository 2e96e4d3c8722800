"""runs/: one interface for every loaded model, and run directories written before the
restructuring still load and behave as they did."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from charwise.cli import main
from charwise.errors import CharwiseError
from charwise.ngram import NGramConfig, train_ngram
from charwise.runs.load import load
from charwise.runs.run import NoNetworkError, Run
from charwise.use.sampling import SampleOptions

OLD = Path(__file__).parent / "data" / "format_v1"  # made by charwise 7c7f9db, see expected.json
EXPECTED = json.loads((OLD / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture
def two_kinds(tmp_path, overfit_run):
    """An RNN run and an n-gram run of the same text: the interface must not care which."""
    from charwise.config import DataConfig

    text = tmp_path / "text.txt"
    text.write_text(overfit_run[1] * 20, encoding="utf-8")
    train_ngram(DataConfig(sources=(str(text),)), NGramConfig(order=4), tmp_path / "ng")
    return {"rnn": load(overfit_run[0]), "ngram": load(tmp_path / "ng")}


@pytest.mark.parametrize("kind", ["rnn", "ngram"])
def test_every_kind_answers_the_same_interface(two_kinds, kind):
    run = two_kinds[kind]
    assert isinstance(run, Run)
    texts = run.generate(SampleOptions(length=15, seed=1, num_samples=2))
    assert len(texts) == 2 and all(len(t) == 15 for t in texts)
    pieces = []
    run.generate(SampleOptions(length=10, seed=2), lambda s, p: pieces.append(p))
    assert "".join(pieces) == run.generate(SampleOptions(length=10, seed=2))[0]
    ids = run.vocab.encode("the cat sat; the dog ran far.\n")
    total, n = run.loss_over_ids(ids)
    assert n == len(ids) - 1 and total > 0
    assert run.evaluate(ids).nats_per_char == pytest.approx(total / n)
    assert isinstance(run.describe()["headline"], str)
    assert len(run.split("train")) > 1


def test_a_kind_without_cells_says_so(two_kinds):
    assert two_kinds["rnn"].has_network and two_kinds["rnn"].network() is two_kinds["rnn"].model
    assert not two_kinds["ngram"].has_network
    with pytest.raises(NoNetworkError, match="n-gram run: it has no cells"):
        two_kinds["ngram"].network()


def test_split_refuses_a_text_changed_since_training(tmp_path, two_kinds):
    run = two_kinds["ngram"]
    Path(run.data.sources[0]).write_text("a different text\n" * 30, encoding="utf-8")
    with pytest.raises(CharwiseError, match="text changed since it was trained"):
        run.split("val")


def test_inspect_also_refuses_a_changed_text(tmp_path, capsys):
    from conftest import train_tiny_run

    run_dir = train_tiny_run(tmp_path, "the cat sat on the mat; " * 60)
    (tmp_path / "t.txt").write_text("another text entirely; " * 60, encoding="utf-8")
    assert main(["inspect", str(run_dir), "--out", str(tmp_path / "r.html")]) == 2
    assert "text changed since it was trained" in capsys.readouterr().err


def test_inspect_without_a_text_looks_at_the_validation_split(tmp_path, capsys):
    from conftest import train_tiny_run

    run_dir = train_tiny_run(tmp_path, "the cat sat on the mat; " * 60)
    out = tmp_path / "r.html"
    assert main(["inspect", str(run_dir), "--out", str(out), "--sample-length", "5"]) == 0
    assert out.exists() and "the val split" in out.read_text(encoding="utf-8")
    n_val = len(load(run_dir).split("val"))
    assert f"{n_val:,} characters" in capsys.readouterr().out


@pytest.fixture
def old_runs(tmp_path):
    """Copies of the run folders charwise wrote before the restructuring, their text in place."""
    shutil.copytree(OLD, tmp_path / "old")
    return tmp_path / "old"


@pytest.mark.parametrize("kind", ["lstm", "ngram"])
def test_runs_written_before_load_and_behave_as_they_did(old_runs, kind, capsys):
    run = load(old_runs / kind)
    expected = EXPECTED[kind]
    res = run.evaluate_files(old_runs / "text.txt")
    assert res.nats_per_char == pytest.approx(expected["eval_nats_per_char"], abs=1e-9)
    sample = run.sample(40, "The ", seed=5)
    assert "The " + sample == expected["sample_seed5_prime_The_length40"]
    assert main(["info", str(old_runs / kind)]) == 0
    assert capsys.readouterr().out.startswith(run.describe()["headline"])


def test_a_run_written_before_resumes(old_runs):
    from charwise.training.lifecycle import resume

    # Its config.json holds the text's absolute path where it was made: point it here (the
    # text's hash, also stored, is what resume checks).
    cfg_path = old_runs / "lstm" / "config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["data"]["sources"] = [str(old_runs / "text.txt")]
    cfg_path.write_text(json.dumps(cfg), encoding="utf-8")
    res = resume(old_runs / "lstm", overrides={"max_steps": 9})
    assert res.steps == 9 and np.isfinite(res.best_val_loss)
