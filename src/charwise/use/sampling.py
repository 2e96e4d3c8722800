"""Generation: one character at a time, many streams at once, streamed out as it goes.

Every model kind hands `decode` a `Decoder` (use/beam.py: n rows of state that read one
character each); `decode` samples from it through `drive` (the loop: drawing, stop rules,
streaming) or runs beam search over it. An RNN's decoder runs a `Stepper` snapshot of the
model (stepper.py) in place.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F

from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..fields import option, require, validate
from ..nn.devices import bf16_native
from ..nn.model import CharRNN
from ..nn.stepper import Stepper, onednn_fp32
from .beam import Decoder, beam_search
from .stopping import StopRule, compile_regex
from .windowed import CachedRunner

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class SampleOptions:
    length: int = option(500, ge=0)  # characters to generate per sample (the prime not counted)
    prime: str = ""  # text the model reads first; the sample continues it
    # inf is kept: logits / inf = 0, which samples uniformly.
    temperature: float = option(1.0, allow_inf=True)  # <1: safer, more repetitive; >1: wilder
    top_k: int | None = option(None, ge=1)  # sample only among the k most likely characters
    top_p: float | None = option(None, gt=0, le=1)  # nucleus: smallest set with this probability
    argmax: bool = False  # always take the most likely character (deterministic)
    seed: int | None = option(None, seed=True)  # the same seed gives the same samples
    num_samples: int = option(1, ge=1)  # streams generated together as one batch
    stop_at: str | None = option(None, nonempty=True)  # end a stream when its text reaches this
    # bf16 where the hardware has it: from 32 streams on, or on GPUs (see matmul_dtype).
    precision: str = option("auto", choices=PRECISIONS)  # the recurrent matmuls' precision
    # A schedule: the temperature moves in a straight line from --temperature at the first
    # character to this at the last, so `-t 0.5 --temperature-end 1` starts cold and warms up.
    temperature_end: float | None = option(
        None, gt=0
    )  # the last character's temperature (--temperature is the first's; linear in between)
    # Python's re syntax, searched in the text so far after every character. The match is kept:
    # a match of unknown length cannot be held back from streamed text (use/stopping.py).
    stop_regex: str | None = option(
        None, nonempty=True
    )  # end a stream after the first match of this regular expression (the match kept)
    # N candidate texts; 1 is greedy. Not streamed: the best text is known only at the end.
    beam: int | None = option(
        None, ge=1
    )  # beam search: keep N candidate texts, print the most likely (1: greedy)
    # GNMT's length penalty (use/beam.length_normalised): 0 ranks by log-probability, which
    # favours short texts once a stop can end them; 1 ranks about per character. Texts that run
    # to --length all have the same length, so it changes nothing there.
    length_penalty: float = option(
        0.0, ge=0
    )  # beam search ranks texts by log-prob / ((5 + chars) / 6) ** ALPHA (default 0: log-prob)

    def __post_init__(self) -> None:
        validate(self)  # a float length or a numeric prime, refused before any work
        require(
            self.temperature > 0 or self.argmax,
            "temperature",
            "{temperature} must be positive (use {argmax} for greedy decoding)",
        )
        require(
            self.temperature_end is None or math.isfinite(self.temperature),
            "temperature_end",
            "{temperature_end} needs a finite {temperature} to start from",
        )
        require(
            not (self.stop_at and self.stop_regex),
            "stop_regex",
            "{stop_regex} cannot be given with {stop_at}: a string is also a regex",
        )
        if self.stop_regex:
            compile_regex(self.stop_regex)  # a bad pattern, refused before any work
        require(
            self.beam is None or not self.argmax,
            "beam",
            "{beam} cannot be given with {argmax} (greedy decoding is {beam} 1)",
        )
        require(
            self.beam is None or self.num_samples <= self.beam,
            "num_samples",
            "{num_samples} can be at most {beam}: beam search returns the best of its texts",
        )

    def temperature_at(self, i: int) -> float:
        """The temperature of generated character i (0-based): `temperature`, or with
        `temperature_end` the straight line from one to the other over `length` characters."""
        if self.temperature_end is None or self.length <= 1:
            return self.temperature
        t = i / (self.length - 1)
        return self.temperature + (self.temperature_end - self.temperature) * t


def filter_logits(
    logits: torch.Tensor, temperature: float, top_k: int | None, top_p: float | None
) -> torch.Tensor:
    """(B, V) logits -> (B, V) probabilities after temperature, top-k and top-p."""
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = F.softmax(logits, dim=-1)
    if top_p is not None and top_p < 1.0:
        sp, si = torch.sort(probs, dim=-1, descending=True)
        # Drop a character when the mass before it already reaches top_p (keep at least one).
        drop = (sp.cumsum(-1) - sp) >= top_p
        sp = sp.masked_fill(drop, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, si, sp)
        probs = probs / probs.sum(-1, keepdim=True)
    return probs


def encode_prime(vocab: Vocab, prime: str) -> list[int]:
    bad = vocab.unknown_chars(prime)
    if bad:
        raise CharwiseError(
            "the prime text has characters that are not in the model's "
            f"vocabulary: {', '.join(bad[:10])}"
        )
    return [int(i) for i in vocab.encode(prime)]


def start_ids(vocab: Vocab, prime: str, gen: torch.Generator) -> list[int]:
    """The prime's ids, or without a prime a newline (else a random character) to start from."""
    if prime:
        return encode_prime(vocab, prime)
    nl = vocab.encode("\n", strict=False) if not vocab.unknown_chars("\n") else None
    if nl is not None and len(nl):
        return [int(nl[0])]
    # On the generator's device: a CUDA generator cannot draw a CPU tensor.
    return [int(torch.randint(vocab.size, (1,), generator=gen, device=gen.device))]


