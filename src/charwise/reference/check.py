"""The references' self-checks: finite-difference gradients, and agreement with PyTorch's CharRNN
given the same weights (`charwise reference check` prints them; the tests assert them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..nn.model import CharRNN
from . import bridge, lstm, rnn
from .gradcheck import grad_check


@dataclass(frozen=True)
class Check:
    name: str
    error: float  # worst relative (gradient checks) or absolute (PyTorch agreement) error
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.error <= self.tolerance


def gradient_checks(seed: int = 0) -> list[Check]:
    """Both references' analytic gradients against central differences, on random weights."""
    rng = np.random.default_rng(seed)
    V, T, B = 7, 9, 3
    p = {k: rng.standard_normal(v.shape) * 0.5 for k, v in rnn.init_params(V, 6, rng).items()}
    xs, ys = list(rng.integers(0, V, T)), list(rng.integers(0, V, T))
    h0 = rng.standard_normal(6) * 0.3
    _, g, _ = rnn.loss_and_grads(p, xs, ys, h0)
    worst = grad_check(lambda: rnn.loss_and_grads(p, xs, ys, h0)[0], p, g, rng=rng)
    out = [Check(f"gradcheck rnn {k}", e, 1e-5) for k, e in worst.items()]
    pl = lstm.init_params(V, 5, 4, 2, rng)
    x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    state = (rng.standard_normal((2, B, 4)) * 0.3, rng.standard_normal((2, B, 4)) * 0.3)
    _, g, _ = lstm.loss_and_grads(pl, x, y, state)
    worst = grad_check(lambda: lstm.loss_and_grads(pl, x, y, state)[0], pl, g, rng=rng)
    return out + [Check(f"gradcheck lstm {k}", e, 1e-5) for k, e in worst.items()]


def torch_agreement(kind: str, layers: int = 1, seed: int = 0) -> list[Check]:
    """A float64 CharRNN and the numpy reference on the same weights and batch: the largest
    absolute difference of the logits, the summed loss and every parameter's gradient."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    V, B, T = 11, 3, 8
    cfg = ModelConfig(vocab_size=V, kind=kind, layers=layers, hidden=6, embed=5, dropout=0.0)
    model = CharRNN(cfg).double()
    x, y = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    logits, _ = model(torch.from_numpy(x))
    loss = F.cross_entropy(logits.reshape(-1, V), torch.from_numpy(y).reshape(-1), reduction="sum")
    loss.backward()
    if kind == "rnn":
        p = bridge.rnn_params_from_torch(model)
        np_logits = np.stack([rnn.forward(p, list(x[b]), np.zeros(6))[0] for b in range(B)])
        parts = [rnn.loss_and_grads(p, list(x[b]), list(y[b]), np.zeros(6)) for b in range(B)]
        np_loss = sum(part[0] for part in parts)
        g = {k: sum(part[1][k] for part in parts) for k in p}
        grads = bridge.rnn_grads_to_torch(g, model)
    else:
        p = bridge.lstm_params_from_torch(model)
        np_logits = lstm.forward(p, x)[0]
        np_loss, g, _ = lstm.loss_and_grads(p, x, y)
        grads = bridge.lstm_grads_to_torch(g, model)
    name = f"{kind} x{layers} vs PyTorch"
    out = [
        Check(f"{name}: logits", float(np.abs(np_logits - logits.detach().numpy()).max()), 1e-9),
        Check(f"{name}: loss", abs(np_loss - loss.item()), 1e-9),
    ]
    for n, prm in model.named_parameters():
        out.append(Check(f"{name}: d {n}", float(np.abs(grads[n] - prm.grad.numpy()).max()), 1e-9))
    return out


def all_checks() -> list[Check]:
    return gradient_checks() + torch_agreement("rnn", 1) + torch_agreement("lstm", 2)
