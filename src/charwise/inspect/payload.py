"""The JSON a viewer page (the HTML report, the web page) gets for one recorded text.

Activations travel as base64 int8: round(value * 127) of the display values (tanh(c) for an
LSTM's c, h and gates as they are), one (N, H) row-major block per layer, so 5,000 characters
of a 2x512 model cost about 7 MB of text per quantity.

A transformer's recording adds "attn": per block and head, the positions each character attends
to most and their weights, flattened (layers, heads, N, k) row-major (position -1: none).
"""

from __future__ import annotations

import base64
import math

import numpy as np

from ..errors import CharwiseError
from .features import Interpretability
from .recording import Recording


def quantize(a: np.ndarray) -> bytes:
    """(N, H) float in [-1, 1] -> N*H int8 bytes, 127 = 1.0."""
    return np.clip(np.rint(a * 127.0), -127, 127).astype(np.int8).tobytes()


def _num(x: float, digits: int) -> float | None:
    return None if not math.isfinite(x) else round(float(x), digits)


def viewer_payload(
    rec: Recording,
    interp: Interpretability | None = None,
    quantities: tuple[str, ...] | None = None,
) -> dict:
    """Everything the viewer script (viewer.js) needs to show `rec`."""
    qs = quantities or (rec.display_quantity,)
    bad = [q for q in qs if q not in rec.acts]
    if bad:
        raise CharwiseError(f"cannot show {', '.join(bad)}: recorded are {', '.join(rec.acts)}")
    acts = {
        q: [
            base64.b64encode(quantize(rec.display(q, layer))).decode("ascii")
            for layer in range(rec.layers)
        ]
        for q in qs
    }
    return {
        "kind": rec.kind,
        "layers": rec.layers,
        "hidden": rec.hidden,
        "n": rec.n,
        "chars": rec.chars,
        "tokens": rec.tokens,
        "k": int(rec.topk_ids.shape[1]),
        "topk_ids": rec.topk_ids.ravel().tolist(),
        "topk_p": [round(float(p), 4) for p in rec.topk_probs.ravel()],
        "p_next": [_num(p, 5) for p in rec.p_next],
        "bpc": _num(rec.bits_per_char(), 4),
        "quantities": list(qs),
        "default_quantity": qs[0],
        "acts": acts,
        "interp": interp.to_dict() if interp else None,
        "unit": rec.unit,
        "attn": attention_payload(rec),
    }


def attention_payload(rec: Recording) -> dict | None:
    """A transformer's top attended positions for the viewer (None for an RNN)."""
    if rec.attn_pos is None or rec.attn_w is None:
        return None
    L, heads, _, k = rec.attn_pos.shape
    dist = rec.attn_dist if rec.attn_dist is not None else np.zeros((L, heads))
    return {
        "layers": int(L),
        "heads": int(heads),
        "k": int(k),
        "pos": rec.attn_pos.ravel().tolist(),
        "w": [round(float(w), 3) for w in rec.attn_w.ravel()],
        "dist": [[round(float(d), 2) for d in row] for row in dist],
    }
