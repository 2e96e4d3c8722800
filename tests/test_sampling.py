"""Sampling: greedy and near-zero temperature agree, the prime is honoured, lengths are exact,
top-k / top-p limits, seeds, batches of samples, --stop-at, unknown prime characters, and the
fast Stepper against the model's own step()."""

from __future__ import annotations

import pytest
import torch

import charwise
from charwise.config import ModelConfig
from charwise.data.vocab import Vocab
from charwise.errors import CharwiseError
from charwise.nn import stepper as stepper_mod
from charwise.nn.model import CharRNN
from charwise.runs.load import load
from charwise.use import sampling
from charwise.use.sampling import SampleOptions, Stepper, draw, filter_logits, generate

VOCAB = Vocab.from_text("abcdefgh ijklmnop\nqrstuvwxyz.,é")


def _random_model(kind="lstm", seed=0, layers=2):
    torch.manual_seed(seed)
    cfg = ModelConfig(vocab_size=VOCAB.size, kind=kind, layers=layers, hidden=16, embed=8)
    return CharRNN(cfg).eval()


def _gen(model, vocab=VOCAB, **kw):
    return generate(model, vocab, SampleOptions(**kw))


@pytest.fixture(scope="module")
def trained(overfit_run):
    run_dir, text = overfit_run
    return load(run_dir), text


def test_argmax_and_near_zero_temperature_agree(trained):
    run, text = trained
    greedy = _gen(run.model, run.vocab, prime="t", length=29, argmax=True)[0]
    cold = _gen(run.model, run.vocab, prime="t", length=29, temperature=1e-4, seed=5)[0]
    assert greedy == cold == text[1:]


@pytest.mark.parametrize("cut", [1, 5, 12])
def test_prime_is_honoured(trained, cut):
    run, text = trained
    out = _gen(run.model, run.vocab, prime=text[:cut], length=30 - cut, argmax=True)[0]
    assert out == text[cut:]  # the memorised continuation of exactly this prime


def test_library_shortcut(trained):
    run, text = trained
    assert charwise.sample(run, length=8, prime="the c", argmax=True) == text[5:13]
    many = charwise.sample(run, length=8, prime="the c", num_samples=3, top_k=1, seed=0)
    assert many == [text[5:13]] * 3


@pytest.mark.parametrize("length", [0, 1, 37])
def test_exact_length(length):
    texts = _gen(_random_model(), length=length, seed=1, num_samples=3)
    assert len(texts) == 3 and all(len(t) == length for t in texts)


def test_top_k_1_is_deterministic_and_equals_argmax():
    m = _random_model()
    greedy = _gen(m, length=40, argmax=True, prime="ab")[0]
    for seed in (0, 1, 2):
        assert _gen(m, length=40, top_k=1, temperature=2.0, seed=seed, prime="ab")[0] == greedy


def test_tiny_top_p_equals_argmax():
    m = _random_model()
    greedy = _gen(m, length=40, argmax=True)[0]
    assert _gen(m, length=40, top_p=1e-6, temperature=1.5, seed=3)[0] == greedy


def test_same_seed_same_sample():
    m = _random_model()
    a = _gen(m, length=60, seed=42, temperature=1.2, num_samples=2)
    assert a == _gen(m, length=60, seed=42, temperature=1.2, num_samples=2)
    assert a != _gen(m, length=60, seed=43, temperature=1.2, num_samples=2)


def test_num_samples_are_one_batch_of_different_streams():
    m = _random_model()
    texts = _gen(m, length=50, seed=0, temperature=1.5, num_samples=5)
    assert len(texts) == 5 and len(set(texts)) == 5 and all(len(t) == 50 for t in texts)
    # Stream 0 of a batch is not simply the single-sample stream re-used.
    assert texts[0] != _gen(m, length=50, seed=0, temperature=1.5)[0]


def test_streamed_pieces_add_up_to_the_returned_texts():
    got: dict[int, str] = {}
    texts = generate(
        _random_model(),
        VOCAB,
        SampleOptions(length=30, seed=0, num_samples=3),
        on_text=lambda s, piece: got.__setitem__(s, got.get(s, "") + piece),
    )
    assert [got.get(s, "") for s in range(3)] == texts


