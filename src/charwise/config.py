"""Typed, frozen configs. Each validates itself on construction and is saved in config.json.

Every default carries a one-line comment saying why it is what it is (it becomes the option's
`--help`); ranges and choices are field metadata, checked in one place (fields.py).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import CharwiseError
from .fields import option, require, validate

MODEL_KINDS = ("lstm", "gru", "rnn")
OPTIMIZERS = ("adamw", "rmsprop", "sgd")
SCHEDULES = ("cosine", "linear", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True)
class ModelConfig:
    """The network: embedding -> `layers` stacked recurrent layers -> linear head."""

    vocab_size: int = option(ge=1)  # set from the data
    kind: str = option("gru", choices=MODEL_KINDS)  # a GRU learns faster per second (RESULTS)
    layers: int = option(2, ge=1)  # the post's char-rnn default; 3 helps little at this data size
    hidden: int = option(512, ge=1)  # 2x512 fits a 2-core CPU's 600 s budget and reaches ~1.43
    embed: int = option(64, ge=1)  # a learned embedding replaces char-rnn's one-hot
    dropout: float = option(0.25, ge=0, lt=1)  # variational: one mask per stream and window
    embed_dropout: float = option(0.0, ge=0, lt=1)  # variational dropout on the embedding
    weight_drop: float = option(0.0, ge=0, lt=1)  # DropConnect on the recurrent weights (AWD)
    # The variants below run the cell written out (nn/variants.py), slower per step than the
    # fused kernel; bench/ablations.py measures them against the defaults.
    layer_norm: bool = False  # layer normalisation inside the cell (LN-GRU / LN-LSTM)
    mogrify: int = option(0, ge=0)  # Mogrifier rounds of input / state gating (0: off)
    mogrify_rank: int = option(32, ge=0)  # rank of the Mogrifier matrices (0: full rank)

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class DataConfig:
    """Where the text comes from and how it is split."""

    sources: tuple[str, ...] = ()  # files or directories; empty when a built-in corpus is used
    corpus: str | None = None  # name of a built-in corpus (see `charwise corpora`)
    glob: str = option("*", nonempty=True)  # filter for files found inside directories
    bytes_mode: bool = False  # train on raw bytes instead of Unicode code points
    max_vocab: int | None = option(None, ge=2)  # keep the most frequent characters; rest -> <unk>
    split: tuple[float, float, float] = option(
        (0.9, 0.05, 0.05), ge=0, items=True
    )  # train,val,test

    def __post_init__(self) -> None:
        # One path given as a str or Path is one source, not one source per character.
        sources = (self.sources,) if isinstance(self.sources, (str, os.PathLike)) else self.sources
        object.__setattr__(self, "sources", tuple(str(s) for s in sources))
        if isinstance(self.split, (list, tuple)):  # ints are fractions too: (1, 0, 0)
            object.__setattr__(self, "split", tuple(_as_float(f) for f in self.split))
        validate(self)
        require(
            bool(self.sources) != bool(self.corpus), "sources", "give either text files or {corpus}"
        )
        require(abs(sum(self.split) - 1.0) < 1e-6, "split", "{split} fractions must add up to 1")
        require(self.split[0] > 0, "split", "the train fraction of {split} must be positive")


def _as_float(x: Any) -> Any:
    return float(x) if isinstance(x, int) and not isinstance(x, bool) else x


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation: truncated BPTT over `batch_size` parallel streams of `seq_len` steps."""

    # 96 x 32 rather than 32 x 64: per character the GRU's per-step work (small elementwise ops,
    # per-step products) costs less with more streams and fewer steps; in the 600 s CPU
    # benchmark it trained ~1.3x faster and ended within the 1.45 target (bench/RESULTS.md).
    batch_size: int = option(96, ge=1)  # parallel streams (global, over all processes)
    seq_len: int = option(32, ge=1)  # BPTT window; state is carried across windows
    optimizer: str = option("adamw", choices=OPTIMIZERS)  # rmsprop is char-rnn's
    lr: float = option(3e-3, gt=0)  # peak learning rate; Adam on char-RNNs tolerates 2e-3..5e-3
    min_lr_ratio: float = option(0.05, ge=0, le=1)  # cosine / linear decay to lr * this
    weight_decay: float = option(0.0, ge=0)  # decoupled (AdamW) weight decay on matrices only
    beta2: float = option(0.99, ge=0, lt=1)  # shorter second-moment memory than 0.999
    schedule: str = option("cosine", choices=SCHEDULES)  # exp: char-rnn's per-epoch decay
    warmup: int = option(50, ge=0)  # linear warm-up steps
    decay_rate: float = option(0.97, gt=0, le=1)  # exp schedule: lr *= this every epoch
    decay_start: int = option(10, ge=0)  # exp schedule: first epoch that decays (char-rnn's)
    grad_clip: float = option(1.0, ge=0)  # global gradient-norm clipping; 0 turns it off
    ema: float = option(0.0, ge=0, lt=1)  # >0: validate, sample and save an EMA of the weights
    max_steps: int | None = option(None, ge=1)  # stop after this many optimizer steps
    max_time: float | None = option(None, gt=0)  # stop after this many seconds of training
    epochs: float | None = option(None, gt=0)  # stop after this many passes over the train split
    eval_every: int = option(200, ge=1)  # steps between validations (and at the end)
    sample_every: int = option(200, ge=1)  # steps between samples written to samples.jsonl
    sample_length: int = option(200, ge=1)  # characters per training-time sample
    log_every: int = option(10, ge=1)  # steps between log.jsonl training records
    save_every: int = option(200, ge=1)  # steps between resumable-state saves
    patience: int | None = option(None, ge=1)  # early stop after this many evals without gain
    seed: int = option(1337, seed=True)  # the same seed gives the same losses and samples on CPU
    device: str = option("auto", choices=DEVICES)  # where to train (auto: a GPU if any)
    threads: int | None = option(None, ge=1)  # CPU threads (None: torch's default, all cores)
    compile: bool = False  # torch.compile the model (GPU; helps little on CPU)
    amp: bool = True  # bf16 autocast where it is native: CUDA, CPUs with AVX512-BF16 / AMX
    # inf is allowed: then only a NaN / inf loss counts as diverged.
    max_loss: float = option(20.0, gt=0, allow_inf=True)  # a training loss above this diverged

    def __post_init__(self) -> None:
        validate(self)


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
        """config.json's sections -> RunConfig. A damaged section raises CharwiseError (a bad
        value: FieldError) that says what is wrong, not where: the caller knows the file."""
        if not isinstance(d.get("model"), dict):
            raise CharwiseError("the model section is missing")
        return cls(
            model=from_dict(ModelConfig, d["model"]),
            data=from_dict(DataConfig, d.get("data", {"corpus": "names"})),
            train=from_dict(TrainConfig, d.get("train", {})),
        )


_SECTIONS = {"ModelConfig": "model", "DataConfig": "data", "TrainConfig": "train"}


def from_dict(cls: type, d: dict[str, Any]):
    """Build a config dataclass from a dict (a config.json section), ignoring keys a newer
    charwise may have added; lists become tuples."""
    section = _SECTIONS.get(cls.__name__, cls.__name__)
    if not isinstance(d, dict):
        raise CharwiseError(f"the {section} section is not an object")
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
    missing = [
        f.name
        for f in dataclasses.fields(cls)
        if f.name not in kwargs
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise CharwiseError(f"the {section} section lacks {', '.join(missing)}")
    return cls(**kwargs)
