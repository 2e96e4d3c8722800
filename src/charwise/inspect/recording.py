"""What a recording holds (`Recording`), how it is asked for (`RecordOptions`) and where its
activations go while it is made (`Sink`): shared by the RNN recorder (record.py) and the
transformer's (record_windowed.py).

For character t (the state after reading it) a Recording holds:
    p_next[t]            probability the model gave the true next character (NaN for the last)
    topk_ids/probs[t]    the k most likely next characters and their probabilities
    acts[q][l, t]        quantity q of layer l, (H,): "h" (hidden state) for every RNN kind; for
                         an LSTM also "c" (cell state) and its gates "input", "forget",
                         "output", "candidate"; for a GRU its gates "reset", "update", "new";
                         for a transformer "mlp", each block's MLP units after the GELU (4D)
    attn_pos/attn_w      a transformer's attention only: (L, heads, N, k) the k positions each
                         head of each block attends to most from character t, and their
                         weights; attn_dist (L, heads) how far back each head looks on average
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import CharwiseError
from ..fields import option, validate

QUANTITIES = {
    "lstm": ("h", "c", "input", "forget", "output", "candidate"),
    "gru": ("h", "reset", "update", "new"),
    "rnn": ("h",),
    "transformer": ("mlp",),
}
# Unbounded quantities, shown (and correlated) as tanh(value) so they fit the viewer's [-1, 1]
# like the RNNs' h and gates; the LSTM's c as in the post.
TANH_SHOWN = ("c", "mlp")


@dataclass(frozen=True)
class RecordOptions:
    top_k: int = option(5, ge=1)  # next-character guesses kept per character (the post: 5)
    quantities: tuple[str, ...] | None = None  # which activations to keep; None: all the kind has
    chunk: int = option(512, ge=1)  # characters per processing chunk: bounds the working memory
    out_dir: str | None = None  # write activations here as float16 .npy (memory-mapped later)
    # A transformer's windows move by this many characters (None: block // 2, as `eval`
    # scores; 1: every character read with a full block of context, block times the work).
    stride: int | None = option(None, ge=1)
    attn_top: int = option(5, ge=1)  # a transformer's attended positions kept per head

    def __post_init__(self) -> None:
        validate(self)


def check_quantities(kind: str, names: tuple[str, ...] | None) -> tuple[str, ...]:
    """The quantities to record (None: all the kind has); CharwiseError for one it lacks."""
    names = tuple(names or QUANTITIES[kind])
    bad = [q for q in names if q not in QUANTITIES[kind]]
    if bad:
        raise CharwiseError(
            f"a {kind} has no {', '.join(bad)}; choose from {', '.join(QUANTITIES[kind])}"
        )
    return names


@dataclass
class Recording:
    """What a model did over a text of N characters (see the module docstring)."""

    kind: str  # lstm | gru | rnn | transformer
    layers: int
    hidden: int  # units per layer of the recorded quantities (a transformer's: 4 x its width)
    ids: np.ndarray  # (N,) int64
    chars: list[str]  # (N,) printable character per position
    tokens: list[str]  # (V,) printable character per vocabulary id
    p_next: np.ndarray  # (N,) float32, NaN at N-1
    topk_ids: np.ndarray  # (N, k) int32
    topk_probs: np.ndarray  # (N, k) float32
    acts: dict[str, np.ndarray] = field(default_factory=dict)  # q -> (L, N, H) float16
    path: Path | None = None  # where the activations live on disk, if they do
    attn_pos: np.ndarray | None = None  # (L, heads, N, k) int32, -1 where t has < k before it
    attn_w: np.ndarray | None = None  # (L, heads, N, k) float32, 0 where attn_pos is -1
    attn_dist: np.ndarray | None = None  # (L, heads) float32 mean distance each head looks back

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def unit(self) -> str:
        """What one recorded unit is called in reports: an RNN's cell, a transformer's unit."""
        return "unit" if self.kind == "transformer" else "cell"

    def act(self, quantity: str, layer: int) -> np.ndarray:
        """(N, H) float16 activations of one quantity of one layer."""
        if quantity not in self.acts:
            raise CharwiseError(
                f"this recording has no {quantity!r}; it has {', '.join(self.acts)}"
            )
        if not 0 <= layer < self.layers:
            raise CharwiseError(f"layer {layer} out of range (the model has {self.layers})")
        return self.acts[quantity][layer]

    @property
    def display_quantity(self) -> str:
        """The quantity the post coloured text by: the LSTM cell state, else the hidden state
        (a transformer: its MLP units)."""
        for q in ("c", "mlp"):
            if q in self.acts:
                return q
        return "h"

    def display(self, quantity: str, layer: int) -> np.ndarray:
        """(N, H) float32 in [-1, 1] (gates in [0, 1]): c and mlp are shown as tanh(value)."""
        a = self.act(quantity, layer).astype(np.float32)
        return np.tanh(a) if quantity in TANH_SHOWN else a

    def bits_per_char(self) -> float:
        """Mean -log2 p(true next character) over the text (the model's loss on it)."""
        p = self.p_next[:-1].astype(np.float64)
        return float(-np.log2(np.maximum(p, 1e-30)).mean()) if len(p) else math.nan


class Sink:
    """Where finished chunks go: float16 arrays in memory, or .npy files written chunk by chunk
    (only the current chunk is ever in memory)."""

    def __init__(self, names: tuple[str, ...], L: int, N: int, H: int, out_dir: str | None):
        self.shape, self.names = (L, N, H), names
        self.dir = Path(out_dir) if out_dir else None
        self.arrays: dict[str, np.ndarray] = {}
        self.offsets: dict[str, int] = {}
        for q in names:
            if self.dir is None:
                self.arrays[q] = np.zeros(self.shape, dtype=np.float16)
            else:
                self.dir.mkdir(parents=True, exist_ok=True)
                mm = np.lib.format.open_memmap(
                    self.dir / f"{q}.npy", mode="w+", dtype=np.float16, shape=self.shape
                )
                self.offsets[q] = mm.offset
                del mm  # a sparse file; chunks are written with plain file writes below

    def write(self, q: str, layer: int, t0: int, block: torch.Tensor) -> None:
        """block: (T, H) float -> rows t0..t0+T of layer `layer` of quantity q."""
        arr = block.to("cpu", torch.float16).numpy()
        if self.dir is None:
            self.arrays[q][layer, t0 : t0 + len(arr)] = arr
            return
        _, N, H = self.shape
        with open(self.dir / f"{q}.npy", "r+b") as f:
            f.seek(self.offsets[q] + (layer * N + t0) * H * 2)
            f.write(arr.tobytes())

    def result(self) -> dict[str, np.ndarray]:
        if self.dir is None:
            return self.arrays
        return {q: np.load(self.dir / f"{q}.npy", mmap_mode="r") for q in self.names}
