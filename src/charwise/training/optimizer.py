"""The optimizer: AdamW (fused where PyTorch has it), RMSprop or SGD with momentum, with weight
decay on the weight matrices only."""

from __future__ import annotations

import torch

from ..config import TrainConfig


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Two parameter groups, in this order (the saved state and --resume's weight decay count on
    it): [0] the matrices, decayed by cfg.weight_decay; [1] the rest, not decayed."""
    # Decay matrices only: biases, embeddings' scale and gains should not be pulled to zero.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("embed")]
    other = [
        p for n, p in model.named_parameters() if not (p.dim() >= 2 and not n.startswith("embed"))
    ]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": other, "weight_decay": 0.0},
    ]
    if cfg.optimizer == "adamw":
        # Fused: one pass over each parameter instead of several: on the CPU 2.1 instead of
        # 9.6 ms a step for a 2x512 LSTM on two threads (bench/optimizer.py); on CUDA one
        # kernel for all parameters, and GradScaler's inf check stays on the GPU.
        fused = next(model.parameters()).device.type in ("cpu", "cuda") or None
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, cfg.beta2), fused=fused)
    if cfg.optimizer == "rmsprop":  # char-rnn's: alpha 0.95
        return torch.optim.RMSprop(groups, lr=cfg.lr, alpha=0.95)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9)
