"""Recording: run a trained CharRNN over a text, state carried, and keep per character what the
model predicted and what every cell did (the Recording's contents: recording.py). A transformer
is recorded by record_windowed.py, over sliding windows; `record` hands it there.

The recurrence runs through the written-out cells of cells.py (the fused kernels do not expose
gates); tests check that they equal nn.LSTM / nn.GRU / nn.RNN given the same weights. A layer-norm
or Mogrifier model runs its own cells (nn/variants.py), which report the same gates.

Memory is bounded: the text is processed in chunks of `chunk` characters, and with `out_dir`
every activation goes to disk as float16 `.npy` files as soon as its chunk is done (opened
later memory-mapped). See `memory_bound` for the figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import ModelConfig
from ..errors import CharwiseError
from ..nn import cells
from ..nn.model import CharRNN
from ..nn.transformer import CharTransformer
from .record_windowed import record_windowed
from .recording import (
    QUANTITIES,
    Recording,
    RecordOptions,
    Sink,
    check_quantities,
)

__all__ = [
    "QUANTITIES",
    "RecordOptions",
    "Recording",
    "memory_bound",
    "record",
    "record_text",
    "recorded_units",
]

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


def ranked_quantity(model: CharRNN | CharTransformer) -> str:
    """What interpretable cells are ranked on: the LSTM's cell state (the post's), a
    transformer's MLP units, else h."""
    return {"lstm": "c", "transformer": "mlp"}.get(model.cfg.kind, "h")


def recorded_units(cfg: ModelConfig) -> int:
    """Units a recording of a model of `cfg` shows per character, all layers together: layers x
    hidden (a transformer's MLP has 4 x its width). A viewer payload grows with units x
    characters."""
    return cfg.layers * (4 * cfg.hidden if cfg.kind == "transformer" else cfg.hidden)


def untrained_like(model: CharRNN | CharTransformer, seed: int = 0) -> CharRNN | CharTransformer:
    """A freshly initialised network of model's shape, on its device: the baseline whose
    cells show what tracking a property takes without any training (features.rank_cells)."""
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        fresh = (CharTransformer if model.cfg.kind == "transformer" else CharRNN)(model.cfg)
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
    model: CharRNN | CharTransformer,
    ids: np.ndarray,
    tokens: list[str],
    opts: RecordOptions | None = None,
) -> Recording:
    """Run `model` over ids (N,) from a zero state and record predictions and activations
    (a transformer: over sliding windows, record_windowed).

    tokens: (V,) printable form of each vocabulary id. Memory: see `memory_bound`; without
    opts.out_dir the activations are held in memory (N * L * H * 2 bytes per quantity).
    """
    opts = opts or RecordOptions()
    cfg = model.cfg
    ids = np.asarray(ids, dtype=np.int64)
    N, L, H = len(ids), cfg.layers, cfg.hidden
    if N < 1:
        raise CharwiseError("the text to inspect is empty")
    names = check_quantities(cfg.kind, opts.quantities)
    if cfg.kind == "transformer":
        return record_windowed(model, ids, tokens, opts, names)
    k = min(opts.top_k, cfg.vocab_size)
    sink = Sink(names, L, N, H, opts.out_dir)
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
    model = run.inspect_model()  # a clear error for a run without a network (an n-gram)
    ids, unknown = run.vocab.encode_array(run.vocab.symbols_of(text), strict=False)
    ids = np.asarray(ids, dtype=np.int64)[~unknown]
    if len(ids) == 0 and unknown.any():
        raise CharwiseError("none of the text's characters are in the model's vocabulary")
    tokens = [run.vocab.token(i) for i in range(run.vocab.size)]
    return record(model, ids, tokens, opts), int(unknown.sum())
