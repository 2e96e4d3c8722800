"""`charwise experiment`: the registry's settings, --list, a tiny names run end to end, the
missing-text errors, the War and Peace evolution samples, the paper table and the page."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from charwise.cli import main
from charwise.config import DataConfig, RunConfig
from charwise.errors import CharwiseError
from charwise.experiments import catalog
from charwise.experiments.hour import WARPEACE_HOUR
from charwise.experiments.page import _loss_rows, _ngram_line
from charwise.experiments.posts import EXPERIMENTS, WARPEACE
from charwise.experiments.registry import Budget, Experiment, Text
from charwise.experiments.runner import ExperimentOptions, command_line, run_experiment
from charwise.experiments.table import PAPER_TABLE, Grid, PaperTable, TableText, format_table
from charwise.runs.format import read_config

TINY = Budget(
    layers=1,
    hidden=16,
    embed=8,
    batch_size=4,
    seq_len=16,
    max_steps=4,
    eval_every=2,
    sample_every=2,
    sample_length=40,
)


def test_every_experiment_validates():
    data = DataConfig(corpus="names")
    for exp in EXPERIMENTS.values():
        for long in (False, True):
            b = exp.budget(long)
            RunConfig(b.model_config(), data, b.train_config())  # validates every section
        assert exp.claim and exp.text.origin and exp.temperatures
    grid_cells = 0
    for long in (False, True):
        g = PAPER_TABLE.budget(long)
        for kind in g.kinds:
            for layers in g.layers:
                for hidden in g.hidden:
                    b = g.budget(kind, layers, hidden)
                    RunConfig(b.model_config(), data, b.train_config())
                    grid_cells += 1
    assert grid_cells == 9 + 36
    assert set(catalog.ALL) == set(EXPERIMENTS) | {"paper-table"}
    # The evolution steps are saved exactly: each a multiple of sample_every, all reached.
    assert WARPEACE.evolution == (100, 300, 500, 700, 1200, 2000)
    assert WARPEACE.cpu.max_steps >= 2000 and WARPEACE.cpu.sample_every == 100


def test_registry_rules():
    with pytest.raises(CharwiseError, match="not multiples of sample_every"):
        replace(WARPEACE, evolution=(150,))
    with pytest.raises(CharwiseError, match="exactly one"):
        Text(corpus="names", file="x.txt", origin="o")
    with pytest.raises(CharwiseError, match="must not be empty"):
        Text(corpus="names", origin="")
    with pytest.raises(CharwiseError, match="unknown kind"):
        Budget(kind="transformer")
    with pytest.raises(CharwiseError, match="unknown device"):
        ExperimentOptions(device="tpu")


def test_list(capsys):
    assert main(["experiment", "--list", "--data", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    for name in catalog.ALL:
        assert name in out
    assert "linux_kernel_sample.txt in /nonexistent (missing)" in out
    assert "needs --text PATH" in out  # paulgraham, enwik8


def _one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("charwise: error: ") and err.count("\n") == 1, err
    return err


def test_missing_text_is_one_line(capsys, tmp_path):
    err = _one_line_error(capsys, ["experiment", "linux", "--data", str(tmp_path)])
    assert "linux_kernel_sample.txt" in err and str(tmp_path) in err and "PROVENANCE.md" in err
    err = _one_line_error(capsys, ["experiment", "enwik8"])
    assert "--text PATH" in err and "mattmahoney.net" in err
    err = _one_line_error(capsys, ["experiment", "paulgraham", "--text", str(tmp_path / "no")])
    assert "no such file" in err
    small = tmp_path / "enwik8"
    small.write_bytes(b"<mediawiki>" * 10)
    err = _one_line_error(capsys, ["experiment", "enwik8", "--text", str(small)])
    assert "100,000,000-byte" in err
    err = _one_line_error(capsys, ["experiment", "nosuch"])
    assert "unknown experiment" in err
    assert not (tmp_path / "runs").exists()


def test_env_names_the_data_folder(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CHARWISE_DATA", str(tmp_path / "d"))
    err = _one_line_error(capsys, ["experiment", "warpeace"])
    assert str(tmp_path / "d") in err


@pytest.fixture(scope="module")
def names_run(tmp_path_factory):
    """`charwise experiment names` at a 2-step budget: (the experiments folder, metrics)."""
    runs = tmp_path_factory.mktemp("exp") / "runs"
    argv = [
        "experiment",
        "names",
        "--max-steps",
        "2",
        "--out",
        str(runs / "names"),
        "--quiet",
        "--device",
        "cpu",
        "--threads",
        "1",
    ]
    assert main(argv) == 0
    return runs, json.loads((runs / "names" / "metrics.json").read_text(encoding="utf-8"))


def test_names_end_to_end(names_run):
    runs, m = names_run
    folder = runs / "names"
    assert (folder / "run" / "model.safetensors").exists()
    assert (folder / "run" / "train_lines.npy").exists()
    assert m["experiment"] == "names" and m["train"]["steps"] == 2
    for split in ("val", "test"):
        assert (
            m[split]["nats_per_char"] > 0 and m[split]["bits_per_char"] > m[split]["nats_per_char"]
        )
    samples = json.loads((folder / "samples.json").read_text(encoding="utf-8"))
    assert [s["temperature"] for s in samples] == list(EXPERIMENTS["names"].temperatures)
    assert all(len(s["text"]) == EXPERIMENTS["names"].sample_length for s in samples)
    for v in m["names"]:
        assert v["lines"] > 0 and v["real"] + len(v["novel_examples"]) <= v["lines"] + 0
        assert v["real_share"] + v["novel_share"] == pytest.approx(1.0)
    assert m["command"].startswith("charwise experiment names ")
    assert "--max-steps 2" in m["command"]
    assert "cores" in m["machine"]


def test_rerun_resumes_and_refuses_other_settings(names_run, capsys):
    runs, _ = names_run
    out = str(runs / "names")
    # A finished run is not trained again; a different network in its folder is refused.
    base = ["experiment", "names", "--max-steps", "2", "--out", out, "--quiet", "--device", "cpu"]
    assert main(base) == 0
    assert "2 steps" in capsys.readouterr().out
    # A run saved before a model setting existed (its config lacks it) is still the same run.
    cfg_path = runs / "names" / "run" / "config.json"
    saved = json.loads(cfg_path.read_text())
    del saved["model"]["tie_embedding"]
    cfg_path.write_text(json.dumps(saved))
    assert main(base) == 0
    err = _one_line_error(capsys, [*base, "--long"])
    assert "other settings" in err


def test_page_from_a_finished_run(names_run, tmp_path):
    pytest.importorskip("matplotlib")
    runs, _ = names_run
    m = json.loads((runs / "names" / "metrics.json").read_text(encoding="utf-8"))  # the latest
    page = tmp_path / "docs" / "experiments.md"
    assert main(["experiment", "--page", str(page), "--runs", str(runs)]) == 0
    text = page.read_text(encoding="utf-8")
    assert "## Baby names" in text and "**The post:**" in text
    assert f"{m['val']['bits_per_char']:.4f}" in text
    assert "images/experiments/names-curve.png" in text
    assert (tmp_path / "docs" / "images" / "experiments" / "names-curve.png").stat().st_size > 0
    assert "Not run for this page:" in text and "`warpeace`" in text
    assert "Temperature 0.5:" in text and m["command"] in text
    assert f"`charwise experiment --page {page.as_posix()}`" in text  # how to make this page


def test_evolution_samples_at_exact_steps(small_text, tmp_path):
    exp = Experiment(
        name="evo",
        title="evolution",
        text=Text(user=True, origin="a test text"),
        cpu=TINY,
        long=TINY,
        claim="c",
        temperatures=(1.0,),
        sample_length=50,
        evolution=(2, 4),
    )
    opts = ExperimentOptions(text=str(small_text), out=str(tmp_path / "evo"), device="cpu")
    m = run_experiment(exp, opts)
    assert [e["step"] for e in m["evolution"]] == [2, 4]
    assert all(len(e["text"]) == 40 for e in m["evolution"])
    assert m["command"] == command_line(exp, opts)


def test_a_timed_experiment_on_row_splits_scores_test_every_way(small_text, tmp_path):
    # warpeace-hour's shape: a time budget, char-rnn's row split, dynamic evaluation beside.
    timed = replace(TINY, kind="gru", max_time=1.5, eval_every=1000, sample_every=1000)
    exp = Experiment(
        name="hour",
        title="timed",
        text=Text(user=True, origin="a test text", split=(0.8, 0.1, 0.1), split_rows=4),
        cpu=timed,
        long=timed,
        claim="c",
        temperatures=(1.0,),
        sample_length=20,
        dynamic=True,
        cache=True,
        ngram_order=3,
    )
    opts = ExperimentOptions(text=str(small_text), out=str(tmp_path / "hour"), device="cpu")
    m = run_experiment(exp, opts)
    saved = read_config(tmp_path / "hour" / "run")
    assert saved["data"]["split_rows"] == 4
    assert saved["train"]["max_time"] == 1.5 and saved["train"]["max_steps"] is None
    assert m["train"]["stopped"] == "max_time" and m["train"]["seconds"] >= 1.5
    static, dynamic = m["test"], m["test_dynamic"]
    assert dynamic["chars"] == static["chars"] > 0
    assert dynamic["nats_per_char"] != static["nats_per_char"]  # the weights moved while scoring
    for key in ("test_cache", "test_dynamic_cache"):  # the continuous cache beside, both ways
        assert m[key]["chars"] == static["chars"]
        assert m[key]["nats_per_char"] not in (static["nats_per_char"], dynamic["nats_per_char"])
    rows = "\n".join(_loss_rows(m))
    assert "test, dynamic evaluation (" in rows and "| test, baseline: 3-gram" in rows
    assert "test, the continuous cache (" in rows and "dynamic evaluation and the cache (" in rows
    g = m["ngram"]
    assert g["order"] == 3 and g["test"]["chars"] == static["chars"]
    # The n-gram with a cache of its own beside the network's cache rows (ngram/cache.py).
    assert g["test_cache"]["chars"] == static["chars"]
    assert g["test_cache"]["nats_per_char"] != g["test"]["nats_per_char"]
    assert "| test, baseline: the 3-gram with a cache of its own (order " in rows
    assert 0 < g["val"]["nats_per_char"] < math.log(len(set(small_text.read_text())))
    assert _ngram_line(m) == ("3-gram (validation)", g["val"]["bits_per_char"])
    pytest.importorskip("matplotlib")
    from charwise.experiments.figures import curve_figure

    png = curve_figure(tmp_path / "hour" / "run", tmp_path / "c.png", "t", baseline=_ngram_line(m))
    assert png is not None and png.stat().st_size > 0
    assert WARPEACE_HOUR.text.split_rows == 100 and WARPEACE_HOUR.cpu.max_time == 3600


def test_paper_table_tiny(small_text, tmp_path):
    table = PaperTable(
        texts=(TableText("t", "Text", Text(user=True, origin="o", split=(0.8, 0.1, 0.1)), 3),),
        cpu=Grid(
            kinds=("lstm", "rnn"), layers=(1,), hidden=(8,), max_steps=2, batch_size=4, seq_len=16
        ),
        published=PAPER_TABLE.published,
    )
    opts = ExperimentOptions(text=str(small_text), device="cpu", out=str(tmp_path / "tab"))
    m = catalog.run(table, opts)
    assert [c["model"] for c in m["cells"]] == ["3-gram", "lstm-1x8", "rnn-1x8"]
    shown = format_table(m)
    assert "| lstm-1x8 |" in shown and "1.077" in shown and "1.195" in shown
    assert (tmp_path / "tab" / "metrics.json").exists()


def test_structure_metrics_used_when_importable(names_run, monkeypatch):
    import sys
    import types

    from charwise.experiments import views
    from charwise.runs.load import load

    runs, _ = names_run
    run = load(runs / "names" / "run")
    samples = [{"temperature": 0.5, "text": "Anna\nBob\n"}]
    seen = []

    def structure_metrics(sample, corpus):
        seen.append((sample, len(corpus)))
        return {"lines": sample.count("\n"), "nested": {"share": 0.5}}

    fake = types.ModuleType("charwise.analysis.structure")
    fake.structure_metrics = structure_metrics
    monkeypatch.setitem(sys.modules, "charwise.analysis.structure", fake)
    assert views.structure(run, samples) == {"0.5": {"lines": 2, "nested": {"share": 0.5}}}
    assert seen[0][0] == "Anna\nBob\n" and seen[0][1] == len(run.split("train"))
    monkeypatch.setitem(sys.modules, "charwise.analysis.structure", None)  # not importable
    assert views.structure(run, samples) is None


def test_every_option_is_generated_with_its_help():
    import dataclasses

    from charwise.cli import build_parser
    from charwise.commands._options import field_help
    from charwise.commands.experiment import ExperimentCommand
    from charwise.commands.flags import flag

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    p = sub.choices["experiment"]
    options = {s: a for a in p._actions for s in a.option_strings}
    for cls in (ExperimentCommand, ExperimentOptions):
        helps = field_help(cls)
        for f in dataclasses.fields(cls):
            assert helps.get(f.name), f"{cls.__name__}.{f.name} has no comment"
            if f.name == "experiments":  # the positional NAME ...
                continue
            assert options[flag(f.name)].dest == f.name
