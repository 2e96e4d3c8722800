"""Weight averaging: an exponential moving average (EMA) of the weights along the training path.

Late iterates jitter around a minimum; their running average sits nearer its centre (Polyak
averaging; AWD-LSTM's averaged SGD; the EMA of many modern recipes). It pays most when the
learning rate stays high to the end: after charwise's default cosine decay to 5% the last weights
are already smoothed, and on tinyshakespeare the average scored within +-0.0025 nats/char of them
(bench/RESULTS.md), so it is off by default. With it on, the average is what validation,
training-time samples and `model.safetensors` use; the optimiser keeps stepping the raw weights.

Written with torch's foreach lerp rather than `torch.optim.swa_utils.AveragedModel`, whose
per-update `n_averaged == 0` test is a host sync on every GPU step; the update count here is a
Python int (saved in the resumable state).
"""

from __future__ import annotations

import copy

import torch

from ..nn.model import CharRNN


class WeightAverage:
    """An EMA copy of a CharRNN's parameters (same devices and dtypes; fp32 on CPU training).

    `decay` is the per-step decay at full strength. Early on the average would be dominated by
    the random initialisation, so step n uses min(decay, (1 + n) / (10 + n)): at first a near
    plain mean over the steps so far, reaching `decay` after ~10 / (1 - decay) steps.
    """

    def __init__(self, model: CharRNN, decay: float, updates: int = 0):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = updates
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self._avg = list(self.model.parameters())

    def current_decay(self) -> float:
        n = self.updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: CharRNN) -> None:
        """Fold the model's current parameters into the average (call after each optimiser step)."""
        weight = 1.0 - self.current_decay()
        self.updates += 1
        torch._foreach_lerp_(self._avg, [p.detach() for p in model.parameters()], weight)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        self.model.load_state_dict(tensors)
        self.updates = updates
