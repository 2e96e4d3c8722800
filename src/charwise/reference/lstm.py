"""A batched LSTM in plain numpy with a hand-written backward pass, and a character model on it.

The layer follows the post's companion gist (lstm.py): one weight matrix W of shape (1 + D + H, 4H)
whose first row is the bias, applied to [1, x_t, h_{t-1}]; gates in the order i, f, o, g so that
one sigmoid covers the first 3H columns and one tanh the last H:

    i, f, o = sigmoid(.), g = tanh(.)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)

The character model is the same network as charwise's PyTorch CharRNN (kind "lstm"):
embedding (V, E) -> L LSTM layers -> linear head (V, H), with the loss summed over all B*T targets.
Arrays are time-major inside the layer: X (T, B, D). Everything is float64.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..fields import option, require, validate
from .rnn import Report

Params = dict[str, np.ndarray]  # embed (V, E), W0..W{L-1} (1+in+H, 4H), head_w (V, H), head_b (V,)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lstm_init(input_size: int, hidden: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + D + H, 4H) weights, scaled by 1/sqrt(D + H); forget-gate bias 1 so cells remember."""
    W = rng.standard_normal((1 + input_size + hidden, 4 * hidden)) / np.sqrt(input_size + hidden)
    W[0] = 0.0
    W[0, hidden : 2 * hidden] = 1.0
    return W


def lstm_forward(X: np.ndarray, W: np.ndarray, c0: np.ndarray, h0: np.ndarray):
    """X (T, B, D), W (1+D+H, 4H), c0 and h0 (B, H) -> Hout (T, B, H), cT, hT (B, H), cache."""
    T, B, D = X.shape
    H = W.shape[1] // 4
    Hin = np.zeros((T, B, 1 + D + H))  # [1, x_t, h_{t-1}] for every step
    gates = np.zeros((T, B, 4 * H))  # after the nonlinearities: i, f, o, g
    C = np.zeros((T, B, H))
    Ct = np.zeros((T, B, H))  # tanh(c_t)
    Hout = np.zeros((T, B, H))
    for t in range(T):
        prev_h = Hout[t - 1] if t > 0 else h0
        prev_c = C[t - 1] if t > 0 else c0
        Hin[t, :, 0] = 1.0
        Hin[t, :, 1 : 1 + D] = X[t]
        Hin[t, :, 1 + D :] = prev_h
        z = Hin[t] @ W  # (B, 4H)
        gates[t, :, : 3 * H] = sigmoid(z[:, : 3 * H])
        gates[t, :, 3 * H :] = np.tanh(z[:, 3 * H :])
        i, f, o, g = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
        C[t] = f * prev_c + i * g
        Ct[t] = np.tanh(C[t])
        Hout[t] = o * Ct[t]
    cache = (W, Hin, gates, C, Ct, c0, D)
    return Hout, C[-1].copy(), Hout[-1].copy(), cache


def lstm_backward(
    dHout: np.ndarray, cache, dcT: np.ndarray | None = None, dhT: np.ndarray | None = None
):
    """dHout (T, B, H) (+ gradients on the final state) -> dX (T, B, D), dW, dc0, dh0 (B, H)."""
    W, Hin, gates, C, Ct, c0, D = cache
    T, B, _ = dHout.shape
    H = W.shape[1] // 4
    dHout = dHout.copy()
    if dhT is not None:
        dHout[-1] += dhT
    dW, dX = np.zeros_like(W), np.zeros((T, B, D))
    dc = np.zeros((B, H)) if dcT is None else dcT.copy()  # gradient on c_t, flowing back
    dh0 = np.zeros((B, H))
    for t in reversed(range(T)):
        i, f, o, g = (gates[t, :, k * H : (k + 1) * H] for k in range(4))
        prev_c = C[t - 1] if t > 0 else c0
        do = Ct[t] * dHout[t]
        dc = dc + (1.0 - Ct[t] ** 2) * o * dHout[t]  # through h_t = o * tanh(c_t)
        di, df, dg = g * dc, prev_c * dc, i * dc
        # back through the nonlinearities: sigmoid' = y (1 - y), tanh' = 1 - y^2
        dz = np.concatenate(
            [di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g**2)], axis=1
        )  # (B, 4H)
        dW += Hin[t].T @ dz
        dHin = dz @ W.T  # (B, 1 + D + H)
        dX[t] = dHin[:, 1 : 1 + D]
        if t > 0:
            dHout[t - 1] += dHin[:, 1 + D :]
        else:
            dh0 = dHin[:, 1 + D :]
        dc = f * dc  # c_{t-1}'s share of c_t
    return dX, dW, dc, dh0


