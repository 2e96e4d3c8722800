"""The optimizer: weight decay on the weight matrices only, and each choice as configured."""

from __future__ import annotations

import torch

from charwise.config import ModelConfig, TrainConfig
from charwise.nn.model import CharRNN
from charwise.training.optimizer import make_optimizer


def _model() -> CharRNN:
    return CharRNN(ModelConfig(vocab_size=7, kind="lstm", layers=2, hidden=8, embed=4))


def test_only_the_weight_matrices_are_decayed():
    model = _model()
    opt = make_optimizer(model, TrainConfig(weight_decay=0.1))
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
