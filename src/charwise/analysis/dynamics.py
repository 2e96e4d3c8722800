"""Training dynamics (Karpathy, Johnson & Fei-Fei 2015, section 4.3): how close an RNN's
predictions are to the 1- to 20-gram's as it trains.

At each checkpoint, the Jensen-Shannon divergence between the RNN's next-character distribution
and each n-gram's, averaged over a text; one curve over n per checkpoint, as in the paper's
figure, where the early checkpoints sit closest to the low orders and training moves the
network away from them.

JS(P, Q) = KL(P || M) / 2 + KL(Q || M) / 2 with M = (P + Q) / 2, in nats: 0 when the two
distributions agree, at most ln 2.

Training keeps only the best and the last weights, so the checkpoints come either from the
caller (a list of (step, model)) or from CheckpointRecorder, a charwise.Callbacks that keeps a
copy of the weights each time training writes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open

from ..errors import CharwiseError
from ..ngram.model import NGramTables
from ..runs.load import load
from ..training.lifecycle import Callbacks
from .predictions import as_ids, ngram_distributions, ngram_tables, rnn_blocks

PAPER_ORDERS = tuple(range(1, 21))  # the paper's 1- to 20-grams


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(..., V) distributions -> (...) Jensen-Shannon divergences in nats (0 * log 0 = 0)."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)
    tiny = np.finfo(np.float64).tiny

    def kl(a: np.ndarray) -> np.ndarray:
        # where a = 0 the term is 0 whatever m is; the max only keeps log finite there
        return np.sum(a * (np.log(np.maximum(a, tiny)) - np.log(np.maximum(m, tiny))), axis=-1)

    return np.maximum(0.5 * kl(p) + 0.5 * kl(q), 0.0)  # rounding can dip below 0


def fit_ngrams(
    train_ids: np.ndarray,
    vocab_size: int,
    orders: Sequence[int] = PAPER_ORDERS,
    smoothing: str = "kn",
) -> dict[int, NGramTables]:
    """order -> an n-gram counted on the training ids, each order on its own (a standalone
    n-gram's top level counts raw, where a longer model's same level counts continuations)."""
    return {n: ngram_tables(train_ids, vocab_size, n, smoothing) for n in orders}


def js_by_order(
    models: Sequence[Any],
    ids: np.ndarray,
    ngrams: Mapping[int, NGramTables],
    streams: int = 32,
    window: int = 256,
    context: int = 256,
) -> np.ndarray:
    """Mean JS divergence over characters 1..N-1 of (N,) ids between each model and each n-gram.

    models: C CharRNNs with the n-grams' vocabulary; run side by side, block by block, so each
    n-gram distribution is computed once for all of them. Returns (C, O) float64, the orders
    in the mapping's order. Streams / window / context: as in predictions.rnn_blocks.
    """
    ids = as_ids(ids)
    if not models or not ngrams:
        raise CharwiseError("give at least one model and one n-gram")
    orders = list(ngrams)
    sums = np.zeros((len(models), len(orders)))
    count = 0
    runs = [rnn_blocks(m, ids, streams, window, context) for m in models]
    for blocks in zip(*runs, strict=True):
        pos = blocks[0][0]
        count += len(pos)
        for j, n in enumerate(orders):
            tables = ngrams[n]
            if tables.V != blocks[0][1].shape[1]:
                raise CharwiseError(
                    f"the {n}-gram has {tables.V} characters and the model "
                    f"{blocks[0][1].shape[1]}: they need the same vocabulary"
                )
            q = ngram_distributions(tables, ids, pos)
            for i, (_, probs) in enumerate(blocks):
                sums[i, j] += js_divergence(probs, q).sum()
    return sums / max(count, 1)


@dataclass
class Dynamics:
    steps: np.ndarray  # (C,) training step of each checkpoint
    orders: np.ndarray  # (O,) n-gram orders
    js: np.ndarray  # (C, O) mean JS divergence in nats

    def closest_order(self) -> np.ndarray:
        """(C,) the n-gram order each checkpoint is closest to."""
        return self.orders[np.argmin(self.js, axis=1)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps.tolist(),
            "orders": self.orders.tolist(),
            "js_nats": self.js.tolist(),
            "closest_order": self.closest_order().tolist(),
        }


def training_dynamics(
    checkpoints: Sequence[tuple[int, Any]],
    ids: np.ndarray,
    ngrams: Mapping[int, NGramTables],
    streams: int = 32,
    window: int = 256,
    context: int = 256,
) -> Dynamics:
    """(step, CharRNN) checkpoints, (N,) ids of a text (e.g. the validation split), n-grams
    counted on the training split -> the JS divergence of every checkpoint to every n-gram."""
    if not checkpoints:
        raise CharwiseError("no checkpoints: record some with CheckpointRecorder")
    ordered = sorted(checkpoints, key=lambda c: c[0])
    js = js_by_order([m for _, m in ordered], ids, ngrams, streams, window, context)
    return Dynamics(np.array([s for s, _ in ordered], dtype=np.int64), np.array(list(ngrams)), js)


# -- checkpoints during training -------------------------------------------------------------------
def _saved_step(path: Path, key: str) -> int | None:
    """The step in a charwise weights file's JSON metadata (None if there is no such file)."""
    if not path.exists():
        return None
    with safe_open(str(path), framework="pt") as f:  # reads the header, not the tensors
        meta = f.metadata() or {}
    try:
        step = json.loads(meta.get(key, "{}")).get("step")
    except (json.JSONDecodeError, AttributeError):
        return None
    return int(step) if isinstance(step, int) else None