# -- the character model ------------------------------------------------------------------------
def init_params(
    vocab_size: int, embed: int, hidden: int, layers: int, rng: np.random.Generator
) -> Params:
    p = {"embed": rng.standard_normal((vocab_size, embed))}
    for k in range(layers):
        p[f"W{k}"] = lstm_init(embed if k == 0 else hidden, hidden, rng)
    p["head_w"] = rng.standard_normal((vocab_size, hidden)) / np.sqrt(hidden)
    p["head_b"] = np.zeros(vocab_size)
    return p


def num_layers(p: Params) -> int:
    return sum(1 for k in p if k.startswith("W"))


def zero_state(p: Params, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """(h, c): (L, B, H) zeros."""
    L, H = num_layers(p), p["head_w"].shape[1]
    return np.zeros((L, batch, H)), np.zeros((L, batch, H))


def forward(p: Params, x: np.ndarray, state=None):
    """x (B, T) ids -> logits (B, T, V), new state (h, c) each (L, B, H), cache for backward."""
    h0, c0 = state if state is not None else zero_state(p, x.shape[0])
    inp = p["embed"][x.T]  # (T, B, E)
    caches, hs, cs = [], [], []
    for k in range(num_layers(p)):
        inp, cT, hT, cache = lstm_forward(inp, p[f"W{k}"], c0[k], h0[k])
        caches.append(cache)
        hs.append(hT)
        cs.append(cT)
    logits = inp @ p["head_w"].T + p["head_b"]  # (T, B, V)
    return logits.transpose(1, 0, 2), (np.stack(hs), np.stack(cs)), (x, inp, caches)


def loss_and_grads(p: Params, x: np.ndarray, y: np.ndarray, state=None):
    """x, y (B, T) ids -> (summed cross-entropy in nats, gradients like p, new state)."""
    logits, new_state, (x, top, caches) = forward(p, x, state)
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))  # (B, T, V)
    B, T = y.shape
    loss = -float(logp[np.arange(B)[:, None], np.arange(T)[None, :], y].sum())
    dlogits = np.exp(logp)
    dlogits[np.arange(B)[:, None], np.arange(T)[None, :], y] -= 1.0  # softmax - one_hot
    dlogits = dlogits.transpose(1, 0, 2)  # (T, B, V)
    g = {"head_w": np.einsum("tbv,tbh->vh", dlogits, top), "head_b": dlogits.sum((0, 1))}
    d = dlogits @ p["head_w"]  # (T, B, H) into the top layer's outputs
    for k in reversed(range(num_layers(p))):
        d, g[f"W{k}"], _, _ = lstm_backward(d, caches[k])
    g["embed"] = np.zeros_like(p["embed"])
    np.add.at(g["embed"], x.T, d)  # each input row collects the gradient of its character
    return loss, g, new_state


# -- training and sampling ----------------------------------------------------------------------
def sample(
    p: Params, start: int, n: int, rng: np.random.Generator, temperature: float = 1.0, state=None
) -> list[int]:
    """n ids sampled one at a time after character `start` (batch of one)."""
    out, x = [], start
    for _ in range(n):
        logits, state, _ = forward(p, np.array([[x]]), state)
        z = logits[0, 0] / temperature
        probs = np.exp(z - z.max())
        x = int(rng.choice(len(probs), p=probs / probs.sum()))
        out.append(x)
    return out


