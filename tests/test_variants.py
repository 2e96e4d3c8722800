"""Cell variants without a fused kernel (nn/variants.py): layer normalisation (`layer_norm`), the
Mogrifier (`mogrify`) and the mLSTM (`multiplicative`), and the tied output layer
(`tie_embedding`, nn/head.py): shapes, one step equals the window forward, the Mogrifier with its
gates at 1 is the plain cell, training / save / load / sampling / eval / inspect through a run,
a tiny overfit, and the command line."""

from __future__ import annotations

import json

import pytest
import torch

from charwise.cli import main
from charwise.config import ModelConfig
from charwise.nn.model import CharRNN
from charwise.nn.stepper import ModelRunner, Stepper
from charwise.runs.load import load
from conftest import check_memorised

V, L, H, E, B, T = 11, 2, 16, 6, 3, 7
KINDS = ["gru", "lstm", "rnn"]
VARIANTS = {
    "ln": {"layer_norm": True},
    "mog": {"mogrify": 3, "mogrify_rank": 4},
    "ln+mog-full": {"layer_norm": True, "mogrify": 2, "mogrify_rank": 0},
}
# LSTM only: the multiplicative LSTM alone and with the others.
MLSTM = {
    "mlstm": {"multiplicative": True},
    "ln+mog+mlstm": {"layer_norm": True, "mogrify": 2, "mogrify_rank": 4, "multiplicative": True},
}


def _model(kind: str, **kw) -> CharRNN:
    torch.manual_seed(0)
    return CharRNN(ModelConfig(vocab_size=V, kind=kind, layers=L, hidden=H, embed=E, **kw)).eval()


def _random_state(m: CharRNN, batch: int):
    g = torch.Generator().manual_seed(1)
    return tuple(0.5 * torch.randn(s.shape, generator=g) for s in m.init_state(batch))


CASES = [(k, v, VARIANTS[v]) for k in KINDS for v in VARIANTS]
CASES += [("lstm", v, kw) for v, kw in MLSTM.items()]
# The tied head on a fused cell (written_out False: the sampler's snapshot folds E @ P), with
# a written-out cell, and with embed == hidden (no projection).
CASES += [(k, "tied", {"tie_embedding": True}) for k in KINDS]
CASES += [("lstm", "tied+mlstm", {"tie_embedding": True, "multiplicative": True})]
CASES += [("gru", "tied-wide", {"tie_embedding": True, "embed": H})]


