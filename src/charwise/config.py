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

MODEL_KINDS = ("lstm", "gru", "rnn", "transformer")
# Sizes that depend on the kind when not given. RNNs: 2x512 fits a 2-core CPU's 600 s budget and
# reaches ~1.43 (RESULTS). Transformer: 4 layers x 256 wide (3.25 M weights, ~1.5x the 2x512
# GRU's multiply-adds per character) rather than nanoGPT's 6x384 character model (10.7 M, ~3.4x
# the GRU's), which would read a third as much text in the budget on 2 cores. No dropout: a 600 s
# run reads the text ~5 times (nanoGPT's 0.2 is for ~80 passes of its 10.7 M model), and dropout's
# masks cost ~25% of a CPU step (NOTES-transformer.md); untuned beyond that.
KIND_DEFAULTS = {
    "rnn": {"layers": 2, "hidden": 512, "dropout": 0.25},
    "transformer": {"layers": 4, "hidden": 256, "dropout": 0.0},
}
POSITIONS = ("learned", "rope")
OPTIMIZERS = ("auto", "adamw", "muon", "rmsprop", "sgd")
# The optimizer when none is given. RNNs: "auto", which training resolves on its device
# (training/optimizer.resolve_optimizer): Muon on the cell's matrices where bf16 matmuls are
# native, AdamW elsewhere. Muon won the 600 s tinyshakespeare benchmark on an AVX512-BF16 Xeon
# (1.411-1.416 against AdamW's 1.450-1.451 on two threads) and lost it on an AVX2 EPYC, where its
# Newton-Schulz products run in fp32 (1.4693 against 1.4544, bench/RESULTS.md). The transformer
# keeps AdamW: Muon was not measured on it.
OPTIMIZER_DEFAULTS = {"rnn": "auto", "transformer": "adamw"}
SCHEDULES = ("cosine", "linear", "exp", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")


def kind_default(kind: str, name: str) -> Any:
    """The default of `name` (layers, hidden or dropout) for a model `kind`."""
    return KIND_DEFAULTS["transformer" if kind == "transformer" else "rnn"][name]


def default_optimizer(kind: str) -> str:
    """The optimizer a model `kind` trains with when none is given."""
    return OPTIMIZER_DEFAULTS["transformer" if kind == "transformer" else "rnn"]


@dataclass(frozen=True)
class ModelConfig:
    """The network: embedding -> `layers` stacked recurrent layers (or transformer blocks) ->
    linear head. `layers`, `hidden` and `dropout` default by kind (KIND_DEFAULTS)."""

    vocab_size: int = option(ge=1)  # set from the data
    kind: str = option("gru", choices=MODEL_KINDS)  # an RNN (a GRU learns fastest) or a transformer
    # None: the kind's default (KIND_DEFAULTS), filled in on construction.
    layers: int | None = option(None, ge=1)  # depth; default 2 (RNN: char-rnn's) or 4 (transformer)
    hidden: int | None = option(None, ge=1)  # width; default 512 (RNN) or 256 (transformer)
    embed: int = option(64, ge=1)  # RNN: a learned embedding replaces char-rnn's one-hot
    # RNN: variational, one mask per stream and window; transformer: on the embedding and on the
    # attention and MLP outputs.
    dropout: float | None = option(None, ge=0, lt=1)  # default 0.25 (RNN) or 0 (transformer)
    embed_dropout: float = option(0.0, ge=0, lt=1)  # RNN: variational dropout on the embedding
    weight_drop: float = option(0.0, ge=0, lt=1)  # RNN: DropConnect on the recurrent weights (AWD)
    heads: int = option(4, ge=1)  # transformer: attention heads of hidden / heads each
    # nanoGPT drops attention probabilities at its `dropout`; off by default here because with
    # dropout_p > 0 torch leaves its fused CPU attention kernel (a ~1.8x slower step). On CUDA
    # the flash kernel draws it fused.
    attn_dropout: float = option(0.0, ge=0, lt=1)  # transformer: dropout on the attention weights
    # Rotary: left the unigram plateau by step ~40 where learned positions were still on it at
    # step 130 (same run, 600 s bench settings: loss 2.17 against 2.49 at step 100).
    positions: str = option("rope", choices=POSITIONS)  # transformer: rotary (rope) or learned
    block: int = option(  # transformer: the context and the training window; a step reads
        256,
        ge=2,
    )  # batch_size x seq_len characters (the RNN's), as windows of this length
    # RNN variants: the cell written out (nn/variants.py), slower per step than the fused
    # kernel; bench/ablations.py measures them against the defaults.
    layer_norm: bool = False  # RNN: layer normalisation inside the cell (LN-GRU / LN-LSTM)
    mogrify: int = option(0, ge=0)  # RNN: Mogrifier rounds of input / state gating (0: off)
    mogrify_rank: int = option(32, ge=0)  # RNN: rank of the Mogrifier matrices (0: full rank)
    # Krause et al. 2016: the gates read m = (W_mx x) * (W_mh h) in place of h, so each input
    # character picks its own recurrent transition; one more (H, H) matmul per step.
    multiplicative: bool = False  # LSTM: the multiplicative LSTM (mLSTM)
    # Press & Wolf 2017, Inan et al. 2017: logits = E P h + b with E the input embedding and P a
    # learned hidden -> embed projection (none when embed == hidden): one matrix fewer.
    tie_embedding: bool = False  # RNN: the output layer reuses the input embedding

    def __post_init__(self) -> None:
        for name in KIND_DEFAULTS["rnn"]:
            if getattr(self, name) is None:
                object.__setattr__(self, name, kind_default(self.kind, name))
        validate(self)
        if self.kind == "transformer":
            require(
                self.hidden % self.heads == 0,
                "heads",
                f"{{hidden}} {self.hidden} must be a multiple of {{heads}} {self.heads}",
            )
            require(
                self.embed_dropout == 0 and self.weight_drop == 0,
                "weight_drop",
                "{embed_dropout} and {weight_drop} are RNN settings; a transformer uses {dropout}",
            )
            require(
                not self.layer_norm and self.mogrify == 0,
                "mogrify",
                "{layer_norm} and {mogrify} change an RNN's cell; a transformer has its own "
                "layer normalisation",
            )
            require(
                not self.multiplicative and not self.tie_embedding,
                "tie_embedding",
                "{multiplicative} and {tie_embedding} are RNN settings; a transformer has neither",
            )
        require(
            self.kind == "transformer" or self.attn_dropout == 0,
            "attn_dropout",
            "{attn_dropout} is a transformer setting; an RNN uses {dropout}",
        )
        require(
            not self.multiplicative or self.kind == "lstm",
            "multiplicative",
            "{multiplicative} is an LSTM variant (the mLSTM): it needs {kind} lstm",
        )


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
    # 1: each split one contiguous part of the text (test = its end). N: char-rnn's loader, as
    # the 2015 paper used it: the text cut into N rows, each row split by {split}, so val and
    # test are N pieces spread through the whole text (data/corpus.split_ids).
    split_rows: int = option(1, ge=1)  # rows the text is cut into before splitting; 1 = contiguous

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
    # A transformer reads the same batch_size x seq_len characters a step, cut into windows of
    # its block (data/batches.WindowBatcher), so both kinds take steps of the same size.
    batch_size: int = option(96, ge=1)  # parallel streams (global, over all processes)
    seq_len: int = option(32, ge=1)  # BPTT window, state carried (transformer: see --block)
    # A batch-size schedule (Smith et al. 2018, "Don't decay the learning rate, increase the
    # batch size"): early in the run each batch's streams are cut into groups, one optimizer
    # update per group, so the run takes more, smaller steps while the loss falls fastest. The
    # data order and the carried state are those of the full batch; only the updates differ.
    start_batch: int | None = option(None, ge=1)  # streams per update at first (a batch schedule)
    batch_ramp: float = option(0.3, gt=0, le=1)  # run fraction taken to grow to batch_size
    # None: the kind's (OPTIMIZER_DEFAULTS), filled in by RunConfig. "auto": muon where bf16
    # matmuls are native, else adamw, resolved when training starts (config.json then names the
    # one used). muon: Muon on the matrices inside the network, AdamW on the embedding, head and
    # biases.
    optimizer: str | None = option(None, choices=OPTIMIZERS)  # RNNs: auto; transformers: adamw
    lr: float = option(3e-3, gt=0)  # peak learning rate; Adam on char-RNNs tolerates 2e-3..5e-3
    # Muon's orthogonal updates grow the recurrent matrices without decay until the GRU
    # saturates (a 600 s run at 3x diverged from step ~300), so its matrices decay; AdamW's not.
    # 1.5x did best of nine 600 s settings on one thread; decay 0.4 beat 0.25 on two (the
    # benchmark's condition: 1.4158 against 1.4303, bench/RESULTS.md).
    muon_scale: float = option(1.5, gt=0)  # muon: Muon's rate over --lr (AdamW-RMS units)
    muon_decay: float = option(0.4, ge=0)  # muon: decoupled weight decay of Muon's matrices
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
        require(
            self.start_batch is None or self.start_batch <= self.batch_size,
            "start_batch",
            "{start_batch} must not exceed {batch_size} (it grows to it)",
        )


@dataclass(frozen=True)
class RunConfig:
    """Everything config.json holds: the model, the data and the training settings."""

    model: ModelConfig
    data: DataConfig = field(default_factory=lambda: DataConfig(corpus="names"))
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.train.optimizer is None:  # the kind's default, saved in config.json as such
            opt = default_optimizer(self.model.kind)
            object.__setattr__(self, "train", dataclasses.replace(self.train, optimizer=opt))

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
