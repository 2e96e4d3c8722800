"""One table for one text: n-grams of a few orders next to RNNs (and a transformer) trained under a
time budget.

Every model is trained on the same train split and scored with the same definition of bits per
character (every character of the val / test split after its first, predicted from the text before
it within the split), so the rows are comparable.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..config import DEVICES, MODEL_KINDS, DataConfig, ModelConfig, RunConfig, TrainConfig
from ..fields import option, require, validate
from ..ngram import NGramConfig, train_ngram
from ..ngram.model import SMOOTHINGS
from ..runs.load import load
from ..training.lifecycle import train
from ..use.evaluate import LN2
from ..use.sampling import SampleOptions


@dataclass(frozen=True)
class CompareConfig:
    orders: tuple[int, ...] = option((3, 6, 10, 20), ge=1, items=True)  # n-gram orders; "" none
    smoothing: str = option("kn", choices=SMOOTHINGS)  # n-gram smoothing
    # A transformer row reads the same characters a step, as windows of its default context.
    models: tuple[str, ...] = option(("lstm",), choices=MODEL_KINDS, items=True)  # "" for none
    budget: float = option(300.0, gt=0)  # seconds of training per network
    layers: int = option(2, ge=1)  # RNN layers (transformer blocks)
    hidden: int = option(256, ge=1)  # width: 2x256 learns fast enough for a few CPU minutes
    embed: int = option(64, ge=1)  # RNN embedding width
    batch_size: int = option(64, ge=1)  # RNN training streams
    seq_len: int = option(128, ge=1)  # RNN BPTT window
    max_steps: int | None = option(None, ge=1)  # also stop an RNN after this many steps
    device: str = option("auto", choices=DEVICES)  # where the RNNs train
    sample_length: int = option(200, ge=0)  # characters per sample
    temperature: float = option(0.8, gt=0)  # sampling temperature for every model's sample
    seed: int = option(0, seed=True)  # training and sampling seed

    def __post_init__(self) -> None:
        validate(self)
        require(
            bool(self.orders or self.models),
            "orders",
            "nothing to compare: give n-gram {orders} or RNN {models}",
        )


@dataclass
class Row:
    model: str
    size: int  # parameters (RNN) or distinct n-grams (n-gram)
    size_unit: str  # "params" | "n-grams"
    train_seconds: float
    val_bpc: float
    test_bpc: float
    sample: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _bpc(total_n: tuple[float, int]) -> float:
    total, n = total_n
    return total / n / LN2 if n else math.nan


def ngram_rows(data: DataConfig, cfg: CompareConfig) -> list[Row]:
    rows = []
    for order in cfg.orders:
        res = train_ngram(data, NGramConfig(order=order, smoothing=cfg.smoothing))
        m = res.model
        opts = SampleOptions(length=cfg.sample_length, temperature=cfg.temperature, seed=cfg.seed)
        rows.append(
            Row(
                f"{order}-gram ({cfg.smoothing})",
                m.describe()["distinct_ngrams"],
                "n-grams",
                res.seconds,
                _bpc(m.loss_over_ids(res.val)) if len(res.val) > 1 else math.nan,
                _bpc(m.loss_over_ids(res.test)) if len(res.test) > 1 else math.nan,
                m.generate(opts)[0],
            )
        )
    return rows


def rnn_row(data: DataConfig, kind: str, cfg: CompareConfig, run_dir: Path) -> Row:
    mc = ModelConfig(vocab_size=1, kind=kind, layers=cfg.layers, hidden=cfg.hidden, embed=cfg.embed)
    tc = TrainConfig(
        max_time=cfg.budget,
        max_steps=cfg.max_steps,
        device=cfg.device,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
        seq_len=cfg.seq_len,
        sample_every=10**9,
        save_every=10**9,
    )
    t0 = time.perf_counter()
    res = train(RunConfig(mc, data, tc), run_dir)
    wall = time.perf_counter() - t0
    run = load(run_dir)  # the best weights by validation loss
    val, test = (_split_bpc(run, name) for name in ("val", "test"))
    opts = SampleOptions(length=cfg.sample_length, temperature=cfg.temperature, seed=cfg.seed)
    return Row(
        f"{kind.upper()} {cfg.layers}x{cfg.hidden}",
        run.model.num_params,
        "params",
        res.elapsed,
        val,
        test,
        run.generate(opts)[0],
        {
            "steps": res.steps,
            "epochs": round(res.epochs, 3),
            "stopped": res.stopped,
            "wall_seconds": round(wall, 1),
            "run_dir": str(run_dir),
        },
    )


def _split_bpc(run, name: str) -> float:
    ids = run.split(name)
    return run.evaluate(ids).bits_per_char if len(ids) > 1 else math.nan


def compare(
    data: DataConfig,
    cfg: CompareConfig,
    out: str | Path | None = None,
    on_row: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Train and score every model; RNN runs go to `out`/<kind> (a temporary folder without it).
    on_row(row) is called as each row is ready."""
    rows = []
    for row in ngram_rows(data, cfg):
        rows.append(row)
        if on_row:
            on_row(row)
    with tempfile.TemporaryDirectory(prefix="charwise-compare-") as tmp:
        base = Path(out) if out else Path(tmp)
        for kind in cfg.models:
            row = rnn_row(data, kind, cfg, base / kind)
            if not out:
                row.extra.pop("run_dir")
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


def format_table(rows: list[Row], sample_chars: int = 60) -> str:
    """A plain-text table: model, size, train time, val and test bits per char, a sample."""
    head = f"{'model':18} {'size':>22} {'train s':>8} {'val bpc':>8} {'test bpc':>8}  sample"
    lines = [head, "-" * len(head)]
    for r in rows:
        s = r.sample[:sample_chars].replace("\n", "\u23ce")
        lines.append(
            f"{r.model:18} {f'{r.size:,} {r.size_unit}':>22} {r.train_seconds:8.1f} "
            f"{r.val_bpc:8.4f} {r.test_bpc:8.4f}  {s}"
        )
    return "\n".join(lines)
