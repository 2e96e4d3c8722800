"""What an experiment is: one typed, validated `Experiment` per section of Karpathy's
"The Unreasonable Effectiveness of Recurrent Neural Networks" (2015), each with where its text
comes from, the network, a CPU budget that finishes in minutes and a `--long` budget meant to
reach the post's quality, the temperatures to sample at, and the post's claim to show beside
our result (the experiments themselves are in posts.py). `runner.py` runs one; `page.py`
collects the finished ones.

The claims are paraphrased from the post (its wording is not copied); the post's own figures
are named by section so a reader can look them up side by side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..config import DataConfig, ModelConfig, TrainConfig
from ..fields import option, require, validate

POST_URL = "https://karpathy.github.io/2015/05/21/rnn-effectiveness/"
PAPER_URL = "https://arxiv.org/abs/1506.02078"
DATA_ENV = "CHARWISE_DATA"  # the data folder when --data is not given
DEFAULT_DATA = "../shared/data"  # relative to the working directory (a checkout's sibling)


@dataclass(frozen=True)
class Text:
    """Where an experiment's text comes from: exactly one of a built-in corpus, a file of the
    data folder, or the user's own copy (`--text PATH`)."""

    corpus: str | None = None  # a built-in corpus (`charwise corpora`)
    file: str | None = None  # a file name in the data folder (--data, $CHARWISE_DATA)
    user: bool = False  # no copy here: the user gives it with --text PATH
    origin: str = option("", nonempty=True)  # where the text comes from, for errors and the page
    bytes_mode: bool = False  # model bytes, not code points (enwik8's results are per byte)
    split: tuple[float, float, float] = (0.9, 0.05, 0.05)  # train, val, test fractions
    size: int | None = option(None, ge=1)  # the exact size in bytes the split assumes
    split_rows: int = option(1, ge=1)  # 100: char-rnn's loader, as the paper split its texts

    def __post_init__(self) -> None:
        validate(self)
        given = [self.corpus is not None, self.file is not None, self.user]
        require(sum(given) == 1, "corpus", "give exactly one of {corpus}, {file}, {user}")
        DataConfig(corpus="names", split=self.split)  # the split's own rules

    def data_config(self, **source) -> DataConfig:
        """This text's DataConfig, given where it is (`corpus=` or `sources=`)."""
        return DataConfig(
            **source, split=self.split, split_rows=self.split_rows, bytes_mode=self.bytes_mode
        )

    @property
    def label(self) -> str:
        if self.corpus:
            return f"built-in corpus `{self.corpus}`"
        return f"`{self.file}` from the data folder" if self.file else "your own copy (--text PATH)"


def shared_text(file: str, origin: str, **kw) -> Text:
    """A text of the data folder (../shared/data), whose PROVENANCE.md tells its origin."""
    return Text(file=file, origin=f"{origin}; see PROVENANCE.md in the data folder", **kw)


@dataclass(frozen=True)
class Budget:
    """One training budget: the network and how long it trains. Steps, not seconds, so a
    budget is reproducible (ARCHITECTURE: a time-limited run is not), except where the claim is
    about time ("within an hour on this CPU"): then `max_time`."""

    kind: str = option("lstm", choices=("lstm", "gru", "rnn"))  # the post's runs are LSTMs
    layers: int = option(2, ge=1)  # stacked recurrent layers
    hidden: int = option(256, ge=1)  # units per layer
    embed: int = option(64, ge=1)  # embedding width
    dropout: float = option(0.0, ge=0, lt=1)  # variational dropout between layers
    batch_size: int = option(32, ge=1)  # parallel streams
    seq_len: int = option(64, ge=1)  # BPTT window
    lr: float = option(3e-3, gt=0)  # peak learning rate (AdamW, cosine)
    max_steps: int = option(1000, ge=1)  # optimizer steps
    max_time: float | None = option(None, gt=0)  # seconds of training instead of max_steps
    eval_every: int = option(250, ge=1)  # steps between validations (the curve's points)
    sample_every: int = option(250, ge=1)  # steps between training-time samples
    sample_length: int = option(300, ge=1)  # characters per training-time sample
    # The --long budgets' "~N min on an H200" are estimates, not runs: steps x seq_len x layers
    # x the ~0.065 ms per layer and time step (forward, backward, validations) that a 3x512 GRU
    # at 128 x 128 took in charwise's loop with an H200 alone (6,077 steps in 150 s, RESULTS).
    about: str = ""  # what it costs, in words ("~4 min on a 2-core CPU")

    def __post_init__(self) -> None:
        validate(self)
        self.model_config()  # the network's own rules

    def model_config(self) -> ModelConfig:
        return ModelConfig(
            vocab_size=1,
            kind=self.kind,
            layers=self.layers,
            hidden=self.hidden,
            embed=self.embed,
            dropout=self.dropout,
        )

    def train_config(self, **overrides) -> TrainConfig:
        """The TrainConfig of this budget; `overrides` (limits, device, threads, seed) win."""
        kw = dict(
            # The budgets were tuned, and the pages generated, with AdamW (Muon became the RNNs'
            # default after): pinned, so each experiment reproduces its page.
            optimizer="adamw",
            batch_size=self.batch_size,
            seq_len=self.seq_len,
            lr=self.lr,
            max_steps=None if self.max_time else self.max_steps,
            max_time=self.max_time,
            eval_every=self.eval_every,
            sample_every=self.sample_every,
            sample_length=self.sample_length,
            save_every=self.eval_every,
            warmup=min(50, self.max_steps // 10),
        )
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return TrainConfig(**kw)


@dataclass(frozen=True)
class Experiment:
    """One experiment of the post: `charwise experiment NAME`."""

    name: str = option(nonempty=True)  # what `charwise experiment` takes
    title: str = option(nonempty=True)  # the page's heading
    text: Text = field(default_factory=lambda: Text(corpus="names", origin="built in"))
    cpu: Budget = field(default_factory=Budget)  # the default: minutes on a CPU
    long: Budget = field(default_factory=Budget)  # --long: the post's scale (a GPU, hours)
    claim: str = option("", nonempty=True)  # what the post says this shows (paraphrased)
    post_figure: str = ""  # what the post shows beside the claim, to look up there
    temperatures: tuple[float, ...] = option((0.5, 1.0), gt=0, items=True)  # sampled after
    sample_length: int = option(1500, ge=1)  # characters per sample
    evolution: tuple[int, ...] = option((), ge=1, items=True)  # steps whose samples to show
    line_list: bool = False  # the text is a list of lines (names): count real vs novel ones
    bits_per_byte: bool = False  # report bits per byte (the text is modelled as bytes)
    dynamic: bool = False  # also score the test split with dynamic evaluation (its defaults)
    cache: bool = False  # also score it with the continuous cache, alone and with dynamic eval
    ngram_order: int | None = option(None, ge=1)  # an n-gram baseline on the same split

    def __post_init__(self) -> None:
        validate(self)
        for budget in (self.cpu, self.long):
            steps = [s for s in self.evolution if s % budget.sample_every]
            require(
                not steps,
                "evolution",
                f"{{evolution}} steps {steps} are not multiples of sample_every "
                f"{budget.sample_every}: no sample would be saved at them",
            )
        require(
            not self.evolution or self.cpu.max_steps >= max(self.evolution),
            "evolution",
            "the CPU budget stops before the last {evolution} step",
        )

    def budget(self, long: bool) -> Budget:
        return self.long if long else self.cpu
