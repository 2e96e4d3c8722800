"""Training, saving and loading n-gram runs, and the model object `charwise sample/eval/info` use.

A run directory of an n-gram model:
    config.json         format + versions, model {kind: "ngram", order, smoothing}, data config
    vocab.json          the vocabulary
    ngram.safetensors   the context levels (int64 keys and counts) and the training ids
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DataConfig, from_dict
from ..data.corpus import load_corpus, split_ids
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..fields import FieldError, literal, option, require, validate
from ..runs.format import load_tensors, parse_config, save_tensors, write_config
from ..runs.run import Run
from ..use.sampling import SampleOptions, decode
from .counting import Level, build_levels
from .model import SMOOTHINGS, NGramTables, total_nats
from .tune import tune_discounts

WEIGHTS = "ngram.safetensors"
MAX_ORDER = 64
_FIELDS = ("node_keys", "single_keys", "single_pos", "pair_keys", "pair_counts")
DISCOUNTS = ("counts", "tune")


@dataclass(frozen=True)
class NGramConfig:
    """A character n-gram: P(next | the previous order-1 characters), smoothed."""

    order: int = option(5, ge=1, le=MAX_ORDER)  # characters per n-gram (context = order - 1)
    smoothing: str = option("kn", choices=SMOOTHINGS)  # kn: modified Kneser-Ney | wb: Witten-Bell
    # Kneser-Ney discounts: Chen & Goodman's counts-of-counts estimates, or L-BFGS on the val
    # split's loss (ngram/tune.py); the test split stays unseen either way.
    discounts: str = option("counts", choices=DISCOUNTS)  # counts: from counts | tune: fit on val

    def __post_init__(self) -> None:
        validate(self)
        require(
            self.discounts == "counts" or self.smoothing == "kn",
            "discounts",
            "{discounts} tune needs Kneser-Ney {smoothing}",
        )


class NGramModel:
    """A trained n-gram: fit from ids, loss_over_ids(ids), distribution(context),
    generate(opts, on_text), describe()."""

    def __init__(
        self, tables: NGramTables, vocab: Vocab, cfg: NGramConfig, data_config: DataConfig
    ):
        self.tables, self.vocab, self.cfg, self.data_config = tables, vocab, cfg, data_config

    @classmethod
    def fit(
        cls,
        train_ids: np.ndarray,
        vocab: Vocab,
        cfg: NGramConfig,
        data_config: DataConfig,
        val_ids: np.ndarray | None = None,
        discounts: np.ndarray | None = None,
    ) -> NGramModel:
        """Count (N,) training ids into a model. `cfg.discounts == "tune"` fits the discounts
        to (M,) `val_ids`; `discounts` ((order, 3)) gives them outright."""
        if len(train_ids) == 0:
            raise CharwiseError("the train split is empty: nothing to count")
        levels = build_levels(np.asarray(train_ids), vocab.size, cfg.order, cfg.smoothing)
        tables = NGramTables(levels, train_ids, vocab.size, cfg.smoothing, discounts)
        if cfg.discounts == "tune" and discounts is None:
            if val_ids is None or len(val_ids) < 2:
                raise FieldError(
                    "discounts", "{discounts} tune needs a val split of at least 2 characters"
                )
            tuned = tune_discounts(tables, np.asarray(val_ids))
            tables = NGramTables(levels, train_ids, vocab.size, cfg.smoothing, tuned)
        return cls(tables, vocab, cfg, data_config)

    @property
    def order(self) -> int:
        return self.cfg.order

    # -- evaluation -----------------------------------------------------------------------------
    def loss_over_ids(self, ids: np.ndarray) -> tuple[float, int]:
        """(N,) ids -> (total nats of predicting ids[1:] from the text before each, N-1)."""
        if len(ids) < 2:
            raise CharwiseError("the text is too short to evaluate: it needs at least 2 characters")
        return total_nats(self.tables, np.asarray(ids))

    def distribution(self, context: str | list[int]) -> np.ndarray:
        """(V,) probabilities of the character after `context` (text or ids)."""
        ids = self.vocab.encode(context) if isinstance(context, str) else np.asarray(context)
        row = _context_row(np.asarray(ids, np.int64), self.order, self.vocab.size)
        return self.tables.dist(row)[0]

    # -- sampling -------------------------------------------------------------------------------
    def generate(
        self, opts: SampleOptions, on_text: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """Sample `opts.num_samples` texts (or beam-search them); the options mean what they
        mean for an RNN."""
        return decode(self.decoder, self.vocab, opts, on_text)

    def decoder(self, ids: list[int], n: int) -> NGramDecoder:
        """A Decoder of n rows that has read `ids` but the last (sampling/beam.py's step)."""
        return NGramDecoder(
            self,
            _context_row(np.asarray(ids[:-1], np.int64), self.order, self.vocab.size).repeat(
                n, axis=0
            ),
        )

    # -- description ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        t = self.tables
        # singletons alive at level m were created at levels <= m; level 0 has none
        alive = [int(t.singletons[m - 1]) if m else 0 for m in range(len(t.levels))]
        contexts = [lv.n_nodes + s for lv, s in zip(t.levels, alive, strict=True)]
        ngrams = [len(lv.pair_keys) + s for lv, s in zip(t.levels, alive, strict=True)]
        return {
            "order": self.order,
            "smoothing": self.cfg.smoothing,
            "train_chars": len(t.train),
            "contexts_per_level": contexts,
            "ngrams_per_level": ngrams,
            "distinct_ngrams": int(sum(ngrams)),
            "stored_numbers": self.stored_numbers(),
            "discounts": [[round(float(x), 4) for x in d] for d in t.disc]
            if self.cfg.smoothing == "kn"
            else None,
        }

    def stored_numbers(self) -> int:
        """How many integers the model stores (keys, counts, positions, training ids)."""
        return len(self.tables.train) + sum(
            len(getattr(lv, f)) for lv in self.tables.levels for f in _FIELDS
        )


class NGramDecoder:
    """n rows of context, each the last order-1 characters read (newest first)."""

    def __init__(self, model: NGramModel, ctx: np.ndarray):
        self.model, self.ctx = model, ctx  # (n, order-1)

    def advance(self, x: torch.Tensor) -> torch.Tensor:
        """x (n,) -> (n, V) log-probabilities of the character after x."""
        if self.ctx.shape[1]:  # newest character first
            col = x.numpy()[:, None].astype(np.int64)
            self.ctx = np.concatenate([col, self.ctx[:, :-1]], axis=1)
        return torch.from_numpy(np.log(self.model.tables.dist(self.ctx)))

    def keep(self, rows: torch.Tensor) -> None:
        self.ctx = self.ctx[rows.numpy()]


def _context_row(ids: np.ndarray, order: int, V: int) -> np.ndarray:
    """Text ids -> (1, order-1) context of the character after them (most recent first)."""
    row = np.full((1, order - 1), V, dtype=np.int64)
    recent = ids[::-1][: order - 1]
    row[0, : len(recent)] = recent
    return row


# -- training, saving, loading --------------------------------------------------------------------
@dataclass
class NGramResult:
    model: NGramModel
    run_dir: Path | None
    seconds: float  # counting time
    train_chars: int
    val: np.ndarray
    test: np.ndarray


def train_ngram(
    data: DataConfig, cfg: NGramConfig, out: str | Path | None = None, cache_dir: Path | None = None
) -> NGramResult:
    """Count an n-gram on the train split of `data` (the same split `charwise train` uses);
    with `out`, save it as a run directory."""
    if out is not None and (Path(out) / "config.json").exists():
        raise FieldError("out", f"{literal(out)} already holds a run; choose another {{out}}")
    corpus = load_corpus(data, cache_dir=cache_dir)
    splits = split_ids(corpus.ids, data.split, data.split_rows)
    t0 = time.perf_counter()
    model = NGramModel.fit(
        np.asarray(splits.train), corpus.vocab, cfg, data, np.asarray(splits.val)
    )
    seconds = time.perf_counter() - t0
    if out is not None:
        save_ngram(out, model, list(corpus.files), seconds, corpus.text_hash)
    return NGramResult(
        model,
        Path(out) if out else None,
        seconds,
        len(splits.train),
        np.asarray(splits.val),
        np.asarray(splits.test),
    )


def save_ngram(
    run_dir: str | Path,
    model: NGramModel,
    sources: list[str],
    seconds: float,
    text_hash: str = "",
) -> None:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    t = model.tables
    tensors = {
        f"l{m}.{f}": torch.from_numpy(np.ascontiguousarray(getattr(lv, f), np.int64))
        for m, lv in enumerate(t.levels)
        for f in _FIELDS
    }
    ids_dtype = np.uint8 if model.vocab.size <= 256 else np.int32
    tensors["train_ids"] = torch.from_numpy(t.train.astype(ids_dtype))
    if model.cfg.discounts != "counts":  # the tuned ones (counted ones are recomputed on load)
        tensors["discounts"] = torch.from_numpy(np.array(t.disc, dtype=np.float64))
    save_tensors(run_dir / WEIGHTS, tensors, {"info": json.dumps({"order": model.order})})
    body = {
        "model": {"kind": "ngram", **dataclasses.asdict(model.cfg), "vocab_size": model.vocab.size},
        # Text paths absolute, as `charwise train` stores them: `eval --split` re-reads the text
        # and must find it from any working directory.
        "data": {
            **dataclasses.asdict(model.data_config),
            "sources": [os.path.abspath(src) for src in model.data_config.sources],
        },
        "sources": sources,
        "text_hash": text_hash,  # what run.split() checks the text against
        "count_seconds": round(seconds, 3),
        "distinct_ngrams": model.describe()["distinct_ngrams"],
    }
    write_config(run_dir, body, model.vocab)


class NGramRun(Run):
    """An n-gram run behind the Run interface; `model` is the NGramModel."""

    model: NGramModel

    def generate(
        self, opts: SampleOptions, on_text: Callable[[int, str], None] | None = None
    ) -> list[str]:
        return self.model.generate(opts, on_text)

    def loss_over_ids(self, ids: np.ndarray) -> tuple[float, int]:
        return self.model.loss_over_ids(ids)

    def count_model(self) -> NGramModel:
        return self.model

    @property
    def label(self) -> str:
        return "an n-gram run"

    def describe(self) -> dict[str, Any]:
        d = self.model.describe()
        return {"headline": f"n-gram model, order {d['order']} ({d['smoothing']})", **d}


def _ngram_config(m: dict[str, Any]) -> NGramConfig:
    return NGramConfig(
        order=m.get("order", 0),
        smoothing=m.get("smoothing", "kn"),
        discounts=m.get("discounts", "counts"),
    )


def load_ngram(run_dir: str | Path, cfg: dict[str, Any], vocab: Vocab) -> NGramRun:
    """Read an n-gram run directory (runs/load.py calls this for kind "ngram")."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    ncfg = parse_config(_ngram_config, cfg["model"], path)
    if int(cfg["model"].get("vocab_size", vocab.size)) != vocab.size:
        raise CharwiseError(
            f"{run_dir}: config.json and vocab.json disagree on the vocabulary size"
        )
    tensors, _ = load_tensors(run_dir / WEIGHTS)
    try:
        levels = [
            Level(*(tensors[f"l{k}.{f}"].numpy() for f in _FIELDS)) for k in range(ncfg.order)
        ]
        train = tensors["train_ids"].numpy().astype(np.int64)
        disc = tensors["discounts"].numpy() if ncfg.discounts != "counts" else None
    except KeyError as e:
        raise CharwiseError(
            f"{run_dir / WEIGHTS} lacks {e.args[0]}: it does not match config.json"
        ) from None
    if len(train) and int(train.max()) >= vocab.size:
        raise CharwiseError(f"{run_dir / WEIGHTS} does not match vocab.json")
    data = parse_config(lambda d: from_dict(DataConfig, d), cfg.get("data", {}), path)
    if disc is not None and disc.shape != (ncfg.order, 3):
        raise CharwiseError(f"{run_dir / WEIGHTS} does not match config.json (discounts)")
    tables = NGramTables(levels, train, vocab.size, ncfg.smoothing, disc)
    model = NGramModel(tables, vocab, ncfg, data)
    return NGramRun(run_dir, model, vocab, cfg, data, {"count_seconds": cfg.get("count_seconds")})
