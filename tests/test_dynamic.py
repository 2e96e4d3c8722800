"""Dynamic evaluation (use/dynamic.py, runs/dynamic.py): it lowers the loss on a text unlike the
training text, leaves the weights on disk alone, reduces to static evaluation when it takes no
step, matches a plain one-stream loop written out here, batches streams as documented, refuses
n-gram runs in one line, and its CLI options work."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from charwise.cli import main
from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.errors import CharwiseError
from charwise.ngram import NGramConfig, train_ngram
from charwise.runs.dynamic import adapted_sample, dynamic_evaluate
from charwise.runs.load import load
from charwise.use.dynamic import (
    Adapter,
    DynamicConfig,
    adapt_over_ids,
    gradient_stats,
    working_copy,
)
from charwise.use.evaluate import loss_over_ids
from charwise.use.sampling import SampleOptions

WORDS = (
    "when shall we three meet again in thunder lightning or in rain quick brown fox jumps by zoo"
)
REPEATED = "the lazy dog naps; the fox jumps. " * 40  # 1,360 characters, one phrase over and over


def _training_text() -> str:
    rng = np.random.default_rng(0)
    words = WORDS.split()
    lines = [" ".join(rng.choice(words, 9)) + (";" if i % 3 else ".") for i in range(260)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    return train_run(tmp_path_factory.mktemp("dyn"))


def train_run(d):
    """A 2x32 GRU trained briefly on shuffled words (the phrase of REPEATED never occurs) in
    d / "run"; REPEATED in d / "repeated.txt"."""
    from charwise.training.lifecycle import train

    (d / "t.txt").write_text(_training_text(), encoding="utf-8")
    cfg = RunConfig(
        model=ModelConfig(vocab_size=1, kind="gru", layers=2, hidden=32, embed=8, dropout=0.0),
        data=DataConfig(sources=(str(d / "t.txt"),), split=(0.8, 0.1, 0.1)),
        train=TrainConfig(
            batch_size=8,
            seq_len=32,
            max_steps=40,
            lr=1e-2,
            warmup=2,
            eval_every=1000,
            sample_every=1000,
            save_every=1000,
            device="cpu",
            threads=1,
        ),
    )
    train(cfg, d / "run")
    (d / "repeated.txt").write_text(REPEATED, encoding="utf-8")
    return d / "run"


@pytest.fixture
def run(run_dir):
    return load(run_dir)


FAST = DynamicConfig(lr=3e-3, decay=0.01, segment=20, streams=1, stats_chars=2000, precision="fp32")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_adapting_lowers_the_loss_on_a_repetitive_text(run, run_dir, precision):
    ids = run.read_files(run_dir.parent / "repeated.txt")[0]
    static = run.evaluate(ids).nats_per_char
    dyn = dynamic_evaluate(run, ids, cfg=dataclasses.replace(FAST, precision=precision))
    assert dyn.result.chars == len(ids) - 1
    assert dyn.result.nats_per_char < static - 0.3, (static, dyn.result.nats_per_char)


def test_weights_on_disk_and_in_memory_are_unchanged(run, run_dir):
    files = sorted(p for p in run_dir.iterdir() if p.is_file())
    before = {p.name: _sha(p) for p in files}
    weights = {k: v.clone() for k, v in run.model.state_dict().items()}
    dynamic_evaluate(run, split="val", cfg=FAST)
    adapted_sample(run, run_dir.parent / "repeated.txt", SampleOptions(length=20, seed=1), FAST)
    assert {p.name: _sha(p) for p in files} == before
    assert all(torch.equal(v, run.model.state_dict()[k]) for k, v in weights.items())


@pytest.mark.parametrize("streams", [1, 4])
def test_no_step_is_static_evaluation(run, streams):
    """lr=0 and decay=1 leave the weights as trained: the loss is static evaluation's with the same
    pieces and burn-in (to float rounding: the windows are cut differently)."""
    ids = run.split("val")
    cfg = dataclasses.replace(FAST, lr=0.0, decay=1.0, streams=streams, context=16)
    dyn = dynamic_evaluate(run, ids, cfg=cfg).result
    total, n = loss_over_ids(run.model, ids, streams=streams, context=16)
    assert dyn.chars == n and dyn.nats_per_char == pytest.approx(total / n, rel=1e-6, abs=1e-6)


def test_the_adapted_copy_computes_eval_mode_outputs_with_its_fused_rnn_training(run):
    """cuDNN's RNN backward runs only in training mode, so the copy's fused RNN trains while the
    model around it stays in eval mode: no dropout, the same outputs as the caller's model."""
    m = working_copy(run.model)
    assert m.rnn.training and not m.training and not run.model.rnn.training
    x = torch.tensor(run.split("val")[:64], dtype=torch.long)[None]
    with torch.no_grad():
        ref, _ = run.model(x)
        got, _ = m(x)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_dynamic_evaluation_and_the_cache_run_on_cuda(run_dir):
    """On CUDA (cuDNN's RNN, whose backward needs training mode) dynamic evaluation takes its
    steps, alone and with the cache: the loss on the repetitive text falls as on the CPU. The
    static loss agrees with the CPU's to TF32's rounding."""
    from charwise.use.cache import CacheConfig

    cpu, gpu = load(run_dir), load(run_dir, device="cuda")
    ids = cpu.read_files(run_dir.parent / "repeated.txt")[0]
    static = gpu.evaluate(ids).nats_per_char
    assert static == pytest.approx(cpu.evaluate(ids).nats_per_char, rel=1e-2)
    for cache in (None, CacheConfig()):
        dyn = dynamic_evaluate(gpu, ids, cfg=FAST, cache=cache).result
        assert dyn.nats_per_char < static - 0.3, (static, dyn.nats_per_char, cache)