@dataclass(frozen=True)
class LSTMTrainConfig:
    hidden: int = option(64, ge=1)  # small: numpy runs one BLAS call per step and gate
    layers: int = option(1, ge=1)  # stacked LSTM layers
    embed: int = option(16, ge=1)  # embedding width
    batch_size: int = option(16, ge=1)  # parallel streams through the text
    seq_len: int = option(32, ge=1)  # truncated-BPTT window (state carried between windows)
    lr: float = option(3e-3, gt=0)  # Adam's step size
    steps: int = option(500, ge=1)  # optimizer steps
    sample_every: int = option(100, ge=1)  # steps between reports (and samples)
    sample_length: int = option(200, ge=0)  # characters per sample; 0: the loss only
    temperature: float = option(1.0, gt=0, allow_inf=True)  # sampling temperature
    seed: int = option(0, seed=True)  # the same seed gives the same run

    def __post_init__(self) -> None:
        validate(self)


class LSTMTrainer:
    """B streams start at evenly spaced points of the text and advance seq_len per step, their
    state carried (truncated BPTT); Adam with the loss averaged per character; gradient norm
    clipped at 5.

    Each stream reads seq_len + 1 characters per window. fit_seq_len shortens a seq_len the text
    cannot fill (for a default the user did not choose); otherwise such a seq_len is an error."""

    def __init__(
        self, ids: np.ndarray, vocab_size: int, cfg: LSTMTrainConfig, *, fit_seq_len: bool = False
    ):
        B, span = cfg.batch_size, len(ids) // cfg.batch_size
        require(
            span >= 2,
            "batch_size",
            f"the text is too short for {{batch_size}} {B}: {B} streams need at least "
            f"{2 * B} characters; this text has {len(ids)}",
        )
        if fit_seq_len:
            cfg = replace(cfg, seq_len=min(cfg.seq_len, span - 1))
        require(
            cfg.seq_len + 1 <= span,
            "seq_len",
            f"{{seq_len}} {cfg.seq_len} with {{batch_size}} {B} needs a text of at least "
            f"{B * (cfg.seq_len + 1)} characters ({cfg.seq_len + 1} per stream); "
            f"this one has {len(ids)}",
        )
        self.cfg = cfg
        ids = np.asarray(ids[: span * cfg.batch_size], np.int64)
        self.streams = ids.reshape(cfg.batch_size, span)  # (B, span): stream b reads row b
        self.rng = np.random.default_rng(cfg.seed)
        self.params = init_params(vocab_size, cfg.embed, cfg.hidden, cfg.layers, self.rng)
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}

    def adam(self, g: Params, step: int, b1: float = 0.9, b2: float = 0.99) -> None:
        norm = np.sqrt(sum(float((x * x).sum()) for x in g.values()))
        scale = min(1.0, 5.0 / (norm + 1e-12))
        for k, p in self.params.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g[k] * scale
            self.v[k] = b2 * self.v[k] + (1 - b2) * (g[k] * scale) ** 2
            mhat, vhat = self.m[k] / (1 - b1**step), self.v[k] / (1 - b2**step)
            p -= self.cfg.lr * mhat / (np.sqrt(vhat) + 1e-8)

    def run(self):
        """Train, yielding (step, mean loss per char over the last window of steps, sample ids)."""
        cfg, T = self.cfg, self.cfg.seq_len
        pos, state, window = 0, None, []
        for step in range(1, cfg.steps + 1):
            if pos + T + 1 > self.streams.shape[1]:
                pos, state = 0, None
            x, y = self.streams[:, pos : pos + T], self.streams[:, pos + 1 : pos + T + 1]
            loss, g, state = loss_and_grads(self.params, x, y, state)
            n = x.size
            self.adam({k: v / n for k, v in g.items()}, step)
            window.append(loss / n)
            pos += T
            if step % cfg.sample_every == 0 or step == cfg.steps:
                text = sample(
                    self.params, int(x[0, -1]), cfg.sample_length, self.rng, cfg.temperature
                )
                yield Report(step, float(np.mean(window)), text)
                window = []
