"""The optimizer: weight decay on the weight matrices only, and each choice as configured."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from charwise.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from charwise.data.corpus import load_corpus
from charwise.nn.build import build_model
from charwise.nn.model import CharRNN
from charwise.training import optimizer as optimizer_module
from charwise.training.events import Callbacks
from charwise.training.lifecycle import train
from charwise.training.optimizer import (
    Fp32Muon,
    MuonAdamW,
    make_optimizer,
    resolve_optimizer,
    set_weight_decay,
)
from charwise.training.trainer import Trainer
from conftest import tiny_config


def _model() -> CharRNN:
    return CharRNN(ModelConfig(vocab_size=7, kind="lstm", layers=2, hidden=8, embed=4))


def test_only_the_weight_matrices_are_decayed():
    model = _model()
    opt = make_optimizer(model, TrainConfig(optimizer="adamw", weight_decay=0.1))
    decayed, other = opt.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    decayed_names = {names[id(p)] for p in decayed["params"]}
    assert decayed["weight_decay"] == 0.1 and other["weight_decay"] == 0.0
    assert decayed_names == {
        n for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embed")
    }
    assert "head.weight" in decayed_names and not any(n.startswith("embed") for n in decayed_names)
    assert all(p.dim() == 1 or names[id(p)].startswith("embed") for p in other["params"])
    assert len(decayed["params"]) + len(other["params"]) == len(list(model.parameters()))


def test_each_optimizer_as_configured():
    adamw = make_optimizer(_model(), TrainConfig(optimizer="adamw", lr=1e-3, beta2=0.95))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["fused"] and adamw.defaults["betas"] == (0.9, 0.95)
    rmsprop = make_optimizer(_model(), TrainConfig(optimizer="rmsprop", lr=1e-3))
    assert isinstance(rmsprop, torch.optim.RMSprop) and rmsprop.defaults["alpha"] == 0.95
    sgd = make_optimizer(_model(), TrainConfig(optimizer="sgd", lr=0.5))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    assert sgd.defaults["lr"] == 0.5


def _names(model: torch.nn.Module, group: dict) -> set[str]:
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)] for p in group["params"]}


def test_muon_takes_the_networks_matrices_and_adamw_the_rest():
    model = _model()
    opt = make_optimizer(model, TrainConfig(optimizer="muon", weight_decay=0.2, muon_decay=0.05))
    assert isinstance(opt, MuonAdamW)
    muon, decayed, other = opt.param_groups
    assert _names(model, muon) == {f"rnn.weight_{k}_l{i}" for k in ("ih", "hh") for i in (0, 1)}
    assert _names(model, decayed) == {"head.weight"}
    assert "embed.weight" in _names(model, other) and "head.bias" in _names(model, other)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.05, 0.2, 0.0]
    everything = [p for g in opt.param_groups for p in g["params"]]
    assert len(everything) == len({id(p) for p in everything}) == len(list(model.parameters()))
    # The transformer: attention and MLP matrices to Muon; embedding, positions and head not.
    t = build_model(ModelConfig(vocab_size=7, kind="transformer", layers=1, hidden=8, heads=2,
                                block=8, positions="learned"))  # fmt: skip
    topt = make_optimizer(t, TrainConfig(optimizer="muon"))
    assert all(n.startswith("blocks.") for n in _names(t, topt.param_groups[0]))
    assert {"pos.weight", "head.weight"} <= _names(t, topt.param_groups[1])


def test_a_muon_step_moves_each_matrix_by_an_orthogonalised_update_at_the_scaled_rate():
    torch.manual_seed(0)
    model = _model()
    cfg = TrainConfig(optimizer="muon", lr=1e-3, muon_scale=3.0, muon_decay=0.0)
    opt = make_optimizer(model, cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    x = torch.randint(0, 7, (6, 10))
    logits, _ = model(x, model.init_state(6, torch.device("cpu")))
    F.cross_entropy(logits.reshape(-1, 7), x.roll(-1, 1).reshape(-1)).backward()
    opt.step()
    for n, p in model.named_parameters():
        if not n.startswith("rnn.weight"):
            continue
        delta = before[n] - p.detach()
        rows, cols = delta.shape
        # match_rms_adamw: lr * scale * 0.2 * sqrt(max(rows, cols)) times an orthogonal matrix,
        # whose singular values Newton-Schulz leaves in about [0.7, 1.2] (AdamW's first step,
        # lr * sign(g), is nothing like it).
        sv = torch.linalg.svdvals(delta) / (1e-3 * 3.0 * 0.2 * max(rows, cols) ** 0.5)
        assert 0.5 < float(sv.min()) and float(sv.max()) < 1.3, (n, sv)
    # The scaled rate is Muon's group's own; AdamW's groups keep the schedule's rate.
    assert [g["lr"] for g in opt.param_groups] == [3e-3, 1e-3, 1e-3]
    # The head is AdamW's: its first step moves every weight by about lr (sign-like).
    head = (before["head.weight"] - model.head.weight.detach()).abs()
    assert torch.allclose(head[head > 0], torch.full_like(head[head > 0], 1e-3), rtol=0.05)


def test_fp32_muon_updates_as_torchs_muon_without_bf16():
    # Same rate, decay, momentum and Nesterov step as torch.optim.Muon; its Newton-Schulz in fp32
    # where torch's runs in bf16, so the two agree to bf16's rounding (~1%), and the momentum is
    # kept under torch's name (a run saved on one CPU resumes on another).
    torch.manual_seed(0)
    for shape in [(24, 8), (8, 24)]:
        w0 = torch.randn(*shape) * 0.1
        moved = []
        for cls in (torch.optim.Muon, Fp32Muon):
            w = torch.nn.Parameter(w0.clone())
            opt = cls([w], lr=0.02, weight_decay=0.3, adjust_lr_fn="match_rms_adamw")
            gen = torch.Generator().manual_seed(1)
            for _ in range(3):
                w.grad = torch.randn(*shape, generator=gen)
                opt.step()
            assert set(opt.state[w]) == {"momentum_buffer"}
            moved.append(w.detach() - w0)
        torchs, ours = moved
        assert float((torchs - ours).norm() / torchs.norm()) < 0.03, shape
    with pytest.raises(ValueError, match="match_rms_adamw"):
        Fp32Muon([torch.nn.Parameter(torch.zeros(2, 2))], adjust_lr_fn="original")


def test_muon_orthogonalises_in_bf16_only_where_the_hardware_has_it(monkeypatch):
    # PyTorch's Muon casts to bf16, which CPUs without native bf16 emulate ~60x slower than
    # fp32: there a 2x512 GRU's step took seconds.
    for native, cls in [(True, torch.optim.Muon), (False, Fp32Muon)]:
        monkeypatch.setattr(optimizer_module, "bf16_native", lambda device, n=native: n)
        assert type(make_optimizer(_model(), TrainConfig(optimizer="muon")).muon) is cls


def test_muon_state_round_trips_and_weight_decay_reaches_adamws_matrices():
    torch.manual_seed(0)
    model = _model()
    opt = make_optimizer(model, TrainConfig(optimizer="muon", weight_decay=0.1, muon_decay=0.3))
    x = torch.randint(0, 7, (4, 6))
    for _ in range(2):
        opt.zero_grad()
        logits, _ = model(x, model.init_state(4, torch.device("cpu")))
        F.cross_entropy(logits.reshape(-1, 7), x.reshape(-1)).backward()
        opt.step()
    sd = opt.state_dict()
    kinds = {k for s in sd["state"].values() for k in s}
    assert {"momentum_buffer", "exp_avg", "exp_avg_sq", "step"} <= kinds
    fresh = make_optimizer(model, TrainConfig(optimizer="muon"))
    fresh.load_state_dict(sd)
    again = fresh.state_dict()
    assert again["param_groups"] == sd["param_groups"]
    for i, s in sd["state"].items():
        for k, v in s.items():
            assert torch.equal(torch.as_tensor(again["state"][i][k]), torch.as_tensor(v))
    set_weight_decay(fresh, 0.02)
    # --resume's --weight-decay reaches AdamW's matrices; Muon's decay is the saved one.
    assert [g["weight_decay"] for g in fresh.param_groups] == [0.3, 0.02, 0.0]
    assert fresh.adamw.param_groups[0]["weight_decay"] == 0.02  # the optimizers' own groups


def test_muons_decay_shrinks_only_its_matrices_at_its_scaled_rate():
    model = _model()
    opt = make_optimizer(model, TrainConfig(optimizer="muon", lr=1e-2, muon_scale=2.0,
                                            muon_decay=0.5))  # fmt: skip
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only the decay moves anything
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt.step()
    for n, p in model.named_parameters():
        want = before[n] * (1 - 1e-2 * 2.0 * 0.5) if n.startswith("rnn.weight") else before[n]
        assert torch.allclose(p.detach(), want, atol=1e-7), n


def test_rnns_default_to_auto_which_is_muon_only_with_native_bf16(monkeypatch):
    data = DataConfig(corpus="names")
    kinds = [("gru", "auto"), ("lstm", "auto"), ("rnn", "auto"), ("transformer", "adamw")]
    for kind, want in kinds:
        cfg = RunConfig(ModelConfig(vocab_size=7, kind=kind), data, TrainConfig())
        assert cfg.train.optimizer == want, kind
        assert RunConfig.from_dict(cfg.to_dict()).train.optimizer == want  # saved as such
    told = RunConfig(ModelConfig(vocab_size=7), data, TrainConfig(optimizer="adamw"))
    assert told.train.optimizer == "adamw"
    cpu = torch.device("cpu")
    t = build_model(ModelConfig(vocab_size=7, kind="transformer", layers=1, hidden=8, heads=2,
                                block=8))  # fmt: skip
    for native, rnn_opt in [(True, "muon"), (False, "adamw")]:
        monkeypatch.setattr(optimizer_module, "bf16_native", lambda device, n=native: n)
        assert resolve_optimizer("auto", "gru", cpu) == rnn_opt
        assert resolve_optimizer(None, "lstm", cpu) == rnn_opt
        assert resolve_optimizer(None, "transformer", cpu) == "adamw"
        assert resolve_optimizer("sgd", "gru", cpu) == "sgd"  # a named one is kept
        # A bare TrainConfig (the library without a RunConfig) gets the kind's default too.
        opt = make_optimizer(_model(), TrainConfig())
        assert isinstance(opt, MuonAdamW if native else torch.optim.AdamW)
        assert isinstance(make_optimizer(t, TrainConfig()), torch.optim.AdamW)


def test_training_saves_the_optimizer_auto_chose(tmp_path, short_text, monkeypatch):
    # config.json names the optimizer used, so --resume elsewhere keeps it.
    for native, want in [(True, "muon"), (False, "adamw")]:
        monkeypatch.setattr(optimizer_module, "bf16_native", lambda device, n=native: n)
        cfg = tiny_config([short_text], optimizer="auto", max_steps=2)
        train(cfg, tmp_path / want)
        saved = json.loads((tmp_path / want / "config.json").read_text())
        assert saved["train"]["optimizer"] == want


def test_the_trainer_sets_muons_rate_at_its_scale_of_the_schedules(tmp_path, short_text):
    cfg = tiny_config([short_text], optimizer="muon", muon_scale=2.5, amp=False)
    corpus = load_corpus(cfg.data)
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=corpus.vocab.size))
    tr = Trainer(cfg, tmp_path, corpus, Callbacks())
    tr.train_step(4e-3)
    assert [g["lr"] for g in tr.opt.param_groups] == [pytest.approx(1e-2), 4e-3, 4e-3]
