"""The numpy references: gradients against finite differences, values and gradients against the
PyTorch CharRNN on the same weights, and that both learn a tiny text."""

from __future__ import annotations

import numpy as np
import pytest

from charwise.cli import main
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.reference import lstm, rnn
from charwise.reference.check import gradient_checks, torch_agreement
from charwise.reference.gradcheck import grad_check


def test_gradient_checks_pass():
    checks = gradient_checks(seed=1)
    names = {c.name for c in checks}
    assert {
        "gradcheck rnn Whh",
        "gradcheck lstm W0",
        "gradcheck lstm W1",
        "gradcheck lstm embed",
    } <= names
    bad = [(c.name, c.error) for c in checks if not c.ok]
    assert not bad


def test_gradient_check_catches_a_wrong_gradient():
    rng = np.random.default_rng(0)
    p = lstm.init_params(5, 3, 4, 1, rng)
    x, y = rng.integers(0, 5, (2, 4)), rng.integers(0, 5, (2, 4))
    _, g, _ = lstm.loss_and_grads(p, x, y)
    g["W0"] = g["W0"] * 1.01  # a 1% error must show
    worst = grad_check(lambda: lstm.loss_and_grads(p, x, y)[0], p, g, rng=rng)
    assert worst["W0"] > 1e-3 and worst["head_w"] < 1e-6


@pytest.mark.parametrize("kind,layers", [("rnn", 1), ("lstm", 1), ("lstm", 3)])
def test_numpy_equals_pytorch_on_the_same_weights(kind, layers):
    checks = torch_agreement(kind, layers, seed=2)
    assert any("d embed.weight" in c.name for c in checks)
    assert any(f"rnn.weight_hh_l{layers - 1}" in c.name for c in checks)
    bad = [(c.name, c.error) for c in checks if not c.ok]
    assert not bad


def test_lstm_state_carries_across_windows():
    rng = np.random.default_rng(0)
    p = lstm.init_params(6, 4, 5, 2, rng)
    x = rng.integers(0, 6, (2, 10))
    whole, _, _ = lstm.forward(p, x)
    a, state, _ = lstm.forward(p, x[:, :4])
    b, _, _ = lstm.forward(p, x[:, 4:], state)
    np.testing.assert_allclose(np.concatenate([a, b], axis=1), whole, atol=1e-12)


def test_min_char_rnn_learns_a_tiny_text():
    text = "hello world. " * 20
    vocab = Vocab.from_text(text)
    cfg = rnn.RNNTrainConfig(hidden=32, seq_len=12, steps=600, sample_every=300, sample_length=26)
    reports = list(rnn.RNNTrainer(vocab.encode(text), vocab.size, cfg).run())
    assert [r.step for r in reports] == [300, 600]
    # per-window loss (12 characters) starts at 12 ln V and must fall far below it
    assert reports[-1].smooth_loss < reports[0].smooth_loss < 12 * np.log(vocab.size)
    p = rnn.RNNTrainer(vocab.encode(text), vocab.size, cfg)
    for _ in p.run():
        pass
    losses = [
        rnn.loss_and_grads(
            p.params, list(vocab.encode(text[:12])), list(vocab.encode(text[1:13])), np.zeros(32)
        )[0]
    ]
    assert losses[0] / 12 < 0.5  # nats per character on the memorised text


def test_numpy_lstm_learns_a_tiny_text():
    text = "abcabd" * 60
    vocab = Vocab.from_text(text)
    cfg = lstm.LSTMTrainConfig(
        hidden=16, embed=4, batch_size=4, seq_len=10, lr=1e-2, steps=150, sample_every=50
    )
    reports = list(lstm.LSTMTrainer(vocab.encode(text), vocab.size, cfg).run())
    assert reports[0].smooth_loss > reports[-1].smooth_loss
    assert reports[-1].smooth_loss < 0.5  # 'c' and 'd' after 'ab' are the only doubt (ln 2 / 3)


def test_trainers_reject_texts_too_short():
    with pytest.raises(CharwiseError, match="too short to train on: it needs at least 2 char"):
        rnn.RNNTrainer(np.array([1]), 2, rnn.RNNTrainConfig())
    with pytest.raises(CharwiseError, match="batch_size 16: 16 streams need at least 32 char"):
        lstm.LSTMTrainer(np.arange(10) % 3, 3, lstm.LSTMTrainConfig(batch_size=16))


def test_cli_reference(tmp_path, capsys):
    f = tmp_path / "t.txt"
    f.write_text("to be or not to be, that is the question. " * 10, encoding="utf-8")
    assert (
        main(
            [
                "reference",
                "rnn",
                str(f),
                "--steps",
                "40",
                "--sample-every",
                "20",
                "--hidden",
                "16",
                "--sample-length",
                "30",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "iter 20, loss" in out and "iter 40, loss" in out
    assert (
        main(
            [
                "reference",
                "lstm",
                str(f),
                "--steps",
                "4",
                "--sample-every",
                "2",
                "--hidden",
                "8",
                "--batch-size",
                "2",
            ]
        )
        == 0
    )
    assert "iter 4, loss" in capsys.readouterr().out
    assert main(["reference", "check"]) == 0
    assert "checks passed" in capsys.readouterr().out
    assert main(["reference", "rnn", str(tmp_path / "missing.txt")]) == 2


BAD_OPTIONS = [
    *[
        (which, opt, value)
        for which in ("rnn", "lstm")
        for opt, value in [
            ("--steps", "0"),
            ("--steps", "-1"),
            ("--seq-len", "0"),
            ("--seq-len", "5000"),  # longer than the text
            ("--hidden", "0"),
            ("--lr", "0"),
            ("--lr", "-1"),
            ("--lr", "nan"),
            ("--lr", "inf"),
            ("--temperature", "0"),
            ("--temperature", "-1"),
            ("--temperature", "nan"),
            ("--sample-every", "0"),
            ("--sample-length", "-5"),
            ("--seed", "-1"),
        ]
    ],
    ("lstm", "--batch-size", "0"),
    ("lstm", "--batch-size", "1000"),  # more streams than the text can fill
    ("lstm", "--layers", "0"),
    ("lstm", "--embed", "0"),
]


@pytest.fixture(scope="module")
def small_text(tmp_path_factory):
    f = tmp_path_factory.mktemp("reference") / "t.txt"
    f.write_text("to be or not to be, that is the question. " * 10, encoding="utf-8")  # 420 chars
    return f


@pytest.mark.parametrize("which,opt,value", BAD_OPTIONS)
def test_cli_reference_rejects_bad_options(which, opt, value, small_text, capsys):
    # --steps 1 so that an option that slipped through fails fast (or trains one step and exits 0)
    argv = ["reference", which, str(small_text), "--steps", "1", opt, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("charwise: error: ") and err.count("\n") == 1, err
    assert opt in err and "Traceback" not in err


def test_cli_reference_seq_len_default_fits_a_small_text(tmp_path, capsys):
    # the default --seq-len (25) is longer than this text: it shrinks instead of failing
    f = tmp_path / "t.txt"
    f.write_text("abcdefghij", encoding="utf-8")
    assert main(["reference", "rnn", str(f), "--steps", "2", "--sample-length", "0"]) == 0
    out = capsys.readouterr().out
    assert "iter 2, loss" in out and "----" not in out  # --sample-length 0: the loss only