def test_stop_at_ends_the_sample_before_the_string(trained):
    run, text = trained
    streamed = []
    out = generate(
        run.model,
        run.vocab,
        SampleOptions(prime="the cat", length=25, argmax=True, stop_at="dog"),
        on_text=lambda s, piece: streamed.append(piece),
    )
    assert out == [" sat; the "]
    # What was streamed is what was returned: no part of the stop string leaks out.
    assert "".join(streamed) == out[0]
    # Not found: the full length.
    assert (
        _gen(run.model, run.vocab, prime="the", length=10, argmax=True, stop_at="tac")[0]
        == text[3:13]
    )


def test_unknown_prime_characters_are_named(trained):
    run, _ = trained
    with pytest.raises(CharwiseError) as e:
        _gen(run.model, run.vocab, prime="the Ωcat Z", length=5)
    msg = str(e.value)
    assert "'Ω'" in msg and "'Z'" in msg and "vocabulary" in msg


@pytest.mark.parametrize(
    "kw, msg",
    [
        ({"length": -1}, "^length must not be negative"),
        ({"temperature": 0}, "^temperature must be positive .use argmax"),
        ({"temperature": float("nan")}, "^temperature must be a number, not nan"),
        ({"temperature": float("nan"), "argmax": True}, "^temperature must be a number"),
        ({"top_k": 0}, "^top_k must be at least 1"),
        ({"top_p": 1.5}, r"^top_p must be in \(0, 1\]"),
        ({"num_samples": 0}, "^num_samples must be at least 1"),
        ({"stop_at": ""}, "^stop_at must not be empty"),
        ({"precision": "fp16"}, "^unknown precision 'fp16'"),
    ],
)
def test_bad_options_are_clear_errors(kw, msg):
    # The library names the fields; `charwise sample` words the same errors with its flags.
    with pytest.raises(CharwiseError, match=msg):
        SampleOptions(**kw)


def test_infinite_temperature_samples_uniformly():
    probs = filter_logits(torch.tensor([[5.0, -3.0, 0.0]]), float("inf"), None, None)
    assert torch.allclose(probs, torch.full((1, 3), 1 / 3))


@pytest.mark.parametrize(
    "typed, text",
    [
        (r"a\nb\tc", "a\nb\tc"),
        (r"t\\nh", r"t\nh"),  # an escaped backslash is one backslash
        (r"\x41\u00e9\u4e2d\U0001F600", "Aé中😀"),
        ("é中 typed directly", "é中 typed directly"),
        (r"\N{GREEK SMALL LETTER ALPHA}\101", "αA"),
        (r"\q stays", r"\q stays"),  # unknown escapes stay as typed, as in Python strings
    ],
)
def test_unescape_decodes_any_text(typed, text):
    from charwise.commands.sample import unescape

    assert unescape(typed, "--prime") == text


@pytest.mark.parametrize("typed", ["a\\", r"a\x", r"\x4g", r"\u12", r"\ud800", r"\N{NO SUCH}"])
def test_unescape_rejects_malformed_escapes(typed):
    from charwise.commands.sample import unescape

    with pytest.raises(CharwiseError, match="^--stop-at: bad escape"):
        unescape(typed, "--stop-at")


def test_filter_logits():
    logits = torch.tensor([[2.0, 1.0, 0.5, -1.0]])
    p = filter_logits(logits, 1.0, None, None)
    torch.testing.assert_close(p, torch.softmax(logits, -1))
    cold = filter_logits(logits, 0.5, None, None)
    torch.testing.assert_close(cold, torch.softmax(logits / 0.5, -1))
    k2 = filter_logits(logits, 1.0, 2, None)
    assert (k2[0, 2:] == 0).all() and torch.isclose(k2.sum(), torch.tensor(1.0))
    torch.testing.assert_close(k2[0, :2], torch.softmax(logits[0, :2], -1))
    # top-p: the smallest set whose mass reaches p.
    probs = p[0]
    need = int((probs.cumsum(0) < 0.8).sum()) + 1
    tp = filter_logits(logits, 1.0, None, 0.8)[0]
    assert int((tp > 0).sum()) == need
    torch.testing.assert_close(tp[:need], probs[:need] / probs[:need].sum())


