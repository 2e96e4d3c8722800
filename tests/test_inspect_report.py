"""The HTML report: self-contained, its data is the recording, every section is there, and the
`charwise inspect` command writes it (and fails with one line on bad input)."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pytest
import torch

from charwise.cli import main
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.inspect.report import ReportOptions, build_report
from charwise.runs.load import load
from charwise.training.lifecycle import train
from conftest import train_tiny_run

TEXT = "".join(
    f'{"  " * (i % 3)}v{i % 10} = f("s{i % 7}", [a, b])  # c{i % 5}\n' for i in range(300)
)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("inspect")
    src = d / "code.txt"
    src.write_text(TEXT, encoding="utf-8")
    cfg = RunConfig(
        model=ModelConfig(vocab_size=1, kind="lstm", layers=2, hidden=16, embed=8),
        data=DataConfig(sources=(str(src),)),
        train=TrainConfig(
            batch_size=8,
            seq_len=32,
            max_steps=40,
            eval_every=20,
            sample_every=10,
            sample_length=40,
            log_every=5,
            warmup=5,
            device="cpu",
            threads=1,
        ),
    )
    train(cfg, d / "run")
    return d / "run", src


def _data(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="cw-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def test_report_is_self_contained_and_complete(tiny_run):
    run_dir, src = tiny_run
    run = load(run_dir)
    ids = run.vocab.encode(TEXT)[:400]
    opts = ReportOptions(
        max_chars=300,
        features=("digit=[0-9]",),
        temperatures=(0.3, 1.2),
        sample_length=50,
        show=("c", "h", "forget"),
    )
    page, rec, interp = build_report(run, ids, "code.txt", opts)
    # No network: nothing loaded from anywhere, a CSP that forbids it, scripts inline.
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert "default-src 'none'" in page
    assert "<script src" not in page and "<link" not in page
    data = _data(page)
    assert "".join(data["chars"]) == TEXT[:300] and rec.n == 300
    assert data["quantities"] == ["c", "h", "forget"] and len(data["acts"]["c"]) == 2
    assert data["interp"]["total_cells"] == 32
    assert {p["name"] for p in data["interp"]["properties"]} >= {"in_quotes", "digit"}
    # The data against the model itself (not against the function the report calls): the
    # probability of each true next character and the top guesses from one forward pass, the
    # last step's cell and hidden state from the state it returns.
    x = torch.tensor([ids[:300].tolist()])
    with torch.no_grad():
        logits, (h, c) = run.model(x)
    probs = torch.softmax(logits[0].double(), -1)
    p_true = probs[torch.arange(299), x[0, 1:]].numpy()
    assert data["p_next"][-1] is None  # no next character after the last
    np.testing.assert_allclose(data["p_next"][:-1], p_true, atol=1e-4)
    assert data["bpc"] == pytest.approx(-np.log2(p_true).mean(), abs=1e-3)
    k = data["k"]
    top = np.array(data["topk_ids"]).reshape(300, k)
    np.testing.assert_array_equal(top[:, 0], probs.argmax(-1).numpy())
    np.testing.assert_allclose(
        np.array(data["topk_p"]).reshape(300, k), probs.topk(k).values.numpy(), atol=1e-4
    )
    for layer in range(2):
        for q, want in (("c", torch.tanh(c[layer, 0])), ("h", h[layer, 0])):
            a = np.frombuffer(base64.b64decode(data["acts"][q][layer]), dtype=np.int8)
            np.testing.assert_allclose(a.reshape(300, 16)[-1] / 127, want.numpy(), atol=0.005)
    # Training curves (train and val, against steps and time), samples in step order,
    # the temperature columns, the interpretable-cell table with pickable cells.
    assert page.count("<svg") == 2 and "series-train" in page and "series-val" in page
    steps = [int(s) for s in re.findall(r'class="cw-step">step (\d+)', page)]
    assert steps == sorted(steps) and steps[:4] == [10, 20, 30, 40]
    assert "temperature 0.3" in page and "temperature 1.2" in page
    assert f"of {interp.total_cells} cells" in page
    assert page.count('class="cw-pick"') >= 5
    assert "function" in page and "CharwiseViewer" in page  # the viewer script is inlined


def test_report_escapes_text_that_looks_like_html(tiny_run):
    run_dir, _ = tiny_run
    run = load(run_dir)
    # Characters the model knows, arranged as markup: must stay data, never become markup.
    nasty = '</script><a b="c">{{DATA}}' * 3
    known = "".join(c for c in nasty if not run.vocab.unknown_chars(c))
    page, rec, _ = build_report(
        run, run.vocab.encode(known), "x", ReportOptions(temperatures=(1.0,), sample_length=5)
    )
    assert page.count("</script>") == 3  # the data block and the two inline scripts
    assert "".join(_data(page)["chars"]) == known


def test_payload_activations_round_trip(tiny_run):
    run = load(tiny_run[0])
    page, rec, _ = build_report(
        run, run.vocab.encode(TEXT[:120]), "x", ReportOptions(temperatures=(1.0,), sample_length=5)
    )
    a = np.frombuffer(base64.b64decode(_data(page)["acts"]["c"][1]), dtype=np.int8).reshape(120, 16)
    np.testing.assert_allclose(a / 127, np.tanh(rec.act("c", 1).astype(np.float32)), atol=0.005)


def test_report_of_a_gru_shows_hidden_states_and_gates(tmp_path):
    """The default model kind: cells are ranked and shown on h; GRU gates can be added."""
    run = load(train_tiny_run(tmp_path, TEXT, kind="gru"))
    opts = ReportOptions(temperatures=(1.0,), sample_length=5, show=("h", "update"))
    page, rec, interp = build_report(run, run.vocab.encode(TEXT[:150]), "x", opts)
    data = _data(page)
    assert data["quantities"] == ["h", "update"] and interp.total_cells == 32
    a = np.frombuffer(base64.b64decode(data["acts"]["h"][1]), dtype=np.int8).reshape(150, 16)
    np.testing.assert_allclose(a / 127, rec.act("h", 1).astype(np.float32), atol=0.005)


def test_inspect_command(tiny_run, tmp_path, capsys):
    run_dir, src = tiny_run
    out = tmp_path / "r.html"
    assert (
        main(
            [
                "inspect",
                str(run_dir),
                "--text",
                str(src),
                "--out",
                str(out),
                "--max-chars",
                "250",
                "--feature",
                "digit=[0-9]",
                "--temperatures",
                "0.5,1",
                "--sample-length",
                "30",
            ]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "interpretable cells:" in text and "in_quotes" in text and "digit" in text
    assert len(_data(out.read_text(encoding="utf-8"))["chars"]) == 250
    out2 = tmp_path / "v.html"
    assert (
        main(
            [
                "inspect",
                str(run_dir),
                "--corpus-split",
                "val",
                "--out",
                str(out2),
                "--sample-length",
                "10",
            ]
        )
        == 0
    )
    assert out2.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--text", "missing.txt"], "no such text file"),
        (["--text", "{src}", "--feature", "bad"], "NAME=REGEX"),
        (["--text", "{src}", "--show", "zz"], "has no zz"),
        (["--text", "{src}", "--max-chars", "1"], "--max-chars"),
        (["--text", "{src}", "--temperatures", "a,b"], "--temperatures"),
        (["--text", "{src}", "--out", "/no/such/dir/r.html"], "does not exist"),
        (["--text", "{src}", "--out", "."], "not a folder"),
        (["--text", "{src}", "--out", "{tmp}"], "not a folder"),
        (["--text", "{src}", "--seed", str(10**23)], "--seed"),
        (["--text", "{bad_utf8}"], "not valid UTF-8"),
    ],
)
def test_inspect_command_errors(tiny_run, tmp_path, capsys, args, message):
    run_dir, src = tiny_run
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe the fox")
    subs = {"{src}": str(src), "{tmp}": str(tmp_path), "{bad_utf8}": str(tmp_path / "bad.txt")}
    args = [subs.get(a, a) for a in args]
    out = [] if "--out" in args else ["--out", str(tmp_path / "r.html")]
    assert main(["inspect", str(run_dir), *args, *out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("charwise: error:") and message in err and "Traceback" not in err


def test_inspect_does_not_rank_cells_on_too_little_text(tiny_run, tmp_path, capsys):
    # Over 2 characters every correlation is +-1: every cell came out "interpretable".
    run_dir, src = tiny_run
    short = tmp_path / "short.txt"
    short.write_text(src.read_text(encoding="utf-8")[:12], encoding="utf-8")
    out = tmp_path / "s.html"
    args = ["inspect", str(run_dir), "--text", str(short), "--out", str(out)]
    assert main([*args, "--sample-length", "5"]) == 0
    text = capsys.readouterr().out
    assert "interpretable cells: 0 of" in text and "not scored" in text, text
