"""The continuous cache (use/cache.py, runs/dynamic.cache_evaluate): with a fixed weight it is
the paper's formula, written out here one character at a time; each character is scored before
it joins the cache or trains the gate; it lowers the loss on a repetitive text, alone and beside
dynamic evaluation; tuning its theta on validation text keeps the best trial and walks towards
it; and runs without hidden states and cache flags without --cache are refused in one line."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from charwise.cli import main
from charwise.errors import CharwiseError
from charwise.ngram.cache import NGramCacheConfig, cache_loss_over_ids
from charwise.runs.dynamic import cache_evaluate, dynamic_evaluate
from charwise.runs.load import load
from charwise.use.cache import GATE_EVERY, CacheConfig, cache_streams
from charwise.use.cache_tune import tune_cache
from charwise.use.evaluate import loss_over_ids
from test_dynamic import FAST, REPEATED, ngram_run, train_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    return train_run(tmp_path_factory.mktemp("cache"))


@pytest.fixture
def run(run_dir):
    return load(run_dir)


def _reference(model, ids, cfg: CacheConfig) -> float:
    """Grave et al.'s cache with a fixed weight, one character at a time: position t attends to
    the last `cache_size` hidden states h_j (j < t) with softmax(theta h_t . h_j / H), predicts
    the character that followed each; p = (1 - lam) p_model + lam p_cache (p_model alone at t=0)."""
    x = torch.tensor(ids[:-1], dtype=torch.long)[None]
    logits, _, h = model(x, None, return_hidden=True)
    pm, h = torch.softmax(logits[0].float(), -1), h[0].float()
    total = 0.0
    for t in range(len(ids) - 1):
        p = float(pm[t, ids[t + 1]])
        j0 = max(0, t - cfg.cache_size)
        if t > 0:
            att = torch.softmax(cfg.cache_theta / h.shape[1] * (h[j0:t] @ h[t]), 0)
            nxt = torch.tensor(ids[j0 + 1 : t + 1])
            pc = float(att[nxt == ids[t + 1]].sum())
            p = (1 - cfg.cache_lambda) * p + cfg.cache_lambda * pc
        total -= np.log(p)
    return total


@torch.no_grad()
@pytest.mark.parametrize("window", [7, 64])
def test_fixed_weight_is_the_papers_formula(run, window):
    """A ring smaller than the text (entries are evicted) and windows cut anywhere: the same
    loss as the formula written out."""
    ids = run.read_files(run.path.parent / "repeated.txt")[0][:150]
    cfg = CacheConfig(cache_size=40, cache_theta=10.0, cache_lambda=0.3, cache_gate_lr=0.0)
    got, n = loss_over_ids(run.model, ids, streams=1, window=window, cache=cfg)
    assert n == len(ids) - 1
    assert got == pytest.approx(_reference(run.model, ids, cfg), rel=1e-5)


def test_characters_are_scored_before_they_train_the_gate(run):
    """The gate steps every GATE_EVERY characters, after scoring them: over the first
    GATE_EVERY its learning rate cannot change the loss. Over many it does, the same wherever
    the windows are cut (the gate learns on the text's positions, not on windows)."""
    ids = run.read_files(run.path.parent / "repeated.txt")[0]
    fixed, learnt = CacheConfig(cache_gate_lr=0.0), CacheConfig(cache_gate_lr=50.0)
    head = ids[: GATE_EVERY + 1]
    one = [loss_over_ids(run.model, head, streams=1, cache=c)[0] for c in (fixed, learnt)]
    assert one[0] == pytest.approx(one[1], rel=1e-9)
    many = [
        loss_over_ids(run.model, ids, streams=1, window=20, cache=c)[0] for c in (fixed, learnt)
    ]
    assert many[1] < many[0] - 10, many  # a repetitive text: the gate learns to trust the cache
    other = loss_over_ids(run.model, ids, streams=1, window=64, cache=learnt)[0]
    assert other == pytest.approx(many[1], rel=1e-5)


def test_the_cache_lowers_the_loss_on_a_repetitive_text(run, run_dir):
    text = run_dir.parent / "repeated.txt"
    static = run.evaluate_files([text]).nats_per_char
    got = cache_evaluate(run, files=text)
    res = got.result
    assert res.chars == len(REPEATED) - 1 and got.seconds > 0 and got.cache == CacheConfig()
    assert res.nats_per_char < static - 0.5, (static, res.nats_per_char)


def test_beside_dynamic_evaluation(run):
    """Dynamic evaluation taking no step, with the cache, is static evaluation with the cache;
    taking steps, the cache lowers dynamic evaluation's loss further on a repetitive text."""
    ids = run.read_files(run.path.parent / "repeated.txt")[0]
    fixed = CacheConfig(cache_gate_lr=0.0)
    still = dataclasses.replace(FAST, lr=0.0, decay=1.0, streams=2, context=16)
    dyn = dynamic_evaluate(run, ids, cfg=still, cache=fixed)
    total, n = loss_over_ids(run.model, ids, streams=2, context=16, cache=fixed)
    assert dyn.result.chars == n
    assert dyn.result.nats_per_char == pytest.approx(total / n, rel=1e-5)
    plain = dynamic_evaluate(run, ids, cfg=FAST).result.nats_per_char
    both = dynamic_evaluate(run, ids, cfg=FAST, cache=CacheConfig())
    assert both.cache == CacheConfig() and both.to_dict()["cache"]["cache_size"] == 2000
    assert both.result.nats_per_char < plain - 0.05, (plain, both.result.nats_per_char)


def test_an_ngram_runs_cache_is_its_counts_of_the_text_read(tmp_path, capsys, run_dir):
    """The network cache's API refuses an n-gram run (no hidden states); on the command line an
    n-gram run's --cache is the dynamic n-gram (ngram/cache.py), whose settings are its own."""
    ng = ngram_run(tmp_path)
    with pytest.raises(CharwiseError, match="hidden states"):
        cache_evaluate(load(ng), split="val")
    run = load(ng)
    want, n = cache_loss_over_ids(run.model, run.split("val"), NGramCacheConfig(cache_order=3))
    assert main(["eval", str(ng), "--split", "val", "--cache", "--cache-order", "3", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["chars"] == n and rec["nats_per_char"] == pytest.approx(want / n, rel=1e-12)
    assert rec["cache"] == {"cache_order": 3, "cache_lambda": 0.1}
    assert main(["eval", str(ng), "--split", "val", "--cache", "--tune"]) == 0
    assert "chosen      --cache-order" in capsys.readouterr().out
    for args, words in (
        ([str(ng), "--cache", "--cache-theta", "30"], "--cache-theta set a network's cache"),
        ([str(run_dir), "--cache", "--cache-order", "3"], "sets an n-gram run's cache"),
        ([str(ng), "--cache-order", "3"], "add --cache"),
    ):
        assert main(["eval", *args, "--split", "val"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err


def test_cli_eval_cache_and_its_flags(run_dir, capsys):
    d = str(run_dir)
    assert main(["eval", d, "--split", "val", "--cache", "--cache-size", "300", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["cache"]["cache_size"] == 300 and out["chars_per_s"] > 0
    want = cache_evaluate(load(run_dir), split="val", cache=CacheConfig(cache_size=300)).result
    assert out["nats_per_char"] == pytest.approx(want.nats_per_char, rel=1e-9)
    text = str(run_dir.parent / "repeated.txt")
    assert main(["eval", d, text, "--cache", "--dynamic", "--stats-chars", "500"]) == 0
    assert "with the cache" in capsys.readouterr().out
    assert main(["eval", d, "--split", "val", "--cache-lambda", "0.2"]) != 0
    assert "--cache-lambda set the continuous cache: add --cache" in capsys.readouterr().err
    assert main(["eval", d, "--split", "val", "--cache", "--cache-lambda", "1"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--cache-lambda" in err[0]


def test_tuning_theta_walks_to_the_best_trial_and_is_used(run, run_dir, capsys):
    """From a theta far too flat, tuning on a repetitive text walks theta up while the loss
    falls, keeps the best trial's theta, and cache_evaluate / dynamic_evaluate / the CLI score
    with it."""
    ids = run.read_files(run_dir.parent / "repeated.txt")[0]
    flat = CacheConfig(cache_theta=0.5, cache_size=300, cache_gate_lr=0.0)
    best, trials = tune_cache(run.model, ids, flat)
    losses = [t.nats_per_char for t in trials]
    assert trials[0].cache_theta == 0.5 and best.cache_theta > 0.5
    assert best.cache_theta == min(trials, key=lambda t: t.nats_per_char).cache_theta
    assert min(losses) < losses[0] - 0.05, losses
    assert [t.cache_theta for t in trials[:3]] == [0.5, 1.0, 2.0]  # up by 2x while it falls
    # The trials' losses are what cache_evaluate reports for the same settings.
    again = cache_evaluate(run, ids, cache=best).result.nats_per_char
    total, n = loss_over_ids(run.model, ids, streams=cache_streams(len(ids), best), cache=best)
    assert again == pytest.approx(total / n, rel=1e-9)
    assert again == pytest.approx(min(losses), rel=1e-6)

    got = cache_evaluate(run, split="val", cache=flat, tune_on_val=True)
    assert (
        got.trials
        and got.cache.cache_theta == min(got.trials, key=lambda t: t.nats_per_char).cache_theta
    )
    plain = cache_evaluate(run, split="val", cache=got.cache).result.nats_per_char
    assert got.result.nats_per_char == pytest.approx(plain, rel=1e-9)
    dyn = dynamic_evaluate(run, split="val", cfg=FAST, cache=flat, tune_on_val=True, tune_chars=400)
    assert (
        dyn.cache_trials
        and dyn.cache.cache_theta
        == min(dyn.cache_trials, key=lambda t: t.nats_per_char).cache_theta
    )

    d = str(run_dir)
    assert main(["eval", d, "--split", "val", "--cache", "--tune", "--cache-theta", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "tune        cache theta 0.5:" in out and "chosen      --cache-theta" in out
    assert main(["eval", d, "--split", "val", "--cache", "--tune", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["cache_trials"] and rec["tune_seconds"] >= 0
    assert main(["eval", d, "--split", "val", "--tune"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "add --dynamic or --cache" in err[0]