@pytest.mark.parametrize(
    ("kind", "variant", "settings"), CASES, ids=[f"{k}-{v}" for k, v, _ in CASES]
)
def test_shapes_and_one_step_equals_the_window(kind, variant, settings):
    """forward (training's path) and step (sampling's) give the same logits and states, and
    so does the sampler's snapshot (Stepper), fused layout or ModelRunner."""
    settings = {"embed": E, **settings}
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=V, kind=kind, layers=L, hidden=H, **settings)
    m = CharRNN(cfg).eval()
    assert m.written_out == any(k in settings for k in ("layer_norm", "mogrify", "multiplicative"))
    x = torch.randint(V, (B, T))
    state0 = _random_state(m, B)
    with torch.no_grad():
        ref, ref_state, hidden = m(x, state0, return_hidden=True)
        state, outs = state0, []
        for t in range(T):
            logits, state = m.step(x[:, t], state)
            outs.append(logits)
        stepper, snap_state, snap = Stepper(m), state0, []
        for t in range(T):
            logits, snap_state = stepper.step(x[:, t], snap_state)
            snap.append(logits)
    torch.testing.assert_close(torch.stack(snap, 1), ref, atol=1e-5, rtol=0)
    assert ref.shape == (B, T, V) and hidden.shape == (B, T, H)
    assert len(ref_state) == (2 if kind == "lstm" else 1)
    assert all(s.shape == (L, B, H) for s in ref_state)
    torch.testing.assert_close(torch.stack(outs, 1), ref, atol=1e-5, rtol=0)
    for a, b in zip(state, ref_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_a_default_model_has_no_extras_so_its_checkpoint_is_unchanged():
    plain, ln = _model("gru"), _model("gru", layer_norm=True)
    assert not plain.written_out and not hasattr(plain, "extras")
    extra = set(ln.state_dict()) - set(plain.state_dict())
    assert set(plain.state_dict()) <= set(ln.state_dict())
    assert extra == {f"extras.{k}.{n}" for k in range(L) for n in ("ln_ih", "ln_hh")}


@pytest.mark.parametrize("kind", KINDS)
def test_a_mogrifier_whose_gates_are_one_is_the_plain_fused_cell(kind):
    """With Q = R = 0 every gate is 2 sigmoid(0) = 1: the written-out path must then compute
    exactly what nn.GRU / nn.LSTM / nn.RNN compute with the same weights."""
    mog, plain = _model(kind, mogrify=3, mogrify_rank=4), _model(kind)
    plain.load_state_dict({k: v for k, v in mog.state_dict().items() if "extras" not in k})
    with torch.no_grad():
        for name, p in mog.extras.named_parameters():
            if name.split(".")[-1].startswith("mog_a"):
                p.zero_()
    x = torch.randint(V, (B, T))
    state0 = _random_state(mog, B)
    with torch.no_grad():
        got, got_state = mog(x, state0)
        want, want_state = plain(x, state0)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    for a, b in zip(got_state, want_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_layer_norm_makes_the_gates_scale_free():
    """LN normalises W_hh h per gate block: scaling a layer's W_hh leaves the output the same
    (the property that steadies training), which a plain GRU does not have."""
    m = _model("gru", layer_norm=True)
    x = torch.randint(V, (B, T))
    state0 = _random_state(m, B)
    with torch.no_grad():
        ref, _ = m(x, state0)
        m.rnn.weight_hh_l1.mul_(7.0)
        got, _ = m(x, state0)
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=0)


def test_a_mogrifier_gru_stays_bounded_over_a_long_text():
    """The GRU carries the h it was given, not the mogrified one (up to 2 h a step): over a long
    text h stays within the GRU's [-1, 1]."""
    m = _model("gru", mogrify=4, mogrify_rank=4)
    with torch.no_grad():
        for p in m.extras.parameters():
            p.mul_(5.0)  # strong gating
        _, state = m(torch.randint(V, (2, 400)))
    assert state[0].abs().max() <= 1.0


@pytest.mark.parametrize("variant", list(VARIANTS) + list(MLSTM))
def test_training_mode_with_dropout_reaches_every_extra_parameter(variant):
    torch.manual_seed(0)
    cfg = ModelConfig(
        vocab_size=V, kind="lstm", layers=L, hidden=H, embed=E, dropout=0.3, embed_dropout=0.1,
        weight_drop=0.2, **{**VARIANTS, **MLSTM}[variant],
    )  # fmt: skip
    m = CharRNN(cfg).train()
    x = torch.randint(V, (B, T))
    logits, _ = m(x)
    logits.sum().backward()
    for name, p in m.extras.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_the_stepper_of_a_variant_steps_the_model_itself():
    m = _model("gru", layer_norm=True)
    state = _random_state(m, B)
    r = Stepper(m, torch.bfloat16).runner(state)
    assert isinstance(r, ModelRunner)
    x = torch.randint(V, (B,))
    with torch.no_grad():
        want, want_state = m.step(x, state)
    torch.testing.assert_close(r.advance(x), want)
    torch.testing.assert_close(r.state()[0], want_state[0])
    assert not isinstance(Stepper(_model("gru")).runner(state), ModelRunner)
    got, _ = Stepper(m).step(x, state)
    torch.testing.assert_close(got, want)


@pytest.fixture(scope="module")
def ln_run(tmp_path_factory):
    """An LN-GRU that has memorised a 30-character text, trained through the lifecycle."""
    from conftest import train_overfit

    model = {"kind": "gru", "layer_norm": True, "mogrify": 2, "mogrify_rank": 8}
    return train_overfit(tmp_path_factory.mktemp("ln"), model=model, max_steps=150)


def test_a_variant_overfits_a_tiny_text_and_round_trips_through_its_run(ln_run):
    run_dir, text = ln_run
    log = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if r["event"] == "train"]
    assert losses[0] > 2.0 and losses[-1] < 0.1
    run = load(run_dir)
    assert run.model.cfg.layer_norm and run.model.cfg.mogrify == 2
    assert "LN-GRU" in run.describe()["headline"]
    # Save / load: the loaded model scores the text near-perfectly, sampling (the fallback
    # runner) continues it, and inspection runs the variant's own cells and sees its gates.
    rec = check_memorised(run, text)
    assert set(rec.acts) >= {"h", "reset", "update", "new"}


def test_the_command_line_trains_a_layer_norm_model(tmp_path, short_text, capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "--layer-norm" in help_text and "--mogrify" in help_text
    out = tmp_path / "run"
    args = [str(short_text), "--out", str(out), "--layer-norm", "--mogrify", "2"]
    tiny = ["--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-len", "8"]
    rc = main(["train", *args, *tiny, "--max-steps", "3", "--device", "cpu", "--quiet"])
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())["model"]
    assert cfg["layer_norm"] is True and cfg["mogrify"] == 2
    capsys.readouterr()
    assert main(["sample", str(out), "-n", "20", "--seed", "1"]) == 0
    assert main(["info", str(out)]) == 0
    assert "Mogrifier LN-GRU" in capsys.readouterr().out


def test_a_variant_exports_and_its_card_names_the_cell(ln_run, tmp_path, capsys):
    """The exports check themselves (logits within 1e-4 of the run's); the variant goes through
    step_unchecked, so ONNX traces its cells, and the model card names the cell."""
    pytest.importorskip("huggingface_hub")
    run_dir, _ = ln_run
    assert main(["export", str(run_dir), "--format", "hf", "--to", str(tmp_path / "hf")]) == 0
    card = (tmp_path / "hf" / "README.md").read_text(encoding="utf-8")
    assert "Mogrifier LN-GRU (2 rounds)" in card
    pytest.importorskip("onnxruntime")
    assert main(["export", str(run_dir), "--format", "onnx", "--to", str(tmp_path / "ox")]) == 0
    assert "checked" in capsys.readouterr().out


def test_the_web_page_names_the_variant_cell(ln_run):
    import warnings

    from charwise.web import create_app

    with warnings.catch_warnings():  # starlette 1.x suggests httpx2; httpx works the same here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    (info,) = TestClient(create_app([ln_run[0]])).get("/api/runs").json()["runs"]
    assert info["kind"] == "gru" and info["cell"] == "Mogrifier LN-GRU (2 rounds)"