@pytest.mark.parametrize("layers", [1, 2, 3])
@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_stepper_equals_model_step(kind, onednn, layers, monkeypatch):
    """Both layouts: row-major through oneDNN (fp32 on CPUs that have it, as here) and the
    feature-major one used everywhere else (forced by making oneDNN unavailable). Without
    oneDNN's fp32 path the first would test the second again: it skips, saying so."""
    if onednn and not stepper_mod.onednn_fp32(torch.device("cpu")):
        pytest.skip("this CPU has no oneDNN fp32 linear: the row-major layout cannot run here")
    if not onednn:
        monkeypatch.setattr(stepper_mod._OneDNNLinear, "make", staticmethod(lambda w, b: None))
    m = _random_model(kind, seed=4, layers=layers)
    stepper = Stepper(m)
    assert stepper.row_major == onednn
    g = torch.Generator().manual_seed(0)
    state = tuple(0.5 * torch.randn(s.shape, generator=g) for s in m.init_state(3))
    s_ref, s_fast = state, tuple(s.clone() for s in state)
    for _ in range(5):
        x = torch.randint(VOCAB.size, (3,), generator=g)
        with torch.no_grad():
            ref, s_ref = m.step(x, s_ref)
        fast, s_fast = stepper.step(x, s_fast)
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=0)
        for a, b in zip(s_fast, s_ref, strict=True):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_onednn_probe_falls_back_on_a_wrong_result(monkeypatch):
    """A oneDNN linear that disagrees with torch.addmm on the start-up probe is not used."""
    wrong = lambda self, x, sigmoid=False: torch.zeros(x.shape[0], self.b.shape[0])  # noqa: E731
    monkeypatch.setattr(stepper_mod._OneDNNLinear, "__call__", wrong)
    m = _random_model("lstm", seed=4)
    assert not Stepper(m).row_major
    x = torch.tensor([1, 2, 3])
    with torch.no_grad():
        ref, _ = m.step(x, m.init_state(3))
    torch.testing.assert_close(Stepper(m).step(x, m.init_state(3))[0], ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_bf16_stepper_tracks_the_model(kind):
    """bf16 matmuls with fp32 biases, cell states and head: close to the model, not equal."""
    m = _random_model(kind, seed=4)
    stepper = Stepper(m, torch.bfloat16)
    assert stepper.layers[1][0].dtype == torch.bfloat16
    g = torch.Generator().manual_seed(0)
    state = tuple(0.5 * torch.randn(s.shape, generator=g) for s in m.init_state(3))
    s_ref, s_fast = state, tuple(s.clone() for s in state)
    worst = 0.0
    for _ in range(20):
        x = torch.randint(VOCAB.size, (3,), generator=g)
        with torch.no_grad():
            ref, s_ref = m.step(x, s_ref)
        fast, s_fast = stepper.step(x, s_fast)
        assert fast.dtype == torch.float32 and all(s.dtype == torch.float32 for s in s_fast)
        worst = max(worst, float((fast - ref).abs().max()))
    assert 0 < worst < 0.05  # bf16 keeps ~3 significant digits; fp32 would be ~1e-7


def test_auto_precision_picks_bf16_only_on_native_hardware(monkeypatch):
    dev = torch.device("cpu")
    opts = lambda **kw: SampleOptions(length=1, **kw)  # noqa: E731
    monkeypatch.setattr(sampling, "bf16_native", lambda d: True)
    monkeypatch.setattr(sampling, "onednn_fp32", lambda d: True)
    # With oneDNN's fp32 path: fp32 for few streams, bf16 from BF16_MIN_STREAMS on.
    for n, want in (
        (1, torch.float32),
        (31, torch.float32),
        (32, torch.bfloat16),
        (64, torch.bfloat16),
    ):
        assert sampling.matmul_dtype(opts(num_samples=n), dev) == want
    assert sampling.matmul_dtype(opts(precision="fp32", num_samples=64), dev) == torch.float32
    assert sampling.matmul_dtype(opts(precision="bf16"), dev) == torch.bfloat16
    monkeypatch.setattr(sampling, "onednn_fp32", lambda d: False)
    assert sampling.matmul_dtype(opts(num_samples=1), dev) == torch.bfloat16
    monkeypatch.setattr(sampling, "bf16_native", lambda d: False)
    assert sampling.matmul_dtype(opts(num_samples=64), dev) == torch.float32
    assert sampling.matmul_dtype(opts(precision="bf16"), dev) == torch.bfloat16


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_bf16_and_fp32_samples_are_both_valid_and_seeded(kind):
    m = _random_model(kind)
    with torch.no_grad():  # sharper predictions than at initialisation, so inputs matter
        for p in m.parameters():
            p.mul_(3)
    a = _gen(m, length=30, num_samples=16, seed=3, precision="bf16")
    b = _gen(m, length=30, num_samples=16, seed=3, precision="bf16")
    c = _gen(m, length=30, num_samples=16, seed=3, precision="fp32")
    assert a == b and len(a) == 16 and all(len(t) == 30 for t in a + c)
    assert all(not VOCAB.unknown_chars(t) for t in a)
    assert a != c  # bf16 rounding moves some draws: the precision is really applied
    # fp32: the very draws of a plain loop over the model's own step() (fp32 throughout, the
    # same generator), from the newline the sampler starts at without a prime.
    assert c == _reference_samples(m, length=30, num_samples=16, seed=3)


def _reference_samples(model, length: int, num_samples: int, seed: int) -> list[str]:
    g = torch.Generator().manual_seed(seed)
    state = tuple(s.expand(-1, num_samples, -1).contiguous() for s in model.init_state(1))
    x = torch.full((num_samples,), int(VOCAB.encode("\n")[0]))
    cols = []
    with torch.no_grad():
        for _ in range(length):
            logits, state = model.step(x, state)
            x = draw(torch.softmax(logits.float(), -1), g)
            cols.append(x)
    return [VOCAB.decode(r) for r in torch.stack(cols, 1).tolist()]


def test_draw_follows_the_probabilities_and_never_draws_a_zero():
    g = torch.Generator().manual_seed(0)
    p = torch.tensor([0.0, 0.5, 0.0, 0.3, 0.2, 0.0])
    n = 40000
    ids = draw(p.expand(n, -1), g)
    counts = torch.bincount(ids, minlength=6).float() / n
    assert counts[[0, 2, 5]].sum() == 0
    torch.testing.assert_close(counts, p, atol=0.01, rtol=0)
    # Unnormalised rows, and a single possible character, whatever the uniform.
    assert (draw(torch.tensor([[0.0, 0.0, 7.0]]).expand(1000, -1), g) == 2).all()
    assert (draw(torch.tensor([[3.0, 0.0, 0.0]]).expand(1000, -1), g) == 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_sampling_on_cuda(kind):
    """The sampler on a GPU model: without a prime and without a newline in the vocabulary (the
    start character is drawn on the CUDA generator), with a prime, seeded, in both precisions."""
    vocab = Vocab.from_text("abcdefgh ijk")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=vocab.size, kind=kind, layers=2, hidden=16, embed=8)
    m = CharRNN(cfg).cuda().eval()
    for precision in ("fp32", "bf16"):
        a = _gen(m, vocab, length=20, num_samples=4, seed=5, precision=precision)
        assert a == _gen(m, vocab, length=20, num_samples=4, seed=5, precision=precision)
        assert len(a) == 4 and all(len(t) == 20 and set(t) <= set("abcdefgh ijk") for t in a)
    assert len(_gen(m, vocab, length=7, prime="abc ", seed=1)[0]) == 7
    x = torch.tensor([1, 2, 3], device="cuda")
    state = m.init_state(3)
    with torch.no_grad():
        ref, _ = m.step(x, state)
    fast, _ = Stepper(m).step(x, state)
    torch.testing.assert_close(fast, ref, atol=1e-4, rtol=0)