@torch.inference_mode()
def generate(
    model: CharRNN,
    vocab: Vocab,
    opts: SampleOptions,
    on_text: Callable[[int, str], None] | None = None,
) -> list[str]:
    """Generate `opts.num_samples` texts of up to `opts.length` characters each (prime excluded).

    on_text(stream, piece) is called as text is produced, so callers can stream it.
    """
    if not isinstance(opts, SampleOptions):
        raise CharwiseError(f"opts must be a SampleOptions, not {type(opts).__name__}")
    was_training = model.training
    try:
        model.eval()  # no dropout while sampling; the caller's mode comes back afterwards
        dtype = matmul_dtype(opts, model.head.weight.device)
        # A network with carried state steps through the Stepper; one with a bounded context
        # (the transformer) through a key/value cache.
        kind = RNNDecoder if model.carries_state else cached_decoder
        make = partial(kind, model, dtype=dtype)  # (ids, n) -> a decoder of n rows
        return decode(make, vocab, opts, on_text, model.head.weight.device)
    finally:
        model.train(was_training)


class RNNDecoder:
    """A CharRNN as a `Decoder`: the prime read, then n rows stepped by a Stepper's runner."""

    def __init__(self, model: CharRNN, ids: list[int], n: int, dtype: torch.dtype):
        self.device = model.head.weight.device
        # Read the prime (all but its last character) with the fused kernel, then fan out.
        state = model.init_state(1)
        if len(ids) > 1:
            _, state = model(torch.tensor([ids[:-1]], device=self.device), state)
        state = tuple(s.expand(-1, n, -1).contiguous() for s in state)
        self.stepper = Stepper(model, dtype)
        self.runner = self.stepper.runner(state)

    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (n,) -> logits (n, V) (a buffer the next call overwrites)."""
        return self.runner.advance(x)

    def keep(self, rows: torch.Tensor) -> None:
        state = self.runner.state()  # (L, n, H) each
        rows = rows.to(self.device)
        self.runner = self.stepper.runner(tuple(s.index_select(1, rows) for s in state))


def cached_decoder(model, ids: list[int], n: int, dtype: torch.dtype) -> CachedRunner:
    """A model without carried state as a `Decoder`: the prime but its last id read into a
    key/value cache, n rows."""
    return CachedRunner(model, ids[:-1], n, dtype)


def decode(
    make_decoder: Callable[[list[int], int], Decoder],
    vocab: Vocab,
    opts: SampleOptions,
    on_text: Callable[[int, str], None] | None = None,
    device: torch.device | str = "cpu",
) -> list[str]:
    """The generation every model kind shares. make_decoder(ids, n) -> a Decoder of n rows on
    `device` that has read the start ids but the last; that last one is each row's first input.
    Samples (opts.num_samples streams, through `drive`), or with opts.beam runs beam search."""
    stop = StopRule(opts.stop_at, opts.stop_regex)
    stop.check_vocab(vocab)
    gen = torch.Generator(device=device)
    # Without a seed, a fresh one for this generator only: torch.seed() would reseed the caller's
    # global generator and break their torch.manual_seed reproducibility.
    if opts.seed is not None:
        gen.manual_seed(opts.seed)
    else:
        gen.seed()
    ids = start_ids(vocab, opts.prime, gen)
    if opts.beam is not None:
        dec = make_decoder(ids, opts.beam)
        return beam_search(
            dec,
            ids[-1],
            vocab,
            opts.beam,
            opts.length,
            opts.length_penalty,
            stop,
            opts.num_samples,
            on_text,
        )
    M = opts.num_samples
    dec = make_decoder(ids, M)
    x = torch.full((M,), ids[-1], dtype=torch.long, device=device)
    step = 0

    def next_ids() -> torch.Tensor:
        nonlocal x, step
        x = choose_next(dec.advance(x), opts, gen, step)
        step += 1
        return x

    return drive(next_ids, M, vocab, opts, on_text)


# From this many streams on, "auto" samples with bf16 matmuls where the hardware has them.
BF16_MIN_STREAMS = 32


def matmul_dtype(opts: SampleOptions, device: torch.device) -> torch.dtype:
    """The Stepper's matmul precision, for every model kind: fp32 unless asked for bf16, or
    "auto" on hardware with native bf16 matmuls for BF16_MIN_STREAMS streams or more. There,
    with 2x512 models on the 2-core Zen4, bf16 sampled 1.4-1.7x faster than the oneDNN fp32
    path at 32-64 streams but 0.6-1.3x as fast at 1-24 (bench/RESULTS.md), for a change in the
    sampler's loss of 0.00001-0.00004 nats/char; it is also the precision bf16-autocast training
    runs the matmuls in. Where the fp32 path has no oneDNN (GPUs, other CPUs) bf16 is used at any
    stream count, as it was faster than plain fp32 matmuls at every count from 1 to 64."""
    if opts.precision == "fp32":
        return torch.float32
    if opts.precision == "bf16":
        return torch.bfloat16
    if not bf16_native(device):
        return torch.float32
    few = opts.num_samples < BF16_MIN_STREAMS
    return torch.float32 if onednn_fp32(device) and few else torch.bfloat16


def choose_next(
    logits: torch.Tensor, opts: SampleOptions, gen: torch.Generator, step: int = 0
) -> torch.Tensor:
    """(B, V) logits (or log-probabilities) of generated character `step` -> (B,) next ids, by
    argmax or by sampling."""
    if opts.argmax:
        return logits.argmax(-1)
    probs = filter_logits(logits, opts.temperature_at(step), opts.top_k, opts.top_p)
    return draw(probs, gen)


def draw(probs: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(B, V) probabilities (rows need not be normalised) -> (B,) ids, one draw per row.

    Inverse-CDF sampling: one uniform per row and a binary search in the cumulative sums. On CPU
    this is ~4x faster than torch.multinomial for a (64, 65) batch (whose per-call set-up then
    costs as much as a 2x512 LSTM's elementwise work). u is kept strictly below the total, and
    right=True returns the first index whose cumulative sum exceeds u, where the sum strictly
    increases: a character of probability 0 can never be drawn."""
    cdf = probs.float().cumsum(-1)
    total = cdf[:, -1:]
    u = torch.rand(total.shape, generator=gen, device=probs.device).mul_(total)
    u = torch.minimum(u, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, u, right=True).squeeze(1)


