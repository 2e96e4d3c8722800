"""Generation: one character at a time, many streams at once, streamed out as it goes.

The hot loop uses `Stepper`, an inference-only snapshot of the model: layer 0's input projection
is folded into a (V, G*H) table (embedding @ W_ih^T + biases), so layer 0 costs one row gather and
one matmul; LSTM gate rows are reordered to (i, f, o, g) so one sigmoid and one tanh cover them.
This avoids the fused kernel's per-call set-up, which dominates at T = 1 on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import CharwiseError
from .model import CharRNN, State
from .vocab import Vocab


class Stepper:
    """Inference snapshot of a CharRNN for fast single steps. x (B,) int64 -> logits (B, V)."""

    def __init__(self, model: CharRNN):
        cfg = model.cfg
        self.kind, self.L, self.H = cfg.kind, cfg.layers, cfg.hidden
        H = cfg.hidden
        with torch.no_grad():
            self.layers = []
            for k in range(cfg.layers):
                w_ih, w_hh, b_ih, b_hh = (t.detach().float() for t in model.layer_weights(k))
                if self.kind == "lstm":  # (i, f, g, o) -> (i, f, o, g)
                    perm = torch.cat([torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H),
                                      torch.arange(2 * H, 3 * H)]).to(w_ih.device)
                    w_ih, w_hh, b_ih, b_hh = w_ih[perm], w_hh[perm], b_ih[perm], b_hh[perm]
                if self.kind != "gru":  # GRU keeps b_hn inside r * (W_hn h + b_hn)
                    b_ih, b_hh = b_ih + b_hh, None
                # Layers above 0 (LSTM / RNN): one matmul of [input, h] (B, 2H) with the stacked
                # (2H, G*H) weights instead of two half-size ones: fewer calls, better GEMM shapes.
                w_cat = torch.cat([w_ih.t(), w_hh.t()]).contiguous() if k and self.kind != "gru" else None
                self.layers.append((w_ih.t().contiguous(), w_hh.t().contiguous(), b_ih, b_hh, w_cat))
            emb = model.embed.weight.detach().float()
            w0, _, b0, _, _ = self.layers[0]
            self.table0 = torch.addmm(b0, emb, w0)  # (V, G*H): layer 0's input term per character
            self.head_w = model.head.weight.detach().float().t().contiguous()  # (H, V)
            self.head_b = model.head.bias.detach().float()

    @torch.inference_mode()
    def step(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        H = self.H
        hs, cs = [], []
        inp = None
        for k, (w_ih, w_hh, b, b_hh, w_cat) in enumerate(self.layers):
            h = state[0][k]
            if w_cat is not None:  # (B, 2H) @ (2H, G*H) + bias: input and recurrent terms at once
                z = torch.addmm(b, torch.cat([inp, h], 1), w_cat)
            else:
                gx = self.table0.index_select(0, x) if k == 0 else torch.addmm(b, inp, w_ih)
                z = gx if self.kind == "gru" else gx.addmm_(h, w_hh)
            if self.kind == "lstm":  # z: (B, 4H) pre-activations in (i, f, o, g) order
                z[:, : 3 * H].sigmoid_()
                z[:, 3 * H:].tanh_()
                c = torch.addcmul(z[:, H: 2 * H] * state[1][k], z[:, :H], z[:, 3 * H:])
                h = z[:, 2 * H: 3 * H] * torch.tanh(c)
                cs.append(c)
            elif self.kind == "gru":
                gh = torch.addmm(b_hh, h, w_hh)
                rz = (z[:, : 2 * H] + gh[:, : 2 * H]).sigmoid_()
                n = torch.tanh(z[:, 2 * H:] + rz[:, :H] * gh[:, 2 * H:])
                h = torch.lerp(n, h, rz[:, H:])
            else:
                h = z.tanh_()
            hs.append(h)
            inp = h
        logits = torch.addmm(self.head_b, inp, self.head_w)
        return logits, ((torch.stack(hs), torch.stack(cs)) if cs else (torch.stack(hs),))


@dataclass(frozen=True)
class SampleOptions:
    length: int = 500  # characters to generate per sample (the prime not counted)
    prime: str = ""  # text the model reads first; the sample continues it
    temperature: float = 1.0  # <1: safer, more repetitive; >1: more surprising, more errors
    top_k: int | None = None  # sample only among the k most likely characters
    top_p: float | None = None  # nucleus: smallest set of characters with this total probability
    argmax: bool = False  # always take the most likely character (deterministic)
    seed: int | None = None  # the same seed gives the same samples
    num_samples: int = 1  # streams generated together as one batch
    stop_at: str | None = None  # a stream ends when its text reaches this string (not included)

    def __post_init__(self) -> None:
        if self.length < 0:
            raise CharwiseError("--length must not be negative")
        if self.temperature <= 0 and not self.argmax:
            raise CharwiseError("--temperature must be positive (use --argmax for greedy decoding)")
        if self.top_k is not None and self.top_k < 1:
            raise CharwiseError("--top-k must be at least 1")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise CharwiseError("--top-p must be in (0, 1]")
        if self.num_samples < 1:
            raise CharwiseError("--num-samples must be at least 1")
        if self.stop_at == "":
            raise CharwiseError("--stop-at must not be empty")


def filter_logits(logits: torch.Tensor, temperature: float, top_k: int | None,
                  top_p: float | None) -> torch.Tensor:
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
        raise CharwiseError(f"the prime text has characters that are not in the model's vocabulary: "
                            f"{', '.join(bad[:10])}")
    return [int(i) for i in vocab.encode(prime)]


def start_ids(vocab: Vocab, prime: str, gen: torch.Generator) -> list[int]:
    """The prime's ids, or without a prime a newline (else a random character) to start from."""
    if prime:
        return encode_prime(vocab, prime)
    nl = vocab.encode("\n", strict=False) if not vocab.unknown_chars("\n") else None
    if nl is not None and len(nl):
        return [int(nl[0])]
    return [int(torch.randint(vocab.size, (1,), generator=gen))]


