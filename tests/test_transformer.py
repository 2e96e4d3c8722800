"""The transformer (`--model transformer`): it learns, it is causal, its sliding-window score
equals direct scoring where the text fits one window, its key/value cache computes what the
full forward does, its run directory round-trips, resumes exactly, and every command either
works on it or says clearly why not."""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import charwise
from charwise.cli import main
from charwise.config import DataConfig, ModelConfig
from charwise.data.batches import WindowBatcher
from charwise.errors import CharwiseError
from charwise.experiments.compare import CompareConfig, compare
from charwise.nn.transformer import CharTransformer
from charwise.training.lifecycle import resume, train
from charwise.use.windowed import CachedRunner, windowed_loss, windows
from conftest import OVERFIT_TEXT, tiny_config

TINY_TF = {"kind": "transformer", "layers": 2, "hidden": 32, "heads": 4, "block": 16}


def tiny_model(**kw) -> CharTransformer:
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=11, **{**TINY_TF, "dropout": 0.0, **kw})
    return CharTransformer(cfg).eval()


def tf_config(src, **train):
    return tiny_config([src], model={**TINY_TF, "dropout": 0.0}, **train)


# -- the configuration ---------------------------------------------------------------------------
def test_sizes_default_by_kind():
    rnn, tf = ModelConfig(vocab_size=5), ModelConfig(vocab_size=5, kind="transformer")
    assert (rnn.layers, rnn.hidden, rnn.dropout) == (2, 512, 0.25)
    assert (tf.layers, tf.hidden, tf.dropout, tf.heads, tf.block) == (4, 256, 0.0, 4, 256)
    assert ModelConfig(vocab_size=5, kind="transformer", layers=2).layers == 2
    assert tf.positions == "rope"
    with pytest.raises(CharwiseError, match="hidden 30 must be a multiple of heads 4"):
        ModelConfig(vocab_size=5, kind="transformer", hidden=30)
    with pytest.raises(CharwiseError, match="RNN settings"):
        ModelConfig(vocab_size=5, kind="transformer", weight_drop=0.1)
    assert tf.attn_dropout == 0.0
    with pytest.raises(CharwiseError, match="attn_dropout is a transformer setting"):
        ModelConfig(vocab_size=5, attn_dropout=0.1)


