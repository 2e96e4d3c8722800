"""`charwise export`: the Hugging Face folder and the ONNX graph, each loaded back and checked
against the run it came from (GRU, LSTM and RNN), and the errors (n-gram runs, a folder in use,
onnxruntime-web missing). The web page in a browser: test_export_browser.py."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch

from charwise.cli import main
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.export import ExportOptions, export_run, ortweb
from charwise.export.card import CARD_SAMPLE
from charwise.runs.load import load
from charwise.use.sampling import SampleOptions, generate
from conftest import tiny_config

KINDS = ("gru", "lstm", "rnn")
TEXT = "".join(f"{i % 10}: the cat's [{i % 7}] (hat) \u00e9t\u00e9 \u2014 ok\n" for i in range(150))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{kind: run folder}: 2x32 networks trained 6 steps on TEXT (enough to move the weights
    off their initialisation and to record a validation loss)."""
    from charwise.training.lifecycle import train

    torch.set_num_threads(1)  # module fixtures run before conftest's per-test setting
    base = tmp_path_factory.mktemp("export-runs")
    src = base / "text.txt"
    src.write_text(TEXT, encoding="utf-8")
    out = {}
    for kind in KINDS:
        cfg = tiny_config([src], model={"kind": kind}, data={"split": (0.8, 0.2, 0.0)})
        train(cfg, base / kind, cache_dir=base / "cache")
        out[kind] = base / kind
    return out


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test (and HF_HUB_OFFLINE forbids the Hub)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*_args, **_kwargs):
        raise AssertionError("the network was used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# -- hf ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_hf_folder_loads_back_with_equal_logits(runs, kind, tmp_path, no_network):
    from charwise.export.hf import HubCharRNN

    res = export_run(runs[kind], ExportOptions(to=str(tmp_path / "hf"), format="hf"))
    assert sorted(res.files) == ["README.md", "config.json", "model.safetensors"]
    assert res.check.what == "from_pretrained" and res.check.max_diff == 0.0

    run = load(runs[kind])
    model = HubCharRNN.from_pretrained(str(tmp_path / "hf"))
    assert not model.training and model.cfg == run.model.cfg
    assert model.vocab == run.vocab  # the vocabulary travels in config.json
    x = torch.from_numpy(run.vocab.encode(TEXT[:200])).long()[None]
    with torch.no_grad():
        want, want_state = run.model(x)
        got, got_state = model(x)
        assert torch.equal(got, want)
        assert all(torch.equal(a, b) for a, b in zip(got_state, want_state, strict=True))
        # the one-step API too, state carried
        a, sa = run.model.step(x[:, 0], want_state)
        b, sb = model.step(x[:, 0], got_state)
        assert torch.equal(a, b)
    # and it samples like the run
    opts = SampleOptions(length=80, seed=3, temperature=0.9)
    assert generate(model, model.vocab, opts) == generate(run.model, run.vocab, opts)


def test_hf_model_card_describes_the_run(runs, tmp_path, no_network):
    from huggingface_hub import ModelCard

    export_run(runs["lstm"], ExportOptions(to=str(tmp_path / "hf"), format="hf"))
    run = load(runs["lstm"])
    card = ModelCard.load(tmp_path / "hf" / "README.md")
    meta = card.data.to_dict()
    assert card.data.library_name == "charwise"
    assert {"charwise", "char-rnn", "lstm"} <= set(card.data.tags)
    text_file = runs["lstm"].parent / "text.txt"
    assert meta["training_text"] == {"name": "text.txt", "bytes": text_file.stat().st_size}
    val = run.info["val_loss"]
    assert meta["validation_loss"]["nats_per_char"] == pytest.approx(val)
    (result,) = card.data.eval_results  # the Hub's model-index
    assert result.metric_type == "loss" and result.metric_value == pytest.approx(val, abs=1e-6)
    assert meta["architecture"]["parameters"] == run.model.num_params
    sample = generate(run.model, run.vocab, CARD_SAMPLE)[0]
    assert sample in card.text
    config = json.loads((tmp_path / "hf" / "config.json").read_text(encoding="utf-8"))
    assert config["model"]["kind"] == "lstm" and config["format"] == "charwise-hf"


def test_save_pretrained_round_trip_without_a_run(runs, tmp_path, no_network):
    from charwise.export.hf import HubCharRNN

    run = load(runs["gru"])
    hub = HubCharRNN.from_model(run.model, run.vocab)
    hub.save_pretrained(tmp_path / "mine")
    assert (tmp_path / "mine" / "README.md").exists()  # the mixin's generic card
    again = HubCharRNN.from_pretrained(tmp_path / "mine")
    for (k, v), (k2, v2) in zip(hub.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2)


def test_from_pretrained_refuses_damaged_weights(runs, tmp_path, no_network):
    from safetensors.torch import load_file, save_file

    from charwise.export.hf import HubCharRNN

    export_run(runs["gru"], ExportOptions(to=str(tmp_path / "hf"), format="hf"))
    path = tmp_path / "hf" / "model.safetensors"
    tensors = load_file(str(path))
    tensors.pop("head.bias")  # the mixin's own loader would leave it at its random init
    save_file(tensors, str(path))
    with pytest.raises(CharwiseError, match="does not match"):
        HubCharRNN.from_pretrained(tmp_path / "hf")


# -- onnx --------------------------------------------------------------------------------------
def _ort(path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("kind", KINDS)
def test_onnx_matches_pytorch_over_200_characters(runs, kind, tmp_path):
    res = export_run(runs[kind], ExportOptions(to=str(tmp_path / "o"), format="onnx"))
    assert sorted(res.files) == ["README.md", "model.json", "model.onnx", "vocab.json"]
    assert res.check.what == "onnxruntime" and res.check.ok

    run = load(runs[kind])
    meta = json.loads((tmp_path / "o" / "model.json").read_text(encoding="utf-8"))
    assert meta["state"] == (["h", "c"] if kind == "lstm" else ["h"])
    vocab = Vocab.from_json((tmp_path / "o" / "vocab.json").read_text(encoding="utf-8"))
    assert vocab == run.vocab
    sess = _ort(tmp_path / "o" / "model.onnx")
    ids = vocab.encode(TEXT[37:237]).astype(np.int64)  # 200 characters of the training text
    assert len(ids) == 200
    feeds = {n: np.zeros((2, 1, 32), np.float32) for n in meta["state"]}
    state, worst = run.model.init_state(1), 0.0
    with torch.no_grad():
        for i in ids:
            want, state = run.model.step(torch.tensor([int(i)]), state)
            logits, *new = sess.run(None, {"ids": np.array([i]), **feeds})
            feeds = dict(zip(meta["state"], new, strict=True))
            worst = max(worst, float(np.abs(logits - want.numpy()).max()))
    assert worst < 1e-4
    # the state the graph carried is PyTorch's
    for name, s in zip(meta["state"], state, strict=True):
        np.testing.assert_allclose(feeds[name], s.numpy(), atol=1e-5)


def test_onnx_batch_size_is_free(runs, tmp_path):
    export_run(runs["lstm"], ExportOptions(to=str(tmp_path / "o"), format="onnx", check=False))
    run = load(runs["lstm"])
    sess = _ort(tmp_path / "o" / "model.onnx")
    ids = np.array([1, 5, 9], np.int64)
    h, c = run.model.init_state(3)
    h, c = h + 0.1, c - 0.2  # a state that is not zeros, different per layer
    out = sess.run(None, {"ids": ids, "h": h.numpy(), "c": c.numpy()})
    with torch.no_grad():
        want, (h2, c2) = run.model.step(torch.from_numpy(ids), (h, c))
    assert out[0].shape == (3, run.vocab.size)
    np.testing.assert_allclose(out[0], want.numpy(), atol=1e-5)
    np.testing.assert_allclose(out[2], c2.numpy(), atol=1e-5)


# -- the command and its errors ---------------------------------------------------------------
def test_cli_export_reports_and_guards_the_folder(runs, tmp_path, capsys):
    to = tmp_path / "out"
    assert main(["export", str(runs["rnn"]), "--to", str(to), "--format", "hf"]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "from_pretrained's logits within" in out
    assert main(["export", str(runs["rnn"]), "--to", str(to), "--format", "hf"]) == 2
    err = capsys.readouterr().err.strip()
    assert "not empty" in err and "--force" in err and len(err.splitlines()) == 1
    assert main(["export", str(runs["rnn"]), "--to", str(to), "--format", "hf", "--force"]) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--format", "hf"], "export needs --to"),
        (["--to", "X"], "export needs --format"),
        (["--to", "X", "--format", "gguf"], "unknown --format 'gguf'"),
    ],
)
def test_cli_export_option_errors(runs, tmp_path, capsys, args, message):
    args = [a.replace("X", str(tmp_path / "x")) for a in args]
    assert main(["export", str(runs["gru"]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("fmt", ["hf", "onnx", "web"])
def test_an_ngram_run_is_refused_in_one_line(tmp_path, capsys, fmt):
    (tmp_path / "t.txt").write_text(TEXT, encoding="utf-8")
    ng = tmp_path / "ng"
    assert main(["ngram", str(tmp_path / "t.txt"), "--order", "3", "--out", str(ng)]) == 0
    capsys.readouterr()
    assert main(["export", str(ng), "--to", str(tmp_path / "x"), "--format", fmt]) == 2
    err = capsys.readouterr().err.strip()
    assert "n-gram run" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_web_export_without_onnxruntime_web_fails_before_writing(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    opts = ExportOptions(to=str(tmp_path / "w"), format="web", ort_web=str(tmp_path / "empty"))
    with pytest.raises(CharwiseError, match="no onnxruntime-web WebAssembly build"):
        export_run(runs["gru"], opts)
    assert not any((tmp_path / "w").iterdir())


def test_ort_web_is_found_in_the_npm_layout_and_renamed(tmp_path):
    dist = tmp_path / "node_modules" / "onnxruntime-web" / "dist"
    dist.mkdir(parents=True)
    for name in ortweb.FILES:
        (dist / name).write_text(f"// {name}")
    files = ortweb.find(dist.parent)
    copied = ortweb.copy_to(files, tmp_path / "ort")
    # served as .js: every static server sends it as JavaScript, which a module script needs
    assert copied == ["LICENSE", "ort-wasm-simd-threaded.wasm", "ort.wasm.bundle.min.js"]
    assert (tmp_path / "ort" / "ort.wasm.bundle.min.js").read_text() == "// ort.wasm.bundle.min.mjs"
    assert "MIT License" in (tmp_path / "ort" / "LICENSE").read_text()
    # the copy is itself a valid source (the vendored layout)
    assert ortweb.find(tmp_path / "ort").keys() == files.keys()


def test_card_of_a_run_without_validation(overfit_run, tmp_path, no_network):
    from huggingface_hub import ModelCard

    run_dir, _ = overfit_run  # trained on its whole text: no validation split, no loss
    export_run(run_dir, ExportOptions(to=str(tmp_path / "hf"), format="hf"))
    card = ModelCard.load(tmp_path / "hf" / "README.md")
    assert "validation_loss" not in card.data.to_dict() and not card.data.eval_results
    assert "not validated yet" in card.text
