"""Dynamic evaluation (Krause et al. 2018, "Dynamic Evaluation of Neural Sequence Models"): score a
text segment by segment and, after each segment, take one gradient step on it, so the model adapts
to the text it is reading.

The step is RMS-normalised SGD with a decay back to the trained weights theta0:

    theta <- theta - lr * g / (rms + eps) + lambda_p * (theta0 - theta)

g is the gradient of the segment's mean loss, rms = sqrt(mean g^2) per parameter, estimated once
on the run's training text (`gradient_stats`) and floored at `rms_floor` times its tensor's mean
(rows of characters the estimate never saw would otherwise take huge steps), and
lambda_p = min(decay * rms / mean(rms), 1): the decay is scaled by each parameter's RMS term
relative to the mean over the parameter tensors, as in the paper (parameters whose gradients
are large on training text are pulled back harder).

Every character is scored before any step that has seen it, so the loss is an honest online
(compression) loss. Speed comes from reading `streams` contiguous pieces of the text side by side,
all sharing one adapted copy of the weights: one fused forward and backward of a (K, segment)
batch and one update per K segments. A step on K segments takes the sum of the K segments' mean
gradients and applies the decay K times, i.e. what K single-stream steps would do to first order;
with K = 1 it is the paper's (and its reference code's) one-stream method exactly. Sharing also
means each stream adapts to what the other streams have read, which is text elsewhere in the
document, not only the text just before it (bench/RESULTS.md measures what that costs).

The model passed in is never changed: the method works on a copy.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..fields import option, validate
from ..nn.devices import bf16_native
from ..nn.model import CharRNN, State
from .cache import CacheConfig, ContinuousCache
from .sampling import SampleOptions, generate

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class DynamicConfig:
    """Dynamic evaluation's settings. The defaults are on the safe side of what --tune chose for
    2x512 GRUs on tinyshakespeare and War and Peace (bench/RESULTS.md): twice the best lr was
    already much worse there, half of it nearly as good."""

    segment: int = option(50, ge=1)  # characters read between two gradient steps
    lr: float = option(1.5e-5, ge=0)  # eta: step size of the RMS-normalised gradient step
    decay: float = option(1e-4, ge=0, le=1)  # lambda: pull back toward the trained weights
    eps: float = option(1e-5, gt=0)  # added to the RMS term so rarely-used weights stay put
    rms_floor: float = option(0.1, ge=0)  # an RMS term is at least this times its tensor's mean
    streams: int = option(16, ge=1)  # pieces read side by side, one shared model (1: the paper's)
    stats_chars: int = option(50_000, ge=1)  # training characters that estimate the RMS term
    context: int = option(256, ge=0)  # characters read unscored before each piece but the first
    precision: str = option("auto", choices=PRECISIONS)  # auto: bf16 on CPUs with native bf16

    def __post_init__(self) -> None:
        validate(self)


@dataclass
class GradStats:
    """Per-parameter RMS of the training loss's gradient, in model.parameters() order."""

    rms: list[torch.Tensor]
    segment: int  # the window length it was measured with
    chars: int  # characters it was measured over


def _amp(cfg: DynamicConfig, device: torch.device) -> bool:
    """bf16 autocast: "auto" uses it on CPUs with native bf16 only. On CUDA, autocast runs
    cuDNN's RNNs in fp16, whose small gradients would need the trainer's loss scaling."""
    if cfg.precision == "auto":
        return device.type == "cpu" and bf16_native(device)
    return cfg.precision == "bf16"


def _params(model: CharRNN) -> list[torch.Tensor]:
    return list(model.parameters())


def working_copy(model: CharRNN) -> CharRNN:
    """A copy of the model to adapt (eval mode, gradients on): the caller's stays as it is."""
    m = copy.deepcopy(model).eval()
    # cuDNN keeps what its RNN backward needs only in training mode ("cudnn RNN backward can
    # only be called in training mode"): the fused module trains, the model around it stays in
    # eval mode, so no dropout is drawn (the fused module itself has none) and it computes the
    # same outputs as in eval mode.
    m.rnn.train()
    for p in m.parameters():
        p.requires_grad_(True)
    return m


