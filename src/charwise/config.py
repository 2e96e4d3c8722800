"""Typed, frozen configs. Each validates itself on construction and is saved in config.json.

Every default carries a one-line comment saying why it is what it is.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import CharwiseError

MODEL_KINDS = ("lstm", "gru", "rnn")
OPTIMIZERS = ("adamw", "rmsprop", "sgd")
SCHEDULES = ("cosine", "linear", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise CharwiseError(msg)


def _finite(x: float) -> bool:
    # NaN fails every comparison, but inf passes `> 0`: a limit or rate of inf is a typo, not a
    # setting, and would surface much later (a NaN loss, an Adam error) if let through.
    return isinstance(x, (int, float)) and math.isfinite(x)


# The scalar annotations check_types enforces. numbers.Integral / Real also admit numpy's
# scalars; bool, an int subclass, is refused where a number is meant (True would train 1 layer).
_SCALAR_TYPES = {
    "int": (numbers.Integral, "an integer"),
    "float": (numbers.Real, "a number"),
    "bool": (bool, "true or false"),
    "str": (str, "a string"),
}


def option_name(field: str) -> str:
    """The CLI option of a config field, for messages (`lr` -> `--lr`, `kind` -> `--model`)."""
    return "--" + {"kind": "model", "bytes_mode": "bytes"}.get(field, field).replace("_", "-")


def check_types(obj: Any) -> None:
    """Refuse a value of the wrong type in a scalar field (a float seed, a string hidden size,
    32.0 layers from a hand-edited config.json): the range checks below would pass some of them,
    and torch would fail on them later, deep inside the model or after training has begun."""
    for f in dataclasses.fields(obj):
        kinds = [t.strip() for t in str(f.type).split("|")]
        value = getattr(obj, f.name)
        if value is None and "None" in kinds:
            continue
        kinds = [t for t in kinds if t != "None"]
        if len(kinds) != 1 or kinds[0] not in _SCALAR_TYPES:
            continue  # tuples and the like: their own checks
        cls, what = _SCALAR_TYPES[kinds[0]]
        ok = isinstance(value, cls) and (cls is bool or not isinstance(value, bool))
        _check(ok, f"{option_name(f.name)} must be {what}, not {value!r}")


SEED_LIMIT = 2**63  # torch seeds are 64-bit; the headroom keeps seed + step + rank in range


@dataclass(frozen=True)
class ModelConfig:
    """The network: embedding -> `layers` stacked recurrent layers -> linear head."""

    vocab_size: int
    kind: str = "gru"  # lstm | gru | rnn; a GRU learns faster per second (bench/RESULTS.md)
    layers: int = 2  # the post's char-rnn default; 3 helps little at this data size
    hidden: int = 512  # 2x512 fits a 2-core CPU's 600 s budget and reaches ~1.43 nats
    embed: int = 64  # a learned embedding replaces char-rnn's one-hot; small is enough for chars
    dropout: float = 0.25  # variational: one mask per stream and window on each layer's output
    embed_dropout: float = 0.0  # variational dropout on the embedding (the first layer's input)
    weight_drop: float = 0.0  # DropConnect on the recurrent weights while training (AWD-LSTM)

    def __post_init__(self) -> None:
        check_types(self)
        _check(
            self.kind in MODEL_KINDS,
            f"unknown model kind {self.kind!r}; choose one of {MODEL_KINDS}",
        )
        _check(self.vocab_size >= 1, "the vocabulary is empty")
        _check(self.layers >= 1, "--layers must be at least 1")
        _check(self.hidden >= 1, "--hidden must be at least 1")
        _check(self.embed >= 1, "--embed must be at least 1")
        _check(0.0 <= self.dropout < 1.0, "--dropout must be in [0, 1)")
        _check(0.0 <= self.weight_drop < 1.0, "--weight-drop must be in [0, 1)")
        _check(0.0 <= self.embed_dropout < 1.0, "--embed-dropout must be in [0, 1)")


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split."""

    sources: tuple[str, ...] = ()  # files or directories; empty when a built-in corpus is used
    corpus: str | None = None  # name of a built-in corpus (see `charwise corpora`)
    glob: str = "*"  # filter for files found inside directories (recursively)
    bytes_mode: bool = False  # train on raw bytes instead of Unicode code points
    max_vocab: int | None = None  # keep the most frequent characters; the rest map to <unk>
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)  # contiguous train / val / test

    def __post_init__(self) -> None:
        # One path given as a str or Path is one source, not one source per character.
        sources = (self.sources,) if isinstance(self.sources, (str, os.PathLike)) else self.sources
        object.__setattr__(self, "sources", tuple(str(s) for s in sources))
        check_types(self)
        object.__setattr__(self, "split", tuple(float(f) for f in self.split))
        _check(bool(self.sources) != bool(self.corpus), "give either text files or --corpus NAME")
        _check(len(self.split) == 3, "--split needs three fractions: train,val,test")
        _check(all(_finite(f) for f in self.split), "--split fractions must be finite numbers")
        _check(all(f >= 0 for f in self.split), "--split fractions must not be negative")
        _check(abs(sum(self.split) - 1.0) < 1e-6, "--split fractions must add up to 1")
        _check(self.split[0] > 0, "the train fraction of --split must be positive")
        _check(self.max_vocab is None or self.max_vocab >= 2, "--max-vocab must be at least 2")


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: truncated BPTT over `batch_size` parallel streams of `seq_len` steps."""

    # 96 x 32 rather than 32 x 64: per character the GRU's per-step work (small elementwise ops,
    # per-step products) costs less with more streams and fewer steps; in the 600 s CPU
    # benchmark it trained ~1.3x faster and ended within the 1.45 target (bench/RESULTS.md).
    batch_size: int = 96  # parallel streams (global, over all processes); raise it on a GPU
    seq_len: int = 32  # BPTT window; state is carried across windows, so long context survives
    optimizer: str = "adamw"  # adamw | rmsprop (char-rnn's) | sgd
    lr: float = 3e-3  # peak learning rate; Adam on char-RNNs tolerates 2e-3..5e-3
    min_lr_ratio: float = 0.05  # cosine / linear decay to lr * this
    weight_decay: float = 0.0  # decoupled (AdamW) weight decay on matrices only
    beta2: float = 0.99  # shorter second-moment memory than 0.999: steadier for small batches
    schedule: str = "cosine"  # cosine | linear | exp (char-rnn's per-epoch decay) | constant
    warmup: int = 50  # linear warm-up steps
    decay_rate: float = 0.97  # exp schedule: lr *= decay_rate every epoch after decay_start
    decay_start: int = 10  # exp schedule: first epoch that decays (char-rnn's default)
    grad_clip: float = 1.0  # global gradient-norm clipping (char-rnn clipped values at 5)
    ema: float = 0.0  # >0: validate, sample and save an EMA of the weights with this decay per step
    max_steps: int | None = None  # stop after this many optimizer steps
    max_time: float | None = None  # stop after this many seconds of training
    epochs: float | None = None  # stop after this many passes over the train split
    eval_every: int = 200  # steps between validations (and at the end)
    sample_every: int = 200  # steps between samples written to samples.jsonl
    sample_length: int = 200  # characters per training-time sample
    log_every: int = 10  # steps between log.jsonl training records
    save_every: int = 200  # steps between resumable-state saves
    patience: int | None = None  # early stop after this many evaluations without improvement
    seed: int = 1337  # the same seed gives the same losses and samples on CPU
    device: str = "auto"  # auto | cpu | cuda | mps
    threads: int | None = None  # CPU threads (None: torch's default, all cores)
    compile: bool = False  # torch.compile the model (GPU; helps little on CPU)
    amp: bool = True  # bf16 autocast where it is native: CUDA, CPUs with AVX512-BF16 / AMX
    max_loss: float = 20.0  # a training loss above this (nats) counts as exploded

    def __post_init__(self) -> None:
        check_types(self)
        _check(self.batch_size >= 1, "--batch-size must be at least 1")
        _check(self.seq_len >= 1, "--seq-len must be at least 1")
        _check(
            self.optimizer in OPTIMIZERS,
            f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}",
        )
        _check(
            self.schedule in SCHEDULES,
            f"unknown schedule {self.schedule!r}; choose one of {SCHEDULES}",
        )
        _check(self.device in DEVICES, f"unknown device {self.device!r}; choose one of {DEVICES}")
        # Checked here, up front: a bad value would otherwise fail inside torch (a traceback) or
        # only after training (the first sample, the divergence check), losing the run.
        _check(_finite(self.lr) and self.lr > 0, "--lr must be a positive finite number")
        _check(0.0 <= self.min_lr_ratio <= 1.0, "--min-lr-ratio must be in [0, 1]")
        _check(
            _finite(self.weight_decay) and self.weight_decay >= 0,
            "--weight-decay must be a finite number, not negative",
        )
        _check(0.0 <= self.beta2 < 1.0, "--beta2 must be in [0, 1)")
        _check(self.warmup >= 0, "--warmup must not be negative")
        # char-rnn's exp schedule multiplies lr by decay_rate each epoch: above 1 it would grow.
        _check(0.0 < self.decay_rate <= 1.0, "--decay-rate must be in (0, 1]")
        _check(self.decay_start >= 0, "--decay-start must not be negative")
        _check(
            _finite(self.grad_clip) and self.grad_clip >= 0,
            "--grad-clip must be a finite number, not negative (0 turns clipping off)",
        )
        _check(0.0 <= self.ema < 1.0, "--ema must be in [0, 1)")
        # inf is allowed: then only a NaN / inf loss counts as diverged.
        _check(self.max_loss > 0, "--max-loss must be positive")
        _check(self.sample_length >= 1, "--sample-length must be at least 1")
        _check(0 <= self.seed < SEED_LIMIT, "--seed must be in [0, 2**63)")
        for name in ("eval_every", "sample_every", "log_every", "save_every"):
            _check(getattr(self, name) >= 1, f"--{name.replace('_', '-')} must be at least 1")
        _check(self.max_steps is None or self.max_steps >= 1, "--max-steps must be at least 1")
        _check(
            self.max_time is None or (_finite(self.max_time) and self.max_time > 0),
            "--max-time must be a positive finite number of seconds",
        )
        _check(
            self.epochs is None or (_finite(self.epochs) and self.epochs > 0),
            "--epochs must be a positive finite number",
        )
        _check(self.patience is None or self.patience >= 1, "--patience must be at least 1")
        _check(self.threads is None or self.threads >= 1, "--threads must be at least 1")


@dataclass(frozen=True)
class RunConfig:
    """Everything config.json holds: the model, the data and the training settings."""

    model: ModelConfig
    data: DataConfig = field(default_factory=lambda: DataConfig(corpus="names"))
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "train": dataclasses.asdict(self.train),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        _check(isinstance(d.get("model"), dict), "config.json has no model section")
        return cls(
            model=from_dict(ModelConfig, d["model"]),
            data=from_dict(DataConfig, d.get("data", {"corpus": "names"})),
            train=from_dict(TrainConfig, d.get("train", {})),
        )


def from_dict(cls: type, d: dict[str, Any]):
    """Build a config dataclass from a dict, ignoring keys a newer charwise may have added."""
    _check(isinstance(d, dict), f"config.json: the {cls.__name__} section is not an object")
    fields = dataclasses.fields(cls)
    kwargs = {
        k: (tuple(v) if isinstance(v, list) else v)
        for k, v in d.items()
        if k in {f.name for f in fields}
    }
    missing = [
        f.name
        for f in fields
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    _check(not missing, f"config.json: {cls.__name__} lacks {', '.join(missing)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:  # a value of the wrong type, e.g. "layers": "two"
        raise CharwiseError(f"config.json: bad {cls.__name__} ({e})") from None