def _reference_loop(model, ids, cfg, stats):
    """The method written out plainly, one stream (as Krause et al.'s code): per segment, score,
    gradient of the mean loss, then theta += lam_p (theta0 - theta) - lr g / (rms + eps), the RMS
    floored at rms_floor times its tensor's mean."""
    m = type(model)(model.cfg)
    m.load_state_dict(model.state_dict())
    m.eval()
    params = list(m.parameters())
    theta0 = [p.detach().clone() for p in params]
    rms = [r.clamp(min=cfg.rms_floor * float(r.mean())) for r in stats.rms]
    mean_rms = sum(float(r.mean()) for r in rms) / len(rms)
    total, state, n = 0.0, None, len(ids) - 1
    for a in range(0, n, cfg.segment):
        b = min(a + cfg.segment, n)
        x = torch.tensor(ids[a:b], dtype=torch.long)[None]
        y = torch.tensor(ids[a + 1 : b + 1], dtype=torch.long)
        logits, state = m(x, state)
        loss = F.cross_entropy(logits[0], y, reduction="sum")
        total += float(loss.detach())
        grads = torch.autograd.grad(loss / cfg.segment, params)
        with torch.no_grad():
            for p, p0, g, r in zip(params, theta0, grads, rms, strict=True):
                lam = (cfg.decay * r / mean_rms).clamp(max=1.0)
                p += lam * (p0 - p) - cfg.lr * g / (r + cfg.eps)
        state = tuple(s.detach() for s in state)
    return total, params


