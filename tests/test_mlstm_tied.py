"""The multiplicative LSTM (`multiplicative`, nn/variants.py) and the tied output layer
(`tie_embedding`, nn/head.py): the mLSTM's step against its formula, the tied matrix being the
embedding's own tensor (after a copy too) and saved once, fewer parameters, refused
combinations, a tiny overfit with save / load / sampling / inspection / export, and the
command line. forward == step for both: test_variants.py."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from charwise.cli import main
from charwise.config import ModelConfig
from charwise.errors import CharwiseError
from charwise.nn.model import CharRNN
from charwise.reference.bridge import lstm_params_from_torch
from charwise.runs.load import load
from conftest import check_memorised

V, H, E = 11, 16, 6


def _model(**kw) -> CharRNN:
    torch.manual_seed(0)
    kw = {"vocab_size": V, "layers": 1, "hidden": H, "embed": E, **kw}
    return CharRNN(ModelConfig(**kw)).eval()


def test_an_mlstm_step_is_krauses_formula():
    """m = (W_mx x) * (W_mh h); the LSTM's gates read m where a plain LSTM reads h."""
    m = _model(kind="lstm", multiplicative=True)
    ex = m.extras[0]
    assert set(dict(ex.named_parameters())) == {"mul_x", "mul_h"}
    w_ih, w_hh, b_ih, b_hh = m.layer_weights(0)
    g = torch.Generator().manual_seed(3)
    x_id = torch.tensor([2, 7])
    h, c = torch.randn(2, H, generator=g), torch.randn(2, H, generator=g)
    with torch.no_grad():
        x = m.embed(x_id)
        mm = (x @ ex.mul_x.t()) * (h @ ex.mul_h.t())
        i, f, gg, o = (x @ w_ih.t() + b_ih + mm @ w_hh.t() + b_hh).chunk(4, dim=1)
        c_want = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h_want = torch.sigmoid(o) * torch.tanh(c_want)
        logits, (h1, c1) = m.step(x_id, (h[None], c[None]))
    torch.testing.assert_close(c1[0], c_want, atol=1e-6, rtol=0)
    torch.testing.assert_close(h1[0], h_want, atol=1e-6, rtol=0)
    torch.testing.assert_close(logits, m.head(h_want), atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["gru", "lstm", "rnn"])
def test_the_tied_head_is_the_embedding_tensor_saved_once(kind):
    m = _model(kind=kind, tie_embedding=True)
    assert m.head.weight is m.embed.weight
    sd = m.state_dict()
    assert "head.weight" not in sd and {"embed.weight", "head.proj.weight", "head.bias"} <= set(sd)
    c = copy.deepcopy(m)  # EMA and dynamic evaluation copy the model: the copy ties to its own
    assert c.head.weight is c.embed.weight and c.head.weight is not m.embed.weight
    # Gradients from the output layer reach the embedding (one tensor, two uses).
    x = torch.randint(V, (2, 5))
    m.train()(x)[0].sum().backward()
    assert m.embed.weight.grad is not None and m.head.proj.weight.grad is not None


def test_tying_saves_the_output_matrix():
    """Untied: head (V, H) + bias. Tied: projection (E, H) + bias; none when E == H."""
    plain, tied = _model(), _model(tie_embedding=True)
    assert plain.num_params - tied.num_params == (V - E) * H
    wide, wide_tied = _model(embed=H), _model(embed=H, tie_embedding=True)
    assert wide_tied.head.proj is None
    assert wide.num_params - wide_tied.num_params == V * H
    assert _model(kind="lstm", multiplicative=True).num_params == _model(
        kind="lstm"
    ).num_params + H * (E + H)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"kind": "gru", "multiplicative": True}, "LSTM variant"),
        ({"kind": "transformer", "tie_embedding": True}, "RNN settings"),
        ({"kind": "transformer", "multiplicative": True}, "RNN settings"),
    ],
)
def test_invalid_combinations_are_refused(settings, words):
    with pytest.raises(CharwiseError, match=words):
        ModelConfig(vocab_size=5, **settings)


def test_the_reference_bridge_refuses_a_tied_model():
    with pytest.raises(CharwiseError, match="tied"):
        lstm_params_from_torch(_model(kind="lstm", tie_embedding=True))


@pytest.fixture(scope="module")
def mlstm_tied_run(tmp_path_factory):
    """A tied mLSTM that has memorised a 30-character text, trained through the lifecycle."""
    from conftest import train_overfit

    model = {"kind": "lstm", "multiplicative": True, "tie_embedding": True}
    return train_overfit(tmp_path_factory.mktemp("mlstm"), model=model, max_steps=150)


def test_a_tied_mlstm_overfits_and_round_trips_through_its_run(mlstm_tied_run, tmp_path):
    run_dir, text = mlstm_tied_run
    log = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if r["event"] == "train"]
    assert losses[0] > 2.0 and losses[-1] < 0.1
    run = load(run_dir)
    assert run.model.cfg.multiplicative and run.model.cfg.tie_embedding
    assert run.model.head.weight is run.model.embed.weight  # tied again after loading
    assert "mLSTM" in run.describe()["headline"] and "tied" in run.describe()["headline"]
    rec = check_memorised(run, text)
    assert set(rec.acts) >= {"h", "c", "input", "forget"}
    assert rec.bits_per_char() < 0.5


def test_a_tied_mlstm_exports_to_onnx(mlstm_tied_run, tmp_path, capsys):
    """The export checks itself: the graph's logits within 1e-4 of the run's."""
    pytest.importorskip("onnxruntime")
    run_dir, _ = mlstm_tied_run
    assert main(["export", str(run_dir), "--format", "onnx", "--to", str(tmp_path / "ox")]) == 0
    assert "checked" in capsys.readouterr().out


def test_the_command_line_trains_samples_and_refuses(tmp_path, short_text, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "--multiplicative" in help_text and "--tie-embedding" in help_text
    tiny = ["--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "8"]
    tiny += ["--max-steps", "3", "--device", "cpu", "--quiet"]
    out = tmp_path / "run"
    flags = ["--model", "lstm", "--multiplicative", "--tie-embedding"]
    assert main(["train", str(short_text), "--out", str(out), *flags, *tiny]) == 0
    cfg = json.loads((out / "config.json").read_text())["model"]
    assert cfg["multiplicative"] is True and cfg["tie_embedding"] is True
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "20", "--seed", "1"]) == 0
    assert main(["info", str(out)]) == 0
    assert "mLSTM" in capsys.readouterr().out
    bad = tmp_path / "bad"
    assert main(["train", str(short_text), "--out", str(bad), "--multiplicative", *tiny]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("charwise: error: ") and "--model lstm" in err[0]
    assert not bad.exists()
