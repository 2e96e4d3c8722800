"""Gate saturation (Karpathy, Johnson & Fei-Fei 2015, section 4.2, Figure 3): how often each gate
unit is left-saturated (activation < 0.1) or right-saturated (> 0.9) over a text.

One point per unit, x = fraction of characters it was left-saturated, y = right-saturated, one
panel per gate and layer. The paper read off it that some LSTM forget gates are right-saturated
much of the time (cells that remember: near-perfect integrators), that no gate is left-saturated
throughout (no cell is simply off), and that the first layer's gates are rarely saturated.

Gate names and conventions are those of charwise.inspect (PyTorch's): LSTM input, forget,
output; GRU reset and update, with h_t = (1 - z) * n + z * h_{t-1}, so a GRU update gate near 1
*keeps* the old state. The paper writes h_t = (1 - z) * h_{t-1} + z * h~: its update gate is
1 - z here, and its GRU panels read with left and right swapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CharwiseError
from ..inspect.record import Recording, RecordOptions, record

# The gates of each kind (sigmoid activations in [0, 1]); the LSTM candidate and the GRU's new
# state are tanh activations, not gates, and are left out as in the paper.
GATES = {"lstm": ("input", "forget", "output"), "gru": ("reset", "update")}
BLOCK = 1 << 16  # characters per pass: bounds the float32 copy of a memory-mapped recording


@dataclass(frozen=True)
class SaturationOptions:
    low: float = 0.1  # below this a gate is left-saturated (the paper's threshold)
    high: float = 0.9  # above this a gate is right-saturated (the paper's threshold)
    often: float = 0.1  # a unit saturated more than this share of the time counts in the summary

    def __post_init__(self) -> None:
        if not 0.0 <= self.low < self.high <= 1.0:
            raise CharwiseError("saturation thresholds need 0 <= low < high <= 1")
        if not 0.0 <= self.often < 1.0:
            raise CharwiseError("the 'often' share must be in [0, 1)")


@dataclass
class GateSaturation:
    """Per gate and layer (layer 0 = the one reading the characters), per unit:
    left[(gate, layer)], right[(gate, layer)]: (H,) float64 fractions of the N characters."""

    kind: str
    layers: int
    hidden: int
    chars: int
    gates: tuple[str, ...]
    opts: SaturationOptions
    left: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    right: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """One row per (gate, layer): mean fractions, and the share of units left- /
        right-saturated more than `often` of the time and of units that are neither."""
        rows = []
        for g in self.gates:
            for k in range(self.layers):
                lf, rt = self.left[g, k], self.right[g, k]
                often = self.opts.often
                rows.append(
                    {
                        "gate": g,
                        "layer": k,
                        "mean_left": float(lf.mean()),
                        "mean_right": float(rt.mean()),
                        "share_left_often": float((lf > often).mean()),
                        "share_right_often": float((rt > often).mean()),
                        "share_unsaturated": float(((lf <= often) & (rt <= often)).mean()),
                    }
                )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, the summary and every unit's two fractions."""
        return {
            "kind": self.kind,
            "layers": self.layers,
            "hidden": self.hidden,
            "chars": self.chars,
            "low": self.opts.low,
            "high": self.opts.high,
            "often": self.opts.often,
            "summary": self.summary(),
            "units": {
                f"{g}/{k}": {"left": self.left[g, k].tolist(), "right": self.right[g, k].tolist()}
                for g in self.gates
                for k in range(self.layers)
            },
        }


def gate_saturation(
    rec: Recording, opts: SaturationOptions | None = None, gates: tuple[str, ...] | None = None
) -> GateSaturation:
    """Saturation fractions of every gate unit in a Recording of an LSTM or GRU.

    rec.acts[gate]: (L, N, H) float16, in memory or memory-mapped; read BLOCK characters at a
    time. gates: which to measure (default: all the kind's gates that the recording holds).
    Values are compared as recorded (float16: 0.1 is stored as 0.09998).
    """
    opts = opts or SaturationOptions()
    if rec.kind not in GATES:
        raise CharwiseError(f"a {rec.kind} has no gates; gate saturation needs an LSTM or a GRU")
    gates = gates or tuple(g for g in GATES[rec.kind] if g in rec.acts)
    bad = [g for g in gates if g not in GATES[rec.kind]]
    if bad:
        raise CharwiseError(
            f"a {rec.kind} has no gate {', '.join(bad)}; its gates: {', '.join(GATES[rec.kind])}"
        )
    missing = [g for g in gates if g not in rec.acts]
    if missing or not gates:
        raise CharwiseError(
            f"the recording holds no {', '.join(missing or GATES[rec.kind])} activations; "
            "record with RecordOptions(quantities=...) including the gates"
        )
    out = GateSaturation(rec.kind, rec.layers, rec.hidden, rec.n, tuple(gates), opts)
    for g in gates:
        for k in range(rec.layers):
            left = np.zeros(rec.hidden, dtype=np.int64)
            right = np.zeros(rec.hidden, dtype=np.int64)
            a = rec.act(g, k)  # (N, H)
            for t0 in range(0, rec.n, BLOCK):
                block = np.asarray(a[t0 : t0 + BLOCK], dtype=np.float32)
                left += (block < opts.low).sum(axis=0)
                right += (block > opts.high).sum(axis=0)
            out.left[g, k] = left / rec.n
            out.right[g, k] = right / rec.n
    return out


def record_gates(model, ids: np.ndarray, out_dir: str | None = None, chunk: int = 512) -> Recording:
    """Record only the gates of a CharRNN (an LSTM or GRU) over (N,) ids, from a zero state.

    In memory the gates take L * N * H * 2 bytes each (a 3x512 LSTM over 100k characters:
    3 x 307 MB); with out_dir they go to disk as float16 .npy files and are read back
    memory-mapped, so gate_saturation's working memory stays small.
    """
    kind = model.cfg.kind
    if kind not in GATES:
        raise CharwiseError(f"a {kind} has no gates; gate saturation needs an LSTM or a GRU")
    tokens = [str(i) for i in range(model.cfg.vocab_size)]  # only the gates are used
    return record(
        model,
        ids,
        tokens,
        RecordOptions(top_k=1, quantities=GATES[kind], chunk=chunk, out_dir=out_dir),
    )
