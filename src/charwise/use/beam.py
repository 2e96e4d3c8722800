"""Beam search over any model kind: keep the `width` most likely texts so far, extend each by
every character, keep the best `width` again; at the end return the most likely texts.

It needs only a `Decoder` (each model kind's step function: n rows of state that read one
character each and can be reordered), so RNN and n-gram runs, and any later kind, share it.

Beam search finds texts far more likely than samples, and that is its known failure on
character models: the most likely text is repetitive ("the the the ..."), and wider beams
make it more so (bench/beam.py measures it against sampling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from ..data.vocab import Vocab
from .stopping import StopRule


class Decoder(Protocol):
    """n rows of a model's state, each reading one character per step."""

    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (n,) int64, the character each row reads -> (n, V) logits of the next one
        (log-probabilities up to a constant per row are fine)."""
        ...

    def keep(self, rows: torch.Tensor) -> None:
        """rows (n,) int64: row i continues from what was row rows[i] (rows may repeat)."""
        ...


def length_normalised(logp: float, n: int, alpha: float) -> float:
    """The score beam search ranks finished texts by: GNMT's length penalty (Wu et al. 2016,
    eq. 14), logp / ((5 + n) / 6) ** alpha for a text of n characters. alpha 0 ranks by the
    plain log-probability, which prefers short texts when a stop condition can end them;
    alpha 1 is close to the mean log-probability per character."""
    return logp / ((5 + n) / 6) ** alpha if alpha else logp


@dataclass
class _Hyp:
    ids: list[int]  # the characters generated so far
    text: str  # their text (kept only when a stop rule needs it)
    logp: float  # their log-probability under the model


def beam_search(
    decoder: Decoder,
    first: int,
    vocab: Vocab,
    width: int,
    length: int,
    alpha: float = 0.0,
    stop: StopRule | None = None,
    keep: int = 1,
    on_text: Callable[[int, str], None] | None = None,
) -> list[str]:
    """The `keep` best texts (fewer if fewer exist) of up to `length` characters after the
    character id `first`, which `decoder` (`width` rows) reads first. A text the stop rule
    ends is finished there (cut as the rule says); the others run to `length`. The best are
    ranked by length_normalised(log-probability, characters generated, alpha). Nothing is
    streamed while searching (the best text can change until the end): on_text(i, text) gets
    each finished text once."""
    if length == 0:
        return [""] * keep
    stop = stop or StopRule()
    beams = [_Hyp([], "", 0.0)]
    done: list[tuple[float, str]] = []  # (score, text) of texts the stop rule ended
    x = torch.full((width,), first, dtype=torch.long)
    for _ in range(length):
        logits = decoder.advance(x.to(_device(decoder, x)))
        logp = _log_softmax(logits[: len(beams)].float().cpu().numpy())  # (n, V)
        scores = np.array([b.logp for b in beams])[:, None] + logp
        V = logp.shape[1]
        # 2 * width candidates: enough to refill the beam even if `width` of them finish now.
        idx = _top(scores.ravel(), min(2 * width, scores.size))
        nxt: list[_Hyp] = []
        rows: list[int] = []
        for s, i in zip(scores.ravel()[idx].tolist(), idx.tolist(), strict=True):
            if s == -math.inf or len(nxt) == width:
                break
            r, c = divmod(i, V)
            hyp = _extend(beams[r], c, s, vocab, stop)
            if isinstance(hyp, _Hyp):
                nxt.append(hyp)
                rows.append(r)
            else:
                done.append((length_normalised(s, len(beams[r].ids) + 1, alpha), hyp))
        if not nxt:
            break
        beams = nxt
        pad = width - len(rows)  # fewer live texts than rows: the spare rows idle on row 0
        decoder.keep(torch.tensor(rows + [rows[0]] * pad, dtype=torch.long))
        x = torch.tensor([b.ids[-1] for b in beams] + [beams[0].ids[-1]] * pad)
        # With alpha 0 a score only falls as a text grows: no live text can beat a finished
        # one that already scores at least as high.
        if not alpha and done and max(done)[0] >= beams[0].logp:
            break
    live = [(length_normalised(b.logp, len(b.ids), alpha), _text(b, vocab)) for b in beams]
    ranked = sorted(done + live, key=lambda st: st[0], reverse=True)
    texts = [text for _, text in ranked[:keep]]
    for s, text in enumerate(texts):
        if on_text is not None and text:
            on_text(s, text)
    return texts


def _extend(h: _Hyp, c: int, logp: float, vocab: Vocab, stop: StopRule) -> _Hyp | str:
    """h followed by character c: a new live hypothesis, or the finished text if c stops it."""
    ids = h.ids + [c]
    if not stop.active:
        return _Hyp(ids, "", logp)
    if vocab.bytes_mode:  # a byte may complete a character begun before: decode them all
        text = vocab.decode(ids)
        new = len(text)
    else:
        piece = vocab.decode([c])
        text, new = h.text + piece, len(piece)
    cut = stop.cut(text, new)
    return _Hyp(ids, text, logp) if cut is None else text[:cut]


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """(n, V) logits -> (n, V) float64 log-probabilities. In numpy: these arrays are tiny, and
    torch's log_softmax splits even a (4, 65) one over its threads, which on a loaded 2-core
    machine cost ~40 ms a call (waiting for a descheduled thread) against ~4 us on one."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _top(flat: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values of (N,) `flat`, largest first (ties: lower index first)."""
    part = np.argpartition(-flat, k - 1)[:k] if k < len(flat) else np.arange(len(flat))
    return part[np.lexsort((part, -flat[part]))]


def _text(h: _Hyp, vocab: Vocab) -> str:
    return h.text if h.text and not vocab.bytes_mode else vocab.decode(h.ids)


def _device(decoder: Decoder, x: torch.Tensor) -> torch.device:
    """Where the decoder wants its input ids (a `device` attribute, else the CPU)."""
    return getattr(decoder, "device", x.device)