def gradient_stats(
    model: CharRNN, ids: np.ndarray, cfg: DynamicConfig, streams: int = 32
) -> GradStats:
    """(N,) training ids -> the RMS of the loss gradient per parameter, over about
    cfg.stats_chars characters: `streams` contiguous pieces spread over the text, read in windows
    of cfg.segment with the state carried, the gradient of each window's mean loss squared and
    averaged (the paper's "MS", its square root here)."""
    n = len(ids) - 1
    if n < 2:
        raise CharwiseError("the training text is too short to estimate the gradient statistics")
    T = min(cfg.segment, n)
    B = max(1, min(streams, n // T))
    piece = n // B
    windows = max(1, min(piece // T, -(-cfg.stats_chars // (B * T))))
    m = working_copy(model)
    params = _params(m)
    device = m.head.weight.device
    sq = [torch.zeros_like(p, dtype=torch.float32) for p in params]
    amp = _amp(cfg, device)
    state: State | None = None
    for w in range(windows):
        a = np.arange(B) * piece + w * T
        x = np.stack([ids[s : s + T] for s in a]).astype(np.int64)
        y = np.stack([ids[s + 1 : s + T + 1] for s in a]).astype(np.int64)
        x_t, y_t = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits, state = m(x_t, state)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y_t.reshape(-1))
        grads = torch.autograd.grad(loss, params)
        torch._foreach_addcmul_(sq, grads, grads)
        state = tuple(s.detach().float() for s in state)
    return GradStats([(s / windows).sqrt() for s in sq], T, windows * B * T)


class Adapter:
    """One adapted copy of a model and its update rule: `step(grads)` moves the weights by one
    dynamic-evaluation step. `model` is the copy; `theta0` the trained weights."""

    def __init__(self, model: CharRNN, stats: GradStats, cfg: DynamicConfig, streams: int = 1):
        self.model = working_copy(model)
        self.params = _params(self.model)
        if len(stats.rms) != len(self.params) or any(
            r.shape != p.shape for r, p in zip(stats.rms, self.params, strict=True)
        ):
            raise CharwiseError("the gradient statistics were measured on another model")
        self.theta0 = [p.detach().clone() for p in self.params]
        self.lr = cfg.lr
        # A character rare in the statistics' sample has an RMS of ~0 on its embedding and head
        # rows; the first time it occurs, g / (0 + eps) would throw those rows far away (War and
        # Peace's test split diverged to 2.5 nats/char). The floor keeps them at their tensor's
        # scale.
        rms_all = [r.to(p.device) for r, p in zip(stats.rms, self.params, strict=True)]
        rms_all = [torch.clamp(r, min=cfg.rms_floor * float(r.mean())) for r in rms_all]
        # lr * g / (rms + eps): the division done once, as a multiplier.
        self.inv = [1.0 / (r + cfg.eps) for r in rms_all]
        mean_rms = sum(float(r.mean()) for r in rms_all) / len(rms_all)
        # Decay scaled by the RMS term (relative to its mean over the tensors), capped at 1 so it
        # never overshoots theta0; K streams' step applies it K times.
        self.lam = []
        for r, p in zip(rms_all, self.params, strict=True):
            lam = (cfg.decay * r / max(mean_rms, 1e-30)).clamp(max=1.0)
            self.lam.append((1.0 - (1.0 - lam) ** streams).to(p.device, p.dtype))
        self.steps = 0
        self.active = cfg.lr > 0 or cfg.decay > 0

    @torch.no_grad()
    def step(self, grads: list[torch.Tensor]) -> None:
        """theta += lam * (theta0 - theta) - lr * g * inv (the decay measured at the old theta)."""
        if not self.active:
            return
        torch._foreach_lerp_(self.params, self.theta0, self.lam)
        if self.lr > 0:
            scaled = torch._foreach_mul(grads, self.inv)
            torch._foreach_add_(self.params, scaled, alpha=-self.lr)
        self.steps += 1


def _layout(n: int, streams: int, context: int) -> tuple[int, int, int]:
    """(streams, piece length, burn-in length) for n targets: pieces of at least 64 targets."""
    k = max(1, min(streams, n // 64 or 1))
    piece = -(-n // k)
    return k, piece, min(context, piece)


def adapt_over_ids(
    model: CharRNN,
    ids: np.ndarray,
    cfg: DynamicConfig,
    stats: GradStats,
    update_last: bool = False,
    cache: CacheConfig | None = None,
) -> tuple[float, int, Adapter]:
    """Read (N,) ids with adaptation on: -> (total nats over the N-1 predicted characters, N-1,
    the Adapter holding the adapted copy). Each piece but the first reads the `context`
    characters before it without scoring them. With update_last the step after the last segment
    is taken too (to sample from the adapted weights). With `cache`, the scored predictions are
    mixed with a continuous cache (cache.py); the gradient steps stay on the network's own loss."""
    n = len(ids) - 1
    if n < 1:
        raise CharwiseError("the text is too short to evaluate: it needs at least 2 characters")
    K, piece, burn = _layout(n, cfg.streams, cfg.context)
    ad = Adapter(model, stats, cfg, K)
    m, device = ad.model, ad.model.head.weight.device
    amp = _amp(cfg, device)
    first = [s * piece for s in range(K)]
    state = _burn_in(m, ids, first, burn, amp)
    acc = torch.float32 if device.type == "mps" else torch.float64
    total = torch.zeros((), dtype=acc, device=device)
    mem = None if cache is None else ContinuousCache(cache, K, m.cfg.vocab_size, device)
    T = cfg.segment
    for t0 in range(0, piece, T):
        w = min(T, piece - t0)
        x = np.zeros((K, w), dtype=np.int64)
        y = np.full((K, w), -100, dtype=np.int64)  # -100: padding past the text's end
        for s in range(K):
            a = first[s] + t0
            b = min(a + w, n)
            if b > a:
                x[s, : b - a] = ids[a:b]
                y[s, : b - a] = ids[a + 1 : b + 1]
        x_t, y_t = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits, new, h = m(x_t, state, return_hidden=True)
        loss = F.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            y_t.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += loss.detach() if mem is None else mem.score(h, logits, y_t)
        if ad.active and (t0 + T < piece or update_last):
            # Sum over streams of each stream's mean segment loss (see the module's docstring).
            ad.step(list(torch.autograd.grad(loss / T, ad.params)))
        state = tuple(s.detach().float() for s in new)
    return float(total), n, ad


def _burn_in(m: CharRNN, ids: np.ndarray, first: list[int], burn: int, amp: bool) -> State | None:
    """The state each piece starts from: zeros for the first piece, which starts the text; for
    the others, the state after reading the `burn` characters before them (not scored)."""
    K = len(first)
    if K == 1 or burn == 0:
        return None
    device = m.head.weight.device
    x = np.stack([ids[f - burn : f] for f in first[1:]]).astype(np.int64)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        _, st = m(torch.from_numpy(x).to(device))
    zero = m.init_state(1, device)
    return tuple(torch.cat([z, s.float()], 1) for z, s in zip(zero, st, strict=True))


def dynamic_loss_over_ids(
    model: CharRNN, ids: np.ndarray, cfg: DynamicConfig, stats: GradStats
) -> tuple[float, int]:
    """(N,) ids -> (total nats of predicting ids[1:] with adaptation on, N-1)."""
    total, n, _ = adapt_over_ids(model, ids, cfg, stats)
    return total, n


def generate_adapted(
    ad: Adapter,
    ids: np.ndarray,
    vocab: Vocab,
    opts: SampleOptions,
    on_text: Callable[[int, str], None] | None = None,
    context: int = 256,
) -> list[str]:
    """Sample from an adapted copy, continuing the text it read: the sampler reads the text's
    last `context` characters (an RNN's state forgets what came before) and opts.prime, with the
    adapted weights, then generates as `use.sampling.generate` does (every decoding option)."""
    tail = vocab.decode([int(i) for i in np.asarray(ids[-context:])]) if context else ""
    if vocab.unknown_chars(tail):  # a byte vocabulary's tail cut inside a character
        tail = ""
    return generate(ad.model, vocab, dataclasses.replace(opts, prime=tail + opts.prime), on_text)