def drive(
    next_ids: Callable[[], torch.Tensor],
    M: int,
    vocab: Vocab,
    opts: SampleOptions,
    on_text: Callable[[int, str], None] | None = None,
) -> list[str]:
    """The generation loop shared by every model: call `next_ids()` -> (M,) ids up to opts.length
    times, decode, end streams at opts.stop_at / opts.stop_regex and stream text to
    on_text(stream, piece)."""
    stop = StopRule(opts.stop_at, opts.stop_regex)
    stop.check_vocab(vocab)
    if on_text is None and not stop.active:
        # Batch path: ids stay in tensors until the end, no per-stream Python work per step.
        cols = [next_ids() for _ in range(opts.length)]
        rows = torch.stack(cols, 1).tolist() if cols else [[] for _ in range(M)]
        return [vocab.decode(r) for r in rows]
    decoders = [vocab.decoder() for _ in range(M)]
    texts, shown = [""] * M, [0] * M
    active = [True] * M
    # Streamed text lags stop.hold characters behind, so no part of a stop string leaks.
    for _ in range(opts.length):
        xs = next_ids().tolist()
        for s in range(M):
            if not active[s]:
                continue
            piece = decoders[s].decode_ids([xs[s]])
            texts[s], active[s] = _apply_stop(texts[s], piece, stop)
            if on_text:
                shown[s] = _stream(on_text, s, texts[s], shown[s], stop.hold if active[s] else 0)
        if not any(active):
            break
    for s in range(M):  # flush bytes held back by the UTF-8 decoder, and the held-back text
        if active[s]:
            tail = decoders[s].decode_ids([], final=True)
            texts[s], active[s] = _apply_stop(texts[s], tail, stop)
        if on_text:
            _stream(on_text, s, texts[s], shown[s], 0)
    return texts


def _apply_stop(text: str, piece: str, stop: StopRule) -> tuple[str, bool]:
    """(text + piece, cut where the stop rule says if it now stops; whether it goes on)."""
    new = text + piece
    if not piece or not stop.active:
        return new, True
    cut = stop.cut(new, len(piece))
    return (new, True) if cut is None else (new[:cut], False)


def _stream(on_text: Callable[[int, str], None], s: int, text: str, shown: int, hold: int) -> int:
    """Pass on text[shown : len(text) - hold] (what is new and safe to show); return the new
    count of characters shown."""
    end = len(text) - hold
    if end > shown:
        on_text(s, text[shown:end])
        return end
    return shown
