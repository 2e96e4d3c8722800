"""Generation: one character at a time, many streams at once, streamed out as it goes.

The hot loop runs a `Stepper` snapshot of the model (stepper.py) in place; `drive` is the loop
shared with the n-gram model: decoding, stop strings and streaming.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..fields import FieldError, literal, option, require, validate
from ..nn.devices import bf16_native
from ..nn.model import CharRNN
from ..nn.stepper import Stepper, onednn_fp32

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

    def __post_init__(self) -> None:
        validate(self)  # a float length or a numeric prime, refused before any work
        require(
            self.temperature > 0 or self.argmax,
            "temperature",
            "{temperature} must be positive (use {argmax} for greedy decoding)",
        )


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
    device = model.head.weight.device
    gen = torch.Generator(device=device)
    # Without a seed, a fresh one for this generator only: torch.seed() would reseed the caller's
    # global generator and break their torch.manual_seed reproducibility.
    if opts.seed is not None:
        gen.manual_seed(opts.seed)
    else:
        gen.seed()
    ids = start_ids(vocab, opts.prime, gen)
    was_training = model.training
    try:
        model.eval()  # no dropout while sampling; the caller's mode comes back afterwards
        return _generate(model, vocab, opts, on_text, ids, gen)
    finally:
        model.train(was_training)


def _generate(
    model: CharRNN,
    vocab: Vocab,
    opts: SampleOptions,
    on_text: Callable[[int, str], None] | None,
    ids: list[int],
    gen: torch.Generator,
) -> list[str]:
    """generate()'s body, with the model in eval mode: prime, fan out to M streams, then drive."""
    device, M = model.head.weight.device, opts.num_samples
    # Read the prime (all but its last character) with the fused kernel, then fan out to M streams.
    state = model.init_state(1)
    if len(ids) > 1:
        _, state = model(torch.tensor([ids[:-1]], device=device), state)
    state = tuple(s.expand(-1, M, -1).contiguous() for s in state)
    x = torch.full((M,), ids[-1], dtype=torch.long, device=device)
    runner = Stepper(model, matmul_dtype(opts, device)).runner(state)

    def next_ids() -> torch.Tensor:
        nonlocal x
        x = choose_next(runner.advance(x), opts, gen)
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


def choose_next(logits: torch.Tensor, opts: SampleOptions, gen: torch.Generator) -> torch.Tensor:
    """(B, V) logits (or log-probabilities) -> (B,) next ids, by argmax or by sampling."""
    if opts.argmax:
        return logits.argmax(-1)
    probs = filter_logits(logits, opts.temperature, opts.top_k, opts.top_p)
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
    times, decode, end streams at opts.stop_at and stream text to on_text(stream, piece)."""
    bad = vocab.unknown_chars(opts.stop_at) if opts.stop_at else []
    if bad:  # it could never match: a long --length would then run to its end for nothing
        raise FieldError(
            "stop_at",
            "{stop_at} has characters the model never writes (not in its vocabulary): "
            + literal(", ".join(bad[:10])),
        )
    if on_text is None and opts.stop_at is None:
        # Batch path: ids stay in tensors until the end, no per-stream Python work per step.
        cols = [next_ids() for _ in range(opts.length)]
        rows = torch.stack(cols, 1).tolist() if cols else [[] for _ in range(M)]
        return [vocab.decode(r) for r in rows]
    decoders = [vocab.decoder() for _ in range(M)]
    texts, shown = [""] * M, [0] * M
    active = torch.ones(M, dtype=torch.bool)
    # Streamed text lags len(stop_at) - 1 characters behind, so no part of the stop string leaks.
    hold = len(opts.stop_at) - 1 if opts.stop_at else 0
    for _ in range(opts.length):
        xs = next_ids().tolist()
        for s in range(M):
            if not active[s]:
                continue
            piece = decoders[s].decode_ids([xs[s]])
            texts[s], _ = _apply_stop(texts[s], piece, opts.stop_at, active, s)
            if on_text:
                shown[s] = _stream(on_text, s, texts[s], shown[s], hold if active[s] else 0)
        if not active.any():
            break
    for s in range(M):  # flush bytes held back by the UTF-8 decoder, and the held-back text
        if active[s]:
            tail = decoders[s].decode_ids([], final=True)
            texts[s], _ = _apply_stop(texts[s], tail, opts.stop_at, active, s)
        if on_text:
            _stream(on_text, s, texts[s], shown[s], 0)
    return texts


def _apply_stop(
    text: str, piece: str, stop: str | None, active: torch.Tensor, s: int
) -> tuple[str, str]:
    """Append `piece`; if the text now contains `stop`, cut there and mark the stream done."""
    new = text + piece
    if stop and stop in new[max(0, len(text) - len(stop)) :]:
        cut = new.index(stop, max(0, len(text) - len(stop)))
        active[s] = False
        return new[:cut], new[len(text) : cut] if cut > len(text) else ""
    return new, piece


def _stream(on_text: Callable[[int, str], None], s: int, text: str, shown: int, hold: int) -> int:
    """Pass on text[shown : len(text) - hold] (what is new and safe to show); return the new
    count of characters shown."""
    end = len(text) - hold
    if end > shown:
        on_text(s, text[shown:end])
        return end
    return shown
