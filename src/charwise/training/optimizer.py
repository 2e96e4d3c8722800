"""The optimizer: AdamW (fused where PyTorch has it), Muon on the hidden matrices with AdamW on the
rest, RMSprop or SGD with momentum; weight decay on the weight matrices only."""

from __future__ import annotations

from typing import Any

import torch

from ..config import TrainConfig, default_optimizer
from ..nn.devices import bf16_native


def _is_matrix(name: str, p: torch.nn.Parameter) -> bool:
    """A weight matrix (decayed): 2-D and not the input embedding."""
    return p.dim() >= 2 and not name.startswith("embed")


def _is_hidden_matrix(name: str, p: torch.nn.Parameter) -> bool:
    """A matrix inside the network (Muon's): not the embedding, the positions or the output head,
    whose rows are looked up or read one per character and which Muon's authors leave to Adam."""
    return p.dim() == 2 and not name.startswith(("embed", "pos", "head"))


def resolve_optimizer(name: str | None, kind: str, device: torch.device) -> str:
    """The optimizer `name` (None: the model kind's default) stands for on `device`. "auto":
    Muon where bf16 matmuls are native (CUDA GPUs, CPUs with AVX512-BF16 or AMX), which run its
    Newton-Schulz products in bf16; AdamW elsewhere. On a 2-core AVX2 EPYC the products in fp32
    cost Muon 44% more CPU per character and it lost the 600 s benchmark to AdamW (1.4693
    against 1.4544); on an AVX512-BF16 Xeon it won it (1.411-1.416 against 1.450)."""
    name = name or default_optimizer(kind)
    if name != "auto":
        return name
    return "muon" if bf16_native(device) else "adamw"


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | MuonAdamW:
    """cfg.optimizer (None: the model kind's default; "auto" resolved on the model's device) over
    `model`'s parameters. Two parameter groups, in this order (the saved state and --resume's
    weight decay count on it): [0] the matrices, decayed by cfg.weight_decay; [1] the rest, not
    decayed. Muon: three, see MuonAdamW."""
    name = resolve_optimizer(cfg.optimizer, model.cfg.kind, next(model.parameters()).device)
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
        device = next(model.parameters()).device
        muon = torch.optim.Muon if bf16_native(device) else Fp32Muon
        self.muon = muon(
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


def orthogonalise(
    g: torch.Tensor, coefficients: tuple[float, float, float], steps: int, eps: float
) -> torch.Tensor:
    """(A, B) matrix -> Muon's quintic Newton-Schulz approximation of U V^T (G = U S V^T: singular
    values pushed into about [0.7, 1.2]), in g's dtype. The iteration of torch.optim.Muon, which
    always runs it in bf16."""
    wide = g.size(0) <= g.size(1)
    x = g if wide else g.T
    x = x / x.norm().clamp(min=eps)  # spectral norm <= Frobenius norm <= 1
    a, b, c = coefficients
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x if wide else x.T


class Fp32Muon(torch.optim.Muon):
    """torch.optim.Muon with its Newton-Schulz iterations in fp32: PyTorch casts them to bf16,
    which CPUs without native bf16 (AVX2 laptops, AMD before Zen4) emulate at ~1 GFLOP/s, where a
    2x512 GRU's optimizer step then took seconds (52 steps in 600 s on a 2-core AVX2 EPYC). Same
    hyper-parameters, state ("momentum_buffer") and update as torch's, so a run saved on one CPU
    resumes on another; only the "match_rms_adamw" rate adjustment, the one MuonAdamW uses."""

    def __init__(self, params, **kw: Any) -> None:
        if kw.get("adjust_lr_fn") != "match_rms_adamw":
            raise ValueError("Fp32Muon implements adjust_lr_fn='match_rms_adamw' only")
        super().__init__(params, **kw)

    @torch.no_grad()
    def step(self, closure: None = None) -> None:
        for group in self.param_groups:
            lr, mu = group["lr"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = torch.zeros_like(p.grad)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - mu)
                u = p.grad.lerp(buf, mu) if group["nesterov"] else buf
                u = orthogonalise(
                    u.float(), group["ns_coefficients"], group["ns_steps"], group["eps"]
                )
                # match_rms_adamw: the update's RMS that of an AdamW update at the same rate.
                scale = 0.2 * max(p.shape[0], p.shape[1]) ** 0.5
                p.mul_(1 - lr * group["weight_decay"])
                p.add_(u.to(p.dtype), alpha=-lr * scale)