@torch.inference_mode()
def generate(model: CharRNN, vocab: Vocab, opts: SampleOptions,
             on_text: Callable[[int, str], None] | None = None) -> list[str]:
    """Generate `opts.num_samples` texts of up to `opts.length` characters each (prime excluded).

    on_text(stream, piece) is called as text is produced, so callers can stream it.
    """
    device = model.head.weight.device
    gen = torch.Generator(device=device)
    gen.manual_seed(opts.seed if opts.seed is not None else torch.seed())
    ids = start_ids(vocab, opts.prime, gen)
    M = opts.num_samples
    model.eval()
    # Read the prime (all but its last character) with the fused kernel, then fan out to M streams.
    state = model.init_state(1)
    if len(ids) > 1:
        _, state = model(torch.tensor([ids[:-1]], device=device), state)
    state = tuple(s.expand(-1, M, -1).contiguous() for s in state)
    x = torch.full((M,), ids[-1], dtype=torch.long, device=device)
    stepper = Stepper(model)
    decoders = [vocab.decoder() for _ in range(M)]
    texts = [""] * M
    active = torch.ones(M, dtype=torch.bool)
    # Streamed text lags len(stop_at) - 1 characters behind, so no part of the stop string leaks.
    hold = len(opts.stop_at) - 1 if opts.stop_at else 0
    shown = [0] * M
    if on_text is None and opts.stop_at is None:
        return _generate_silent(stepper, x, state, opts, gen, vocab)
    for _ in range(opts.length):
        logits, state = stepper.step(x, state)
        x = _next_ids(logits, opts, gen)
        xs = x.tolist()
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


def _next_ids(logits: torch.Tensor, opts: SampleOptions, gen: torch.Generator) -> torch.Tensor:
    """(B, V) logits -> (B,) next ids, by argmax or by sampling the filtered distribution."""
    if opts.argmax:
        return logits.argmax(-1)
    probs = filter_logits(logits, opts.temperature, opts.top_k, opts.top_p)
    return torch.multinomial(probs, 1, generator=gen).squeeze(1)


def _generate_silent(stepper: Stepper, x: torch.Tensor, state: State, opts: SampleOptions,
                     gen: torch.Generator, vocab: Vocab) -> list[str]:
    """The batch path (nothing streamed, no stop string): ids stay in tensors until the end,
    so the loop does no per-stream Python work."""
    out = torch.empty(opts.length, x.shape[0], dtype=torch.long, device=x.device)
    for t in range(opts.length):
        logits, state = stepper.step(x, state)
        x = _next_ids(logits, opts, gen)
        out[t] = x
    return [vocab.decode(col) for col in out.t().tolist()]


def _apply_stop(text: str, piece: str, stop: str | None, active: torch.Tensor,
                s: int) -> tuple[str, str]:
    """Append `piece`; if the text now contains `stop`, cut there and mark the stream done."""
    new = text + piece
    if stop and stop in new[max(0, len(text) - len(stop)):]:
        cut = new.index(stop, max(0, len(text) - len(stop)))
        active[s] = False
        return new[:cut], new[len(text): cut] if cut > len(text) else ""
    return new, piece


def _stream(on_text: Callable[[int, str], None], s: int, text: str, shown: int, hold: int) -> int:
    """Pass on text[shown : len(text) - hold] (what is new and safe to show); return the new
    count of characters shown."""
    end = len(text) - hold
    if end > shown:
        on_text(s, text[shown:end])
        return end
    return shown


def sample(run, length: int = 500, prime: str = "", **kwargs) -> str | list[str]:
    """Library shortcut: sample from a loaded run (charwise.load). One string, or a list of
    strings when num_samples > 1. Keyword arguments are SampleOptions' fields."""
    opts = SampleOptions(length=length, prime=prime, **kwargs)
    if run.kind == "ngram":
        texts = run.model.generate(opts)
    else:
        texts = generate(run.model, run.vocab, opts)
    return texts[0] if opts.num_samples == 1 else texts
