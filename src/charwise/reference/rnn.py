"""A minimal character-level vanilla RNN in plain numpy: the post's min-char-rnn, restated.

One-hot input x_t (V,), hidden h_t (H,), output distribution p_t (V,):

    h_t = tanh(Wxh x_t + Whh h_{t-1} + bh)
    y_t = Why h_t + by                  (logits)
    p_t = softmax(y_t)                  loss = -sum_t log p_t[target_t]

Backpropagation through time by hand, Adagrad, gradients clipped to [-5, 5], and sampling.
Everything is float64 so that finite differences can check the gradients.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from ..errors import CharwiseError
from ..fields import option, require, validate

Params = dict[str, np.ndarray]  # Wxh (H, V), Whh (H, H), Why (V, H), bh (H,), by (V,)
NAMES = ("Wxh", "Whh", "Why", "bh", "by")


def init_params(vocab_size: int, hidden: int, rng: np.random.Generator) -> Params:
    """Small random weights (std 0.01, as in the gist) and zero biases."""
    return {
        "Wxh": rng.standard_normal((hidden, vocab_size)) * 0.01,
        "Whh": rng.standard_normal((hidden, hidden)) * 0.01,
        "Why": rng.standard_normal((vocab_size, hidden)) * 0.01,
        "bh": np.zeros(hidden),
        "by": np.zeros(vocab_size),
    }


def forward(p: Params, inputs: list[int], h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """inputs: T ids, h0: (H,) -> logits (T, V) and hidden states hs (T+1, H) with hs[0] = h0."""
    T = len(inputs)
    hs = np.zeros((T + 1, len(h0)))
    hs[0] = h0
    for t, ix in enumerate(inputs):
        # Wxh @ one_hot(ix) is just column ix of Wxh.
        hs[t + 1] = np.tanh(p["Wxh"][:, ix] + p["Whh"] @ hs[t] + p["bh"])
    logits = hs[1:] @ p["Why"].T + p["by"]
    return logits, hs


def softmax(y: np.ndarray) -> np.ndarray:
    e = np.exp(y - y.max(axis=-1, keepdims=True))  # shift for numerical safety
    return e / e.sum(axis=-1, keepdims=True)


def loss_and_grads(
    p: Params, inputs: list[int], targets: list[int], h0: np.ndarray
) -> tuple[float, Params, np.ndarray]:
    """-> (summed cross-entropy in nats, gradients with the params' names and shapes, last h)."""
    logits, hs = forward(p, inputs, h0)
    probs = softmax(logits)  # (T, V)
    T = len(inputs)
    loss = -float(np.log(probs[np.arange(T), targets]).sum())
    g = {k: np.zeros_like(v) for k, v in p.items()}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        dy = probs[t].copy()
        dy[targets[t]] -= 1.0  # d loss / d logits = p - one_hot(target)
        g["Why"] += np.outer(dy, hs[t + 1])
        g["by"] += dy
        dh = p["Why"].T @ dy + dh_next  # from the output and from the step after
        draw = (1.0 - hs[t + 1] ** 2) * dh  # back through tanh
        g["bh"] += draw
        g["Wxh"][:, inputs[t]] += draw
        g["Whh"] += np.outer(draw, hs[t])
        dh_next = p["Whh"].T @ draw
    return loss, g, hs[-1]


def sample(
    p: Params,
    h: np.ndarray,
    seed_ix: int,
    n: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
) -> list[int]:
    """n ids sampled one at a time, starting after character seed_ix with hidden state h."""
    out, ix = [], seed_ix
    for _ in range(n):
        h = np.tanh(p["Wxh"][:, ix] + p["Whh"] @ h + p["bh"])
        probs = softmax((p["Why"] @ h + p["by"]) / temperature)
        ix = int(rng.choice(len(probs), p=probs))
        out.append(ix)
    return out


def adagrad(p: Params, g: Params, memory: Params, lr: float, clip: float = 5.0) -> None:
    """In place: clip each gradient to [-clip, clip] (against exploding gradients), then Adagrad."""
    for k in p:
        np.clip(g[k], -clip, clip, out=g[k])
        memory[k] += g[k] * g[k]
        p[k] -= lr * g[k] / np.sqrt(memory[k] + 1e-8)


@dataclass(frozen=True)
class RNNTrainConfig:
    hidden: int = option(100, ge=1)  # the gist's size
    seq_len: int = option(25, ge=1)  # characters per truncated-BPTT window
    lr: float = option(0.1, gt=0)  # Adagrad's step size
    steps: int = option(1000, ge=1)  # windows to train on
    sample_every: int = option(100, ge=1)  # steps between reports (and samples)
    sample_length: int = option(200, ge=0)  # characters per sample; 0: the loss only
    # inf is kept, as in charwise sample: logits / inf = 0 samples uniformly.
    temperature: float = option(1.0, gt=0, allow_inf=True)  # sampling temperature
    seed: int = option(0, seed=True)  # the same seed gives the same run

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class Report:
    step: int
    smooth_loss: float  # exponential moving average of the per-window loss, nats (as the gist)
    sample: list[int]


class RNNTrainer:
    """The gist's loop: a pointer walks through the text in seq_len windows.

    A window reads seq_len + 1 characters. fit_seq_len shortens a seq_len the text cannot fill
    (for a default the user did not choose); otherwise such a seq_len is an error."""

    def __init__(
        self, ids: np.ndarray, vocab_size: int, cfg: RNNTrainConfig, *, fit_seq_len: bool = False
    ):
        if len(ids) < 2:
            raise CharwiseError("the text is too short to train on: it needs at least 2 characters")
        if fit_seq_len:
            cfg = replace(cfg, seq_len=min(cfg.seq_len, len(ids) - 1))
        require(
            cfg.seq_len + 1 <= len(ids),
            "seq_len",
            f"{{seq_len}} {cfg.seq_len} needs a text of at least {cfg.seq_len + 1} characters; "
            f"this one has {len(ids)}",
        )
        self.ids, self.V = [int(i) for i in ids], vocab_size
        self.cfg = cfg
        self.rng = np.random.default_rng(cfg.seed)
        self.params = init_params(vocab_size, cfg.hidden, self.rng)
        self.memory = {k: np.zeros_like(v) for k, v in self.params.items()}

    def run(self) -> Iterator[Report]:
        """Train, yielding a Report every `sample_every` steps and at the last step."""
        cfg, data = self.cfg, self.ids
        smooth = -np.log(1.0 / self.V) * cfg.seq_len  # the loss of a uniform guess
        pos, h = 0, np.zeros(cfg.hidden)
        for step in range(1, cfg.steps + 1):
            if pos + cfg.seq_len + 1 > len(data):  # wrap around: start again with a fresh state
                pos, h = 0, np.zeros(cfg.hidden)
            inputs, targets = data[pos : pos + cfg.seq_len], data[pos + 1 : pos + cfg.seq_len + 1]
            loss, g, h = loss_and_grads(self.params, inputs, targets, h)
            adagrad(self.params, g, self.memory, cfg.lr)
            smooth = smooth * 0.999 + loss * 0.001
            pos += cfg.seq_len
            if step % cfg.sample_every == 0 or step == cfg.steps:
                text = sample(
                    self.params, h.copy(), inputs[-1], cfg.sample_length, self.rng, cfg.temperature
                )
                yield Report(step, float(smooth), text)
