"""Recording: run a trained CharRNN over a text, state carried, and keep per character what the
model predicted and what every cell did.

For character t (the state after reading it) a Recording holds:
    p_next[t]            probability the model gave the true next character (NaN for the last)
    topk_ids/probs[t]    the k most likely next characters and their probabilities
    acts[q][l, t]        quantity q of layer l, (H,): "h" (hidden state) for every kind; for an
                         LSTM also "c" (cell state) and its gates "input", "forget", "output",
                         "candidate"; for a GRU its gates "reset", "update", "new".

The recurrence runs through the written-out cells of cells.py (the fused kernels do not expose
gates); tests check that they equal nn.LSTM / nn.GRU / nn.RNN given the same weights. A layer-norm
or Mogrifier model runs its own cells (nn/variants.py), which report the same gates.

Memory is bounded: the text is processed in chunks of `chunk` characters, and with `out_dir`
every activation goes to disk as float16 `.npy` files as soon as its chunk is done (opened
later memory-mapped). See `memory_bound` for the figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import CharwiseError
from ..fields import option, validate
from ..nn import cells
from ..nn.model import CharRNN

QUANTITIES = {
    "lstm": ("h", "c", "input", "forget", "output", "candidate"),
    "gru": ("h", "reset", "update", "new"),
    "rnn": ("h",),
}
# cells.py's gate names -> the names a Recording uses ("cell" is the LSTM's candidate g, which
# would be confused with the cell state c).
_GATE_NAMES = {
    "input": "input",
    "forget": "forget",
    "output": "output",
    "cell": "candidate",
    "reset": "reset",
    "update": "update",
    "new": "new",
}


@dataclass(frozen=True)
class RecordOptions:
    top_k: int = option(5, ge=1)  # next-character guesses kept per character (the post: 5)
    quantities: tuple[str, ...] | None = None  # which activations to keep; None: all the kind has
    chunk: int = option(512, ge=1)  # characters per processing chunk: bounds the working memory
    out_dir: str | None = None  # write activations here as float16 .npy (memory-mapped later)

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class Recording:
    """What a model did over a text of N characters (see the module docstring)."""

    kind: str  # lstm | gru | rnn
    layers: int
    hidden: int
    ids: np.ndarray  # (N,) int64
    chars: list[str]  # (N,) printable character per position
    tokens: list[str]  # (V,) printable character per vocabulary id
    p_next: np.ndarray  # (N,) float32, NaN at N-1
    topk_ids: np.ndarray  # (N, k) int32
    topk_probs: np.ndarray  # (N, k) float32
    acts: dict[str, np.ndarray] = field(default_factory=dict)  # q -> (L, N, H) float16
    path: Path | None = None  # where the activations live on disk, if they do

    @property
    def n(self) -> int:
        return len(self.ids)

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
        """The quantity the post coloured text by: the LSTM cell state, else the hidden state."""
        return "c" if "c" in self.acts else "h"

    def display(self, quantity: str, layer: int) -> np.ndarray:
        """(N, H) float32 in [-1, 1] (gates in [0, 1]): c is shown as tanh(c), as in the post."""
        a = self.act(quantity, layer).astype(np.float32)
        return np.tanh(a) if quantity == "c" else a

    def bits_per_char(self) -> float:
        """Mean -log2 p(true next character) over the text (the model's loss on it)."""
        p = self.p_next[:-1].astype(np.float64)
        return float(-np.log2(np.maximum(p, 1e-30)).mean()) if len(p) else math.nan


def ranked_quantity(model: CharRNN) -> str:
    """What interpretable cells are ranked on: the LSTM's cell state (the post's), else h."""
    return "c" if model.cfg.kind == "lstm" else "h"


def untrained_like(model: CharRNN, seed: int = 0) -> CharRNN:
    """A freshly initialised network of model's shape, on its device: the baseline whose
    cells show what tracking a property takes without any training (features.rank_cells)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        fresh = CharRNN(model.cfg)
    finally:
        torch.random.set_rng_state(gen_state)  # the caller's random stream is left as it was
    return fresh.to(model.head.weight.device).eval()


def memory_bound(layers: int, hidden: int, gates: int, chunk: int, top_k: int, n: int) -> int:
    """Bytes of working memory `record(..., out_dir=...)` needs beyond the model itself.

    Per chunk: (2 + gates) float32 (chunk, hidden) tensors for each layer (h, c and the gates),
    their float16 copies and the (chunk, G*H) input projection; per character: p_next (4 bytes),
    the ids (8) and the top-k ids and probabilities (8 per guess). Activations themselves go to
    disk, so for 100k characters of a 3x512 LSTM with chunk 512 this is about 40 MB, not the
    3.7 GB its float32 activations would take (on disk they take 1.8 GB as float16).
    """
    per_chunk = layers * chunk * hidden * (2 + gates) * (4 + 2) + chunk * hidden * gates * 4
    return per_chunk + n * (4 + 8 + 8 * top_k)


class _Sink:
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


@torch.inference_mode()
def _layer_over_chunk(
    model: CharRNN, k: int, inp: torch.Tensor, state: list[torch.Tensor], want: set[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Layer k over a chunk: inp (T, in) -> outputs (T, H) and {quantity: (T, H)}; state[k]
    ((1, H) h, and c for an LSTM) is advanced in place."""
    kind = model.cfg.kind
    w_ih, w_hh, b_ih, b_hh = model.layer_weights(k)
    variant = model.extras[k] if model.written_out else None
    # (T, G*H): the input term of every step at once; a variant takes its raw input (T, in)
    # and makes the term itself (a Mogrifier gates x with each step's h first)
    gx = inp if variant is not None else F.linear(inp, w_ih, b_ih)
    h = state[0][k]
    c = state[1][k] if kind == "lstm" else None
    hs, cs, gates = [], [], {g: [] for g in _GATE_NAMES.values() if g in want}
    for t in range(gx.shape[0]):
        if variant is not None:
            h, c, g = variant.step(gx[t : t + 1], h, c, (w_ih, w_hh, b_ih, b_hh))
            if c is not None:
                cs.append(c)
        elif kind == "lstm":
            h, c, g = cells.lstm_cell(gx[t : t + 1], h, c, w_hh, b_hh)
            cs.append(c)
        elif kind == "gru":
            h, g = cells.gru_cell(gx[t : t + 1], h, w_hh, b_hh)
        else:
            h, g = cells.rnn_cell(gx[t : t + 1], h, w_hh, b_hh)
        hs.append(h)
        for name, v in g.items():
            if _GATE_NAMES[name] in gates:
                gates[_GATE_NAMES[name]].append(v)
    state[0][k] = h
    if c is not None:
        state[1][k] = c
    out = {"h": torch.cat(hs)}
    if cs:
        out["c"] = torch.cat(cs)
    out.update({name: torch.cat(v) for name, v in gates.items()})
    return out["h"], out


def record(
    model: CharRNN, ids: np.ndarray, tokens: list[str], opts: RecordOptions | None = None
) -> Recording:
    """Run `model` over ids (N,) from a zero state and record predictions and activations.

    tokens: (V,) printable form of each vocabulary id. Memory: see `memory_bound`; without
    opts.out_dir the activations are held in memory (N * L * H * 2 bytes per quantity).
    """
    opts = opts or RecordOptions()
    cfg = model.cfg
    ids = np.asarray(ids, dtype=np.int64)
    N, L, H = len(ids), cfg.layers, cfg.hidden
    if N < 1:
        raise CharwiseError("the text to inspect is empty")
    names = opts.quantities or QUANTITIES[cfg.kind]
    bad = [q for q in names if q not in QUANTITIES[cfg.kind]]
    if bad:
        raise CharwiseError(
            f"a {cfg.kind} has no {', '.join(bad)}; choose from {', '.join(QUANTITIES[cfg.kind])}"
        )
    k = min(opts.top_k, cfg.vocab_size)
    sink = _Sink(tuple(names), L, N, H, opts.out_dir)
    p_next = np.full(N, np.nan, dtype=np.float32)
    topk_ids = np.zeros((N, k), dtype=np.int32)
    topk_probs = np.zeros((N, k), dtype=np.float32)
    device = model.head.weight.device
    was_training = model.training
    model.eval()
    state = [list(s.unbind(0)) for s in model.init_state(1, device)]  # [h or c][layer]: (1, H)
    state = [[s.clone() for s in part] for part in state]
    with torch.inference_mode():
        for t0 in range(0, N, opts.chunk):
            x = torch.from_numpy(ids[t0 : t0 + opts.chunk]).to(device)
            inp = model.embed(x)  # (T, E)
            for layer in range(L):
                inp, outs = _layer_over_chunk(model, layer, inp, state, set(names))
                for q in names:
                    sink.write(q, layer, t0, outs[q])
            probs = F.softmax(model.head(inp).float(), dim=-1)  # (T, V): next-char distribution
            T = probs.shape[0]
            tp, ti = probs.topk(k, dim=-1)
            topk_ids[t0 : t0 + T] = ti.cpu().numpy()
            topk_probs[t0 : t0 + T] = tp.cpu().numpy()
            nxt = torch.from_numpy(ids[t0 + 1 : t0 + T + 1]).to(device)  # true next characters
            p_next[t0 : t0 + len(nxt)] = probs[torch.arange(len(nxt)), nxt].cpu().numpy()
    model.train(was_training)
    return Recording(
        cfg.kind,
        L,
        H,
        ids,
        [tokens[i] for i in ids],
        list(tokens),
        p_next,
        topk_ids,
        topk_probs,
        sink.result(),
        Path(opts.out_dir) if opts.out_dir else None,
    )


def record_text(run, text: str, opts: RecordOptions | None = None) -> tuple[Recording, int]:
    """Record a loaded run over `text`. Characters outside the vocabulary are left out; returns
    the recording and how many were left out."""
    model = run.network()  # a clear error for a run without cells (an n-gram)
    ids, unknown = run.vocab.encode_array(run.vocab.symbols_of(text), strict=False)
    ids = np.asarray(ids, dtype=np.int64)[~unknown]
    if len(ids) == 0 and unknown.any():
        raise CharwiseError("none of the text's characters are in the model's vocabulary")
    tokens = [run.vocab.token(i) for i in range(run.vocab.size)]
    return record(model, ids, tokens, opts), int(unknown.sum())