# -- the network ---------------------------------------------------------------------------------
@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_causal_a_later_character_changes_no_earlier_logit(positions):
    m = tiny_model(positions=positions)
    x = torch.randint(0, 11, (2, 16))
    y = x.clone()
    y[:, 9] = (y[:, 9] + 1) % 11
    with torch.no_grad():
        a, _ = m(x)
        b, _ = m(y)
    assert torch.equal(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_attention_dropout_draws_only_in_training():
    # dropout 0 everywhere else, so any randomness comes from the attention probabilities.
    x = torch.randint(0, 11, (2, 16))
    plain, dropped = tiny_model().train(), tiny_model(attn_dropout=0.5).train()
    assert torch.equal(plain(x)[0], plain(x)[0])
    torch.manual_seed(1)
    a = dropped(x)[0]
    assert not torch.allclose(a, dropped(x)[0])
    torch.manual_seed(1)
    assert torch.equal(a, dropped(x)[0])  # the same draw for the same seed
    dropped.eval()
    with torch.no_grad():
        assert torch.equal(dropped(x)[0], tiny_model()(x)[0])  # same weights, no draw in eval


def test_a_window_longer_than_the_context_is_a_clear_error():
    with pytest.raises(CharwiseError, match="longer than the model's context of 16"):
        tiny_model()(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_cache_computes_what_the_forward_does(positions):
    m = tiny_model(positions=positions)
    ids = torch.randint(0, 11, (3, 16))
    with torch.no_grad():
        full, _ = m(ids)
        cache = m.new_cache(3)
        got = [m.prefill(ids[:, :5], cache)]
        got += [m.decode(ids[:, t], cache, t) for t in range(5, 16)]
    torch.testing.assert_close(torch.stack(got, 1), full[:, 4:], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_the_cached_runner_rolls_past_the_context(positions):
    """Past `block` characters the runner re-reads the last block / 2 from position 0: its
    logits are those of a forward over exactly that window."""
    m = tiny_model(positions=positions)
    seq = torch.randint(0, 11, (40,)).tolist()
    runner = CachedRunner(m, seq[:3], 1)
    with torch.no_grad():
        for t in range(3, 40):
            got = runner.advance(torch.tensor([seq[t]]))
            past = seq[: t + 1]
            n = len(past)
            # The context the runner holds: all of it until the cache fills, then what was
            # re-read at the last roll (block / 2) plus the characters decoded since (8..16).
            ctx = n if n <= 16 else 8 + (n - 17) % 9
            want, _ = m(torch.tensor([past[-ctx:]]))
            torch.testing.assert_close(got, want[:, -1], atol=1e-5, rtol=1e-5)


# -- evaluation ----------------------------------------------------------------------------------
@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_the_cached_runner_keeps_and_reorders_rows_for_beam_search(positions):
    """keep(rows) reorders (and duplicates) the streams: afterwards each row continues the
    stream it was taken from, past a roll of the cache too."""
    m = tiny_model(positions=positions)
    a, b = torch.randint(0, 11, (2, 30)).tolist()
    runner = CachedRunner(m, [1, 2], 2)
    with torch.no_grad():
        for t in range(5):
            runner.advance(torch.tensor([a[t], b[t]]))
        runner.keep(torch.tensor([1, 0, 1]))  # b, a, b
        for t in range(5, 30):
            got = runner.advance(torch.tensor([b[t], a[t], b[t]]))
        want = []
        for seq in (b, a, b):
            single = CachedRunner(m, [1, 2], 1)
            for t in range(30):
                out = single.advance(torch.tensor([seq[t]]))
            want.append(out[0])
    torch.testing.assert_close(got, torch.stack(want), atol=1e-5, rtol=1e-5)


def test_windows_score_every_target_once_with_half_a_block_of_context():
    for n in (1, 5, 16, 17, 40, 101):
        seen = []
        for a, first, e in windows(n, 16, 8):
            assert e - a == min(16, e) and a <= first - 1
            seen += range(first, e + 1)
            if first > 1:
                assert first - a >= 16 - 8  # target `first` is read after >= 8 characters
        assert seen == list(range(1, n + 1))


def test_windowed_loss_equals_direct_scoring_within_one_window():
    m = tiny_model()
    ids = np.random.default_rng(0).integers(0, 11, 17)  # 16 inputs: exactly one window
    with torch.no_grad():
        logits, _ = m(torch.from_numpy(ids[:-1])[None])
        direct = F.cross_entropy(logits[0], torch.from_numpy(ids[1:]), reduction="sum")
    total, n = windowed_loss(m, ids)
    assert n == 16
    assert total == pytest.approx(float(direct), rel=1e-6)


def test_windowed_loss_over_a_long_text_is_the_sum_of_its_windows():
    m = tiny_model()
    ids = np.random.default_rng(1).integers(0, 11, 61)
    want = 0.0
    with torch.no_grad():
        for a, first, e in windows(60, 16, 8):
            logits, _ = m(torch.from_numpy(ids[a:e])[None])
            nll = F.cross_entropy(logits[0], torch.from_numpy(ids[a + 1 : e + 1]), reduction="none")
            want += float(nll[first - 1 - a :].sum())
    total, n = windowed_loss(m, ids, batch=3)
    assert n == 60 and total == pytest.approx(want, rel=1e-6)


# -- batches -------------------------------------------------------------------------------------
def test_window_batches_are_reproducible_and_split_between_ranks():
    ids = np.arange(1000) % 97
    one = WindowBatcher(ids, chars_per_step=64, window=16, seed=3)
    assert (one.B, one.T, one.steps_per_epoch) == (4, 16, 1000 // 64)
    x, y = one.batch(5, epoch=2)
    assert torch.equal(x, one.batch(5, epoch=2)[0]) and not torch.equal(x, one.batch(6, 2)[0])
    assert torch.equal(y[:, :-1], x[:, 1:])
    halves = [WindowBatcher(ids, 64, 16, 3, rank=r, world=2).batch(5, 2)[0] for r in (0, 1)]
    assert torch.equal(torch.cat(halves), x)
    with pytest.raises(CharwiseError, match="too few for one window of 16"):
        WindowBatcher(ids[:16], 64, 16, 3)


# -- training, the run directory, resuming -------------------------------------------------------
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(
    "device, attn_dropout",
    [("cpu", 0.0), ("cpu", 0.1), pytest.param("cuda", 0.1, marks=CUDA)],
)
def test_overfits_a_tiny_text(tmp_path, device, attn_dropout):
    # On CUDA with attn_dropout the fused (flash) kernel draws the attention dropout itself.
    text = OVERFIT_TEXT * 4
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    cfg = tiny_config(
        [tmp_path / "t.txt"],
        model={**TINY_TF, "dropout": 0.0, "attn_dropout": attn_dropout},
        device=device,
        data={"split": (1.0, 0.0, 0.0)},
        batch_size=8,
        seq_len=16,
        lr=1e-2,
        warmup=10,
        schedule="constant",
        max_steps=120,
    )
    train(cfg, tmp_path / "run")
    run = charwise.load(tmp_path / "run")
    counts = np.array(list(Counter(text).values()), dtype=float)
    p = counts / counts.sum()
    unigram = float(-(p * np.log(p)).sum())  # ~2.6 nats/char
    loss = run.evaluate(run.vocab.encode(text)).nats_per_char
    assert loss < 0.2 * unigram, (loss, unigram)


@pytest.mark.parametrize("positions", ["learned", "rope"])
def test_the_run_directory_round_trips(tmp_path, short_text, positions):
    model = {**TINY_TF, "dropout": 0.0, "positions": positions}
    split = {"split": (0.8, 0.2, 0.0)}
    cfg = tiny_config([short_text], model=model, data=split, max_steps=6, eval_every=6)
    res = train(cfg, tmp_path / "run")
    best = charwise.load(tmp_path / "run")
    last = charwise.load(tmp_path / "run", weights="last")
    x = torch.from_numpy(best.split("val")[:16].astype(np.int64))[None]
    with torch.no_grad():
        assert torch.equal(best.model(x)[0], last.model(x)[0])
    # The trainer scored the validation split with its in-memory model; the loaded one agrees.
    assert best.evaluate(best.split("val")).nats_per_char == pytest.approx(res.best_val_loss)
    assert best.describe()["headline"].startswith("transformer 2 layers x 32 wide, 4 heads")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["block"] == 16


def test_resuming_reproduces_an_uninterrupted_run(tmp_path, short_text):
    # A constant rate: a cosine would anneal the 4-step run over its own 4 steps.
    model, fixed = {**TINY_TF, "dropout": 0.1}, {"schedule": "constant"}
    train(tiny_config([short_text], model=model, max_steps=10, **fixed), tmp_path / "straight")
    short = tiny_config([short_text], model=model, max_steps=4, **fixed)
    train(short, tmp_path / "resumed")
    resume(tmp_path / "resumed", overrides={"max_steps": 10})
    a = charwise.load(tmp_path / "straight", weights="last").model.state_dict()
    b = charwise.load(tmp_path / "resumed", weights="last").model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


# -- the commands --------------------------------------------------------------------------------
TF_FLAGS = ["--model", "transformer", "--layers", "1", "--hidden", "16", "--heads", "2"]
TF_FLAGS += ["--block", "16", "--batch-size", "4", "--seq-len", "16", "--device", "cpu"]


@pytest.fixture
def cli_run(tmp_path, short_text):
    run = tmp_path / "run"
    assert main(["train", str(short_text), "--out", str(run), *TF_FLAGS, "--max-steps", "8"]) == 0
    return run


def test_sample_eval_and_info_work_on_a_transformer_run(cli_run, short_text, capsys):
    capsys.readouterr()
    assert main(["sample", str(cli_run), "-n", "40", "--seed", "1", "--prime", "It was"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("It was") and len(out) >= 46
    assert main(["sample", str(cli_run), "-n", "30", "-m", "3", "--seed", "1"]) == 0
    assert main(["eval", str(cli_run), str(short_text), "--json"]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert math.isfinite(res["nats_per_char"]) and res["chars"] == len(short_text.read_text()) - 1
    assert main(["info", str(cli_run)]) == 0
    assert capsys.readouterr().out.startswith("transformer 1 layers x 16 wide")


@pytest.mark.parametrize(
    "cmd, said",
    [
        (["export", "--format", "onnx", "--to", "EXPORTED"], "only RNN runs export"),
        (
            ["inspect", "--show", "h", "--out", "EXPORTED"],
            "a transformer has no h; choose from mlp",
        ),
        (["eval", "--split", "val", "--dynamic"], "written for recurrent networks"),
        (["eval", "--split", "val", "--cache"], "reads an RNN's hidden states"),
    ],
)
def test_what_a_transformer_lacks_is_a_clear_error(cli_run, capsys, cmd, said):
    capsys.readouterr()
    args = [a.replace("EXPORTED", str(cli_run.parent / "x")) for a in cmd]
    assert main([args[0], str(cli_run), *args[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("charwise: error:") and said in err and len(err.splitlines()) == 1


def test_compare_gains_a_transformer_row(small_text, tmp_path):
    data = DataConfig(sources=(str(small_text),), split=(0.8, 0.1, 0.1))
    cfg = CompareConfig(
        orders=(),
        models=("transformer",),
        max_steps=3,
        layers=1,
        hidden=16,
        batch_size=4,
        seq_len=16,
        device="cpu",
        sample_length=20,
    )
    (row,) = compare(data, cfg, tmp_path / "runs")
    assert row.model == "TRANSFORMER 1x16" and row.extra["steps"] == 3
    assert math.isfinite(row.val_bpc) and len(row.sample) == 20


def test_the_page_samples_and_analyses_a_transformer(cli_run):
    import warnings

    from charwise.web import create_app

    with warnings.catch_warnings():  # starlette 1.x suggests httpx2; httpx works the same here
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    client = TestClient(create_app([cli_run]), raise_server_exceptions=False)
    (info,) = client.get("/api/runs").json()["runs"]
    assert info["kind"] == "transformer" and info["inspectable"]
    body = {"run": "run", "prime": "It was", "length": 50, "seed": 3}
    with client.stream("POST", "/api/sample", json=body) as r:
        assert r.status_code == 200
        text = "".join(r.iter_text())
    assert text == charwise.load(cli_run).sample(50, prime="It was", seed=3)
    r = client.post("/api/analyze", json={"run": "run", "text": "It was the"})
    assert r.status_code == 200
    d = r.json()
    # One layer of 16 wide: 64 MLP units; 2 heads; the first character attends only to itself.
    assert (d["kind"], d["unit"], d["layers"], d["hidden"], d["n"]) == (
        "transformer",
        "unit",
        1,
        64,
        10,
    )
    assert len(d["acts"]["mlp"]) == 1 and d["interp"]["quantity"] == "mlp"
    attn = d["attn"]
    assert (attn["layers"], attn["heads"], attn["k"]) == (1, 2, 5)
    assert len(attn["pos"]) == len(attn["w"]) == 1 * 2 * 10 * 5
    assert attn["pos"][:5] == [0, -1, -1, -1, -1] and attn["w"][0] == pytest.approx(1.0)


def test_fine_tuning_starts_from_a_transformer_runs_weights(tmp_path, short_text):
    train(tf_config(short_text, max_steps=3), tmp_path / "base")
    # The new run's model settings are the base run's, whatever kind the config names.
    cfg = tiny_config([short_text], model={"dropout": 0.0}, max_steps=2)
    train(cfg, tmp_path / "tuned", init_from=tmp_path / "base")
    tuned = charwise.load(tmp_path / "tuned")
    assert tuned.kind == "transformer" and tuned.model.cfg.block == 16


def test_fine_tuning_a_transformer_keeps_its_dropout_unless_one_is_given(tmp_path, short_text):
    base = tiny_config([short_text], model={**TINY_TF, "dropout": 0.1}, max_steps=2)
    train(base, tmp_path / "base")
    # A config left at the GRU's defaults (dropout 0.25) says nothing about dropout.
    kept = tiny_config([short_text], model={"dropout": None}, max_steps=1)
    train(kept, tmp_path / "kept", init_from=tmp_path / "base")
    assert charwise.load(tmp_path / "kept").model.cfg.dropout == 0.1
    given = tiny_config([short_text], model={"dropout": 0.05}, max_steps=1)
    train(given, tmp_path / "given", init_from=tmp_path / "base")
    assert charwise.load(tmp_path / "given").model.cfg.dropout == 0.05


def test_beam_search_over_a_transformer_returns_its_most_likely_text(cli_run):
    # Beam search through the key/value cache: a beam of V * V over three characters is
    # exhaustive, so it must find the best of all V ** 3 texts by the model's full forward.
    run = charwise.load(cli_run)
    with torch.no_grad():  # an 8-step model barely reads its context: sharpen it so order matters
        for w in run.model.parameters():
            w.mul_(4)
    V, prime = run.vocab.size, "It"
    ctx = [int(i) for i in run.vocab.encode(prime)]
    n = len(ctx)
    with torch.no_grad():
        x = torch.tensor([[*ctx, *seq] for seq in itertools.product(range(V), repeat=3)])
        logp = torch.log_softmax(run.model(x, run.model.init_state(len(x)))[0].float(), -1)
        score = sum(logp[:, n - 1 + k].gather(1, x[:, n + k : n + k + 1]) for k in range(3))
    best = x[int(score.argmax())][n:].tolist()
    got = run.generate(charwise.SampleOptions(length=3, prime=prime, beam=V * V))
    assert got == [run.vocab.decode(best)]
    # Beam 1 is greedy, as --argmax is, past the cache's context too.
    greedy = run.generate(charwise.SampleOptions(prime="It", length=40, argmax=True))
    assert run.generate(charwise.SampleOptions(prime="It", length=40, beam=1)) == greedy
