"""Moving weights and gradients between charwise's PyTorch CharRNN and the numpy references.

PyTorch's model has an embedding E (V, Emb) before the recurrent layer; min-char-rnn takes one-hot
inputs instead. They compute the same function with Wxh = W_ih @ E^T (H, V) (a one-hot times E is
a row of E), and by the chain rule dW_ih = dWxh @ E and dE = dWxh^T @ W_ih. PyTorch keeps two
biases (b_ih, b_hh) where the references keep one: their sum, whose gradient both receive.
The LSTM's gates are ordered (i, f, g, o) in PyTorch and (i, f, o, g) in the reference.
"""

from __future__ import annotations

import numpy as np

from ..errors import CharwiseError

Arrays = dict[str, np.ndarray]


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def _gate_perm(H: int) -> np.ndarray:
    """Rows of PyTorch's (i, f, g, o) that make the reference's (i, f, o, g)."""
    return np.concatenate([np.arange(0, 2 * H), np.arange(3 * H, 4 * H), np.arange(2 * H, 3 * H)])


def rnn_params_from_torch(model) -> Arrays:
    """A one-layer CharRNN of kind "rnn" -> min-char-rnn's Wxh, Whh, Why, bh, by (float64)."""
    cfg = model.cfg
    if cfg.kind != "rnn" or cfg.layers != 1 or model.written_out or cfg.tie_embedding:
        raise CharwiseError(
            "min-char-rnn is a one-layer vanilla RNN: use kind 'rnn', 1 layer, no cell variant, "
            "no tied embedding"
        )
    w_ih, w_hh, b_ih, b_hh = (_np(t) for t in model.layer_weights(0))
    E = _np(model.embed.weight)
    return {
        "Wxh": w_ih @ E.T,
        "Whh": w_hh,
        "Why": _np(model.head.weight),
        "bh": b_ih + b_hh,
        "by": _np(model.head.bias),
    }


def rnn_grads_to_torch(g: Arrays, model) -> Arrays:
    """min-char-rnn gradients -> gradients of the CharRNN's parameters, by PyTorch name."""
    w_ih, *_ = (_np(t) for t in model.layer_weights(0))
    E = _np(model.embed.weight)
    return {
        "embed.weight": g["Wxh"].T @ w_ih,
        "rnn.weight_ih_l0": g["Wxh"] @ E,
        "rnn.weight_hh_l0": g["Whh"],
        "rnn.bias_ih_l0": g["bh"],
        "rnn.bias_hh_l0": g["bh"],
        "head.weight": g["Why"],
        "head.bias": g["by"],
    }


def lstm_params_from_torch(model) -> Arrays:
    """A CharRNN of kind "lstm" (any number of layers) -> the reference character LSTM."""
    cfg = model.cfg
    if cfg.kind != "lstm" or model.written_out or cfg.tie_embedding:
        raise CharwiseError(
            "the reference LSTM needs a model of kind 'lstm' (no cell variant, no tied embedding)"
        )
    perm = _gate_perm(cfg.hidden)
    p = {"embed": _np(model.embed.weight)}
    for k in range(cfg.layers):
        w_ih, w_hh, b_ih, b_hh = (_np(t)[perm] for t in model.layer_weights(k))
        p[f"W{k}"] = np.concatenate([(b_ih + b_hh)[None, :], w_ih.T, w_hh.T], axis=0)
    p["head_w"], p["head_b"] = _np(model.head.weight), _np(model.head.bias)
    return p


def lstm_grads_to_torch(g: Arrays, model) -> Arrays:
    """Reference LSTM gradients -> gradients of the CharRNN's parameters, by PyTorch name."""
    cfg = model.cfg
    perm = _gate_perm(cfg.hidden)
    out = {"embed.weight": g["embed"], "head.weight": g["head_w"], "head.bias": g["head_b"]}
    for k in range(cfg.layers):
        W = g[f"W{k}"]
        n_in = W.shape[0] - 1 - cfg.hidden
        parts = {
            "bias_ih": W[0],
            "bias_hh": W[0],
            "weight_ih": W[1 : 1 + n_in].T,
            "weight_hh": W[1 + n_in :].T,
        }
        for name, val in parts.items():
            torch_order = np.empty_like(val)
            torch_order[perm] = val  # undo the gate reordering
            out[f"rnn.{name}_l{k}"] = torch_order
    return out