class CheckpointRecorder(Callbacks):
    """A charwise.Callbacks that keeps a copy of the model each time training writes weights.

        rec = CheckpointRecorder("runs/x")
        charwise.train(cfg, "runs/x", callbacks=rec)
        dyn = training_dynamics(rec.checkpoints, val_ids, fit_ngrams(train_ids, V))

    Training writes the latest weights every `save_every` steps (state.safetensors) and the
    best ones whenever validation improves (model.safetensors); at every hook this looks at
    both files' step and loads the weights of any step it has not kept yet (on the CPU). So
    set save_every (with eval_every) to the spacing of checkpoints wanted. With --ema the
    best weights are the average, the latest ones are not. `inner`: callbacks to pass every
    event on to (e.g. the CLI's progress printer). `every`: keep only steps divisible by it.
    """

    def __init__(self, run_dir: str | Path, inner: Callbacks | None = None, every: int = 1):
        if every < 1:
            raise CharwiseError("every must be at least 1")
        self.run_dir, self.inner, self.every = Path(run_dir), inner, every
        self.models: dict[int, Any] = {}

    @property
    def checkpoints(self) -> list[tuple[int, Any]]:
        """[(step, CharRNN)] by step."""
        return sorted(self.models.items(), key=lambda kv: kv[0])

    def poll(self) -> None:
        for weights, name, key in (
            ("last", "state.safetensors", "trainer"),
            ("best", "model.safetensors", "info"),
        ):
            step = _saved_step(self.run_dir / name, key)
            if step is None or step in self.models or step % self.every:
                continue
            run = load(self.run_dir, device="cpu", weights=weights)
            self.models[step] = run.model

    def on_start(self, info: dict[str, Any]) -> None:
        if self.inner:
            self.inner.on_start(info)
        self.poll()  # a resumed run already has weights

    def on_step(self, rec: dict[str, Any]) -> None:
        if self.inner:
            self.inner.on_step(rec)
        self.poll()

    def on_eval(self, rec: dict[str, Any]) -> None:
        if self.inner:
            self.inner.on_eval(rec)
        self.poll()

    def on_sample(self, rec: dict[str, Any]) -> None:
        if self.inner:
            self.inner.on_sample(rec)
        self.poll()

    def on_end(self, result) -> None:
        self.poll()
        if self.inner:
            self.inner.on_end(result)
