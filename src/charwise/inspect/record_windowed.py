"""Recording a transformer (CharTransformer) over a text: predictions, MLP units and attention.

A transformer has no state to carry, so the text is read in windows of its context (`block`)
moved `stride` characters at a time (block / 2 by default), the windows `charwise eval` scores
with (use/windowed.windows): each character is recorded from the one window that predicts what
follows it, where it has at least block - stride characters of context (or all the text before
it, near the start). So the recording's bits/char is `eval`'s on the same text.

Per character t, per block l (see recording.py):
    acts["mlp"][l, t]   the block's MLP units after the GELU, (4D,): the units with a privileged
                        basis (an elementwise nonlinearity), the nearest thing to an RNN's cells;
                        the residual stream has none, so its single coordinates mean little
    attn_pos/attn_w     per head, the `attn_top` positions of the text t attends to most and
                        their weights, from the model's own attention (its forward with the
                        attention written out: CharTransformer.forward(probes=...))
    attn_dist[l, h]     the mean over t of head h's expected distance back, sum_j w[t, j] (t - j)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..nn.transformer import CharTransformer
from ..use.windowed import windows
from .recording import Recording, RecordOptions, Sink

# Attention weights held per batch of windows (B * layers * heads * block^2 float32 bytes).
_ATTN_BYTES = 64 * 2**20


class _Out:
    """The per-character arrays of a recording, filled window by window."""

    def __init__(self, N: int, k: int, L: int, heads: int, top: int):
        self.p_next = np.full(N, np.nan, dtype=np.float32)
        self.topk_ids = np.zeros((N, k), dtype=np.int32)
        self.topk_probs = np.zeros((N, k), dtype=np.float32)
        self.attn_pos = np.full((L, heads, N, top), -1, dtype=np.int32)
        self.attn_w = np.zeros((L, heads, N, top), dtype=np.float32)
        self.dist = np.zeros((L, heads), dtype=np.float64)  # summed over characters


def _predictions(out: _Out, logits: torch.Tensor, ids: np.ndarray, p0: int) -> None:
    """logits (m, V) of characters p0..p0+m-1 -> their top-k and p(true next character)."""
    probs = torch.softmax(logits.float(), dim=-1)
    m, k = probs.shape[0], out.topk_ids.shape[1]
    tp, ti = probs.topk(k, dim=-1)
    out.topk_ids[p0 : p0 + m] = ti.cpu().numpy()
    out.topk_probs[p0 : p0 + m] = tp.cpu().numpy()
    nxt = torch.from_numpy(ids[p0 + 1 : p0 + m + 1]).to(probs.device)  # true next characters
    out.p_next[p0 : p0 + len(nxt)] = probs[torch.arange(len(nxt)), nxt].cpu().numpy()


def _attention(out: _Out, layer: int, w: torch.Tensor, a: int, j0: int) -> None:
    """w (heads, m, t) weights of window rows j0..j0+m-1 over window positions 0..t-1 (the
    window starts at text position a) -> the top positions of characters a+j0.. per head."""
    heads, m, t = w.shape
    top = min(out.attn_pos.shape[-1], t)
    tw, tj = w.topk(top, dim=-1)  # (heads, m, top)
    row = torch.arange(j0, j0 + m, device=w.device)  # each row's own window position
    future = tj > row[None, :, None]  # a row with fewer than `top` before it: filler
    p0 = a + j0
    pos = torch.where(future, -1, tj + a)
    out.attn_pos[layer, :, p0 : p0 + m, :top] = pos.cpu().numpy()
    out.attn_w[layer, :, p0 : p0 + m, :top] = tw.masked_fill(future, 0).cpu().numpy()
    back = (row[:, None] - torch.arange(t, device=w.device)[None, :]).clamp(min=0)  # (m, t)
    out.dist[layer] += (w * back).sum(dim=(1, 2)).double().cpu().numpy()


@torch.inference_mode()
def record_windowed(
    model: CharTransformer,
    ids: np.ndarray,
    tokens: list[str],
    opts: RecordOptions,
    names: tuple[str, ...],
) -> Recording:
    """Record `model` over ids (N,) (N >= 1) in sliding windows (see the module docstring).
    names: the quantities to keep (a transformer has "mlp")."""
    cfg = model.cfg
    N, L, H, T = len(ids), cfg.layers, 4 * cfg.hidden, cfg.block
    stride = min(opts.stride or max(1, T // 2), T)
    out = _Out(N, min(opts.top_k, cfg.vocab_size), L, cfg.heads, opts.attn_top)
    sink = Sink(names, L, N, H, opts.out_dir)
    device = model.head.weight.device
    # The window (a, first, e) reads ids[a:e] and records characters first-1..e-1: eval's
    # windows for the N-1 predicted characters, then one more for the last character (whose
    # "next character" is past the text: p_next NaN), read with as much context as fits.
    wins = [*windows(N - 1, T, stride), (max(0, N - T), N, N)]
    batch = max(1, _ATTN_BYTES // (L * cfg.heads * T * T * 4))
    was_training = model.training
    model.eval()
    for i in range(0, len(wins), batch):
        group = wins[i : i + batch]
        w = max(e - a for a, _, e in group)
        x = np.zeros((len(group), w), dtype=np.int64)  # padding after a window: causal, unread
        for r, (a, _, e) in enumerate(group):
            x[r, : e - a] = ids[a:e]
        probes: list[dict] = []
        logits, _ = model(torch.from_numpy(x).to(device), probes=probes)
        for r, (a, first, e) in enumerate(group):
            j0, j1 = first - 1 - a, e - a  # the window rows this window records
            _predictions(out, logits[r, j0:j1], ids, first - 1)
            for layer, probe in enumerate(probes):
                for q in names:
                    sink.write(q, layer, first - 1, probe[q][r, j0:j1])
                _attention(out, layer, probe["attn"][r, :, j0:j1, : e - a], a, j0)
    model.train(was_training)
    rec = Recording(
        "transformer",
        L,
        H,
        ids,
        [tokens[i] for i in ids],
        list(tokens),
        out.p_next,
        out.topk_ids,
        out.topk_probs,
        sink.result(),
        Path(opts.out_dir) if opts.out_dir else None,
        out.attn_pos,
        out.attn_w,
        (out.dist / N).astype(np.float32),
    )
    return rec