def test_one_stream_is_the_written_out_method(run):
    ids = run.read_files(run.path.parent / "repeated.txt")[0][:300]
    stats = gradient_stats(run.model, run.split("train"), FAST)
    want, want_params = _reference_loop(run.model, ids, FAST, stats)
    got, n, ad = adapt_over_ids(run.model, ids, FAST, stats, update_last=True)
    assert n == len(ids) - 1 and got == pytest.approx(want, rel=1e-5)
    for p, q in zip(ad.params, want_params, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def test_streams_share_one_model_summing_their_steps(run):
    """K streams reading K identical pieces take, per segment, K times one piece's gradient: the
    same as one stream with lr * K. The decay is applied K times per step."""
    base = run.read_files(run.path.parent / "repeated.txt")[0][:97]
    K = 4
    ids = np.concatenate([np.tile(base, K), base[:1]])
    stats = gradient_stats(run.model, run.split("train"), FAST)
    cfg = dataclasses.replace(FAST, decay=0.0, streams=K, context=0)
    one = dataclasses.replace(cfg, streams=1, lr=cfg.lr * K)
    got, n, _ = adapt_over_ids(run.model, ids, cfg, stats)
    want, m, _ = adapt_over_ids(run.model, np.concatenate([base, base[:1]]), one, stats)
    assert n == K * m and got == pytest.approx(K * want, rel=1e-5)
    lam1 = Adapter(run.model, stats, FAST, streams=1).lam
    lamK = Adapter(run.model, stats, FAST, streams=K).lam
    for a, b in zip(lam1, lamK, strict=True):
        torch.testing.assert_close(b, 1 - (1 - a) ** K)


def test_adapted_samples_continue_the_text_read(run, run_dir):
    """Read REPEATED with adaptation on, the greedy continuation writes its phrases; read
    without, it does not."""
    opts = SampleOptions(length=60, argmax=True)
    plain = run.sample(length=60, argmax=True, prime=REPEATED[-40:])
    adapted = adapted_sample(run, run_dir.parent / "repeated.txt", opts, FAST)[0]
    assert "the fox jumps." in adapted and "the fox jumps." not in plain, (adapted, plain)


def test_adapting_without_the_training_text_uses_the_text_read(run_dir, tmp_path):
    moved = tmp_path / "run"
    moved.mkdir()
    for p in run_dir.iterdir():
        if p.is_file():
            (moved / p.name).write_bytes(p.read_bytes())
    cfg = json.loads((moved / "config.json").read_text())
    cfg["data"]["sources"] = [str(tmp_path / "gone.txt")]
    (moved / "config.json").write_text(json.dumps(cfg))
    r = load(moved)
    texts = adapted_sample(r, run_dir.parent / "repeated.txt", SampleOptions(length=10), FAST)
    assert len(texts[0]) == 10
    with pytest.raises(CharwiseError, match="training text"):
        dynamic_evaluate(r, files=run_dir.parent / "repeated.txt", cfg=FAST)


def test_python_api_takes_a_run_or_its_path(run_dir):
    import charwise

    res = charwise.dynamic_evaluate(str(run_dir), split="test", cfg=FAST)
    assert res.config == FAST and res.result.chars == len(load(run_dir).split("test")) - 1
    with pytest.raises(CharwiseError, match="takes a loaded run"):
        charwise.dynamic_evaluate(42, split="test")


def ngram_run(d):
    """A 3-gram counted on the training text, in d / "ng"."""
    (d / "t.txt").write_text(_training_text(), encoding="utf-8")
    train_ngram(DataConfig(sources=(str(d / "t.txt"),)), NGramConfig(order=3), d / "ng")
    return d / "ng"


def test_ngram_runs_are_refused_in_one_line(tmp_path, capsys):
    ngram_run(tmp_path)
    with pytest.raises(CharwiseError, match="n-gram run, which has no gradient"):
        dynamic_evaluate(load(tmp_path / "ng"), split="val")
    assert main(["eval", str(tmp_path / "ng"), "--split", "val", "--dynamic"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no gradient" in err[0]


def test_cli_eval_dynamic_and_its_flags(run_dir, capsys):
    d = str(run_dir)
    flags = ["--segment", "20", "--lr", "0.003", "--streams", "2", "--stats-chars", "500"]
    assert main(["eval", d, "--split", "val", "--dynamic", *flags, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dynamic"]["lr"] == 0.003 and out["dynamic"]["streams"] == 2
    assert out["chars_per_s"] > 0 and out["nats_per_char"] > 0
    tune = ["--tune", "--tune-chars", "150"]
    assert main(["eval", d, str(run_dir.parent / "repeated.txt"), "--dynamic", *flags, *tune]) == 0
    out = capsys.readouterr().out
    assert "chosen      --segment" in out and "tune        segment 20 lr 0.003" in out
    assert "nats/char" in out and "characters/s" in out
    assert main(["eval", d, "--split", "val", "--lr", "0.01"]) != 0
    assert "--lr set dynamic evaluation: add --dynamic" in capsys.readouterr().err
    assert main(["eval", d, "--split", "val", "--dynamic", "--decay", "2"]) != 0
    assert "--decay" in capsys.readouterr().err


def test_cli_sample_adapt(run_dir, capsys):
    d, text = str(run_dir), str(run_dir.parent / "repeated.txt")
    args = ["sample", d, "--adapt", text, "-n", "30", "--seed", "3", "--stats-chars", "2000"]
    assert main(args) == 0
    assert len(capsys.readouterr().out) == 31
    assert main([*args, "--beam", "2", "--prime", "the "]) == 0  # every decoding option applies
    assert capsys.readouterr().out.startswith("the ")
    assert main(["sample", d, "-n", "5", "--segment", "10"]) != 0
    assert "--segment set the adaptation: add --adapt FILE" in capsys.readouterr().err


def test_rms_floor_bounds_the_steps_of_weights_the_statistics_never_saw(run):
    """A character absent from the statistics' sample has RMS 0 on its rows; the floor raises it
    to rms_floor times its tensor's mean, so its first gradient cannot throw the row away."""
    stats = gradient_stats(run.model, run.split("train"), FAST)
    k = [n for n, _ in run.model.named_parameters()].index("embed.weight")
    stats.rms[k][3].zero_()
    ad = Adapter(run.model, stats, FAST)
    floor = FAST.rms_floor * float(stats.rms[k].mean())
    torch.testing.assert_close(ad.inv[k][3], torch.full_like(ad.inv[k][3], 1 / (floor + FAST.eps)))
    no_floor = Adapter(run.model, stats, dataclasses.replace(FAST, rms_floor=0.0))
    assert float(no_floor.inv[k][3].min()) == pytest.approx(1 / FAST.eps)
