"""The optimizer: AdamW (fused where PyTorch has it), Muon on the hidden matrices with AdamW on the
rest, RMSprop or SGD with momentum; weight decay on the weight matrices only."""

from __future__ import annotations

from typing import Any

import torch

from ..config import TrainConfig, default_optimizer


def _is_matrix(name: str, p: torch.nn.Parameter) -> bool:
    """A weight matrix (decayed): 2-D and not the input embedding."""
    return p.dim() >= 2 and not name.startswith("embed")


def _is_hidden_matrix(name: str, p: torch.nn.Parameter) -> bool:
    """A matrix inside the network (Muon's): not the embedding, the positions or the output head,
    whose rows are looked up or read one per character and which Muon's authors leave to Adam."""
    return p.dim() == 2 and not name.startswith(("embed", "pos", "head"))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | MuonAdamW:
    """cfg.optimizer (None: the model kind's default) over `model`'s parameters. Two parameter
    groups, in this order (the saved state and --resume's weight decay count on it): [0] the
    matrices, decayed by cfg.weight_decay; [1] the rest, not decayed. Muon: three, see
    MuonAdamW."""
    name = cfg.optimizer or default_optimizer(model.cfg.kind)
    if name == "muon":
        return MuonAdamW(model, cfg)
    # Decay matrices only: biases, embeddings' scale and gains should not be pulled to zero.
    decay = [p for n, p in model.named_parameters() if _is_matrix(n, p)]
    other = [p for n, p in model.named_parameters() if not _is_matrix(n, p)]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    if name == "adamw":
        return _adamw(groups, cfg, model)
    if name == "rmsprop":  # char-rnn's: alpha 0.95
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.95)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)


def _adamw(groups: list[dict], cfg: TrainConfig, model: torch.nn.Module) -> torch.optim.AdamW:
    # Fused: one pass over each parameter instead of several: on the CPU 2.1 instead of
    # 9.6 ms a step for a 2x512 LSTM on two threads (bench/optimizer.py); on CUDA one
    # kernel for all parameters, and GradScaler's inf check stays on the GPU.
    fused = next(model.parameters()).device.type in ("cpu", "cuda") or None
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=fused)


def set_weight_decay(opt: torch.optim.Optimizer | MuonAdamW, weight_decay: float) -> None:
    """Put `weight_decay` on the decayed groups (after a saved state replaced the groups)."""
    for i in getattr(opt, "decayed_groups", (0,)):
        opt.param_groups[i]["weight_decay"] = weight_decay


class MuonAdamW:
    """Muon (Jordan et al. 2024: momentum orthogonalised by Newton-Schulz iterations,
    `torch.optim.Muon`) on the matrices inside the network, AdamW on the embedding, the output
    head and the vectors, as Muon's authors use it.

    Groups, in this order: [0] Muon's matrices (decayed by `cfg.muon_decay`), [1] AdamW's head
    and other matrices (decayed by `cfg.weight_decay`), [2] AdamW's rest (not decayed). The
    schedule drives both: Muon's group carries `lr_scale` = `cfg.muon_scale`, and the trainer
    sets each group's rate to the schedule's times its `lr_scale`. The rate is in
    "match_rms_adamw" units (Moonshot's scaling: the update's RMS that of an AdamW update at the
    same rate). Muon's decay is decoupled and scales with its rate (w *= 1 - rate * decay).
    Duck-types the optimizer interface the trainer, GradScaler and the saved state use."""

    decayed_groups = (1,)  # --weight-decay's; Muon's own decay is --muon-decay, set at start

    def __init__(self, model: torch.nn.Module, cfg: TrainConfig) -> None:
        named = list(model.named_parameters())
        hidden = [p for n, p in named if _is_hidden_matrix(n, p)]
        if not hidden:
            raise ValueError("Muon needs matrices inside the network; this model has none")
        taken = {id(p) for p in hidden}
        decay = [p for n, p in named if _is_matrix(n, p) and id(p) not in taken]
        other = [p for n, p in named if not _is_matrix(n, p) and id(p) not in taken]
        self.muon = torch.optim.Muon(
            [{"params": hidden, "lr_scale": cfg.muon_scale}],
            lr=cfg.lr * cfg.muon_scale,
            weight_decay=cfg.muon_decay,
            adjust_lr_fn="match_rms_adamw",
        )
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": other, "weight_decay": 0.0},
        ]
        self.adamw = _adamw(groups, cfg, model)
        # The same dicts as the two optimizers' own: setting a group's lr sets the optimizer's.
        self.param_groups = self.muon.param_groups + self.adamw.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none)
        self.adamw.zero_grad(set_to_none)

    def step(self, closure: None = None) -> None:
        self.muon.step()
        self.adamw.step()

    def state_dict(self) -> dict[str, Any]:
        """One torch-style state dict: AdamW's parameter ids follow Muon's."""
        mu, ad = self.muon.state_dict(), self.adamw.state_dict()
        n = sum(len(g["params"]) for g in mu["param_groups"])
        state = {**mu["state"], **{i + n: s for i, s in ad["state"].items()}}
        groups = mu["param_groups"] + [
            {**g, "params": [i + n for i in g["params"]]} for g in ad["param_groups"]
        ]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        k = len(self.muon.param_groups)
        if len(sd["param_groups"]) != len(self.param_groups):
            raise ValueError("saved state has a different number of parameter groups")
        n = sum(len(g["params"]) for g in sd["param_groups"][:k])
        self.muon.load_state_dict(
            {
                "state": {i: s for i, s in sd["state"].items() if i < n},
                "param_groups": sd["param_groups"][:k],
            }
        )
        self.adamw.load_state_dict(
            {
                "state": {i - n: s for i, s in sd["state"].items() if i >= n},
                "param_groups": [
                    {**g, "params": [i - n for i in g["params"]]} for g in sd["param_groups"][k:]
                ],
            }
        )
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
