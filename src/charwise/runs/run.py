"""`Run`: a loaded run directory, whatever kind of model it holds, behind one interface.

Commands and tools use only this interface, so they never ask which kind of model they hold:

    run.generate(opts, on_text)  -> texts              (sampling or beam search, streamed)
    run.loss_over_ids(ids)       -> (total nats, N-1)   (evaluation)
    run.split("val")             -> ids of the run's own split, the text checked unchanged
    run.describe()               -> what `charwise info` reports for this kind
    run.network()                -> the recurrent network (export, dynamic evaluation), or a
                                    clear error
    run.inspect_model()          -> the network inspect and the page record (an RNN's or a
                                    transformer's), or a clear error

Each kind subclasses Run (runs/rnn.py, ngram/run.py); runs/load.py picks the subclass. A kind's
generate hands use/sampling.decode a Decoder (its step function, use/beam.py), so sampling,
stop rules and beam search are written once and mean the same for every kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DataConfig
from ..data.corpus import NotUtf8Error, TextChangedError, load_corpus, split_ids
from ..data.vocab import Vocab
from ..errors import CharwiseError
from ..use.evaluate import EvalResult, result_from_nats
from ..use.sampling import SampleOptions

SPLITS = ("train", "val", "test")


class NoNetworkError(CharwiseError):
    """The run's model has no network of the kind asked for (an n-gram has none at all)."""


@dataclass
class Run:
    """A loaded run directory. `model` is the kind's model object (a CharRNN for RNN runs: the
    post's `model.step(x, state)` API), `config` config.json as stored, `data` where its text
    came from and how it was split, `info` the checkpoint's metadata (step, val loss, ...)."""

    path: Path
    model: Any
    vocab: Vocab
    config: dict[str, Any]
    data: DataConfig
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.config["model"]["kind"]

    @property
    def label(self) -> str:
        """The run's kind for messages: "an n-gram run", "a GRU run"."""
        return f"a {self.kind.upper()} run"

    # -- what each kind implements -----------------------------------------------------------
    def generate(
        self, opts: SampleOptions, on_text: Callable[[int, str], None] | None = None
    ) -> list[str]:
        """opts.num_samples texts; on_text(stream, piece) sees text as it is produced."""
        raise NotImplementedError

    def loss_over_ids(self, ids: np.ndarray) -> tuple[float, int]:
        """(N,) ids -> (total nats of predicting ids[1:] from the text before each, N-1)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The kind's own facts for `charwise info` (sizes, progress); `headline` is one line."""
        raise NotImplementedError

    def network(self):
        """The recurrent network (a CharRNN) that export and dynamic evaluation work on."""
        raise NoNetworkError(f"this is {self.label}: it has no cells to inspect")

    def count_model(self):
        """The count-based model (an NGramModel) that `eval --cache` mixes with counts of the
        text read (ngram/cache.py); None for a network, whose cache reads its hidden states."""
        return None

    def inspect_model(self):
        """The network whose predictions and units inspect and the page record (a CharRNN or
        a CharTransformer: inspect/record.record takes either)."""
        return self.network()

    @property
    def has_network(self) -> bool:
        try:
            self.network()
        except NoNetworkError:
            return False
        return True

    @property
    def inspectable(self) -> bool:
        try:
            self.inspect_model()
        except NoNetworkError:
            return False
        return True

    # -- built on the interface ------------------------------------------------------------------
    @property
    def text_hash(self) -> str | None:
        """The content hash of the text the run was trained on (runs from before it was
        stored have none)."""
        return self.config.get("text_hash")

    def split(self, name: str) -> np.ndarray:
        """(N,) ids of the run's own train / val / test split. The text must be the one it was
        trained on: a text edited since would give another split under the same name."""
        if name not in SPLITS:
            raise CharwiseError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        try:
            corpus = load_corpus(self.data, vocab=self.vocab, expect_hash=self.text_hash)
        except TextChangedError:
            text = ", ".join(self.data.sources or [str(self.data.corpus)])
            raise CharwiseError(
                f"the run's text changed since it was trained ({text}), so its {name} split "
                "would not be the run's; use a text file instead"
            ) from None
        return np.asarray(
            getattr(split_ids(corpus.ids, self.data.split, self.data.split_rows), name)
        )

    def evaluate(self, ids: np.ndarray, unknown: int = 0, unknown_desc: str = "") -> EvalResult:
        """Loss over (N,) integer ids (a (1, N) array holds the same N ids)."""
        ids = np.asarray(ids)
        if ids.size and ids.dtype.kind not in "iu":  # a str is one id that fails inside numpy
            raise CharwiseError(
                f"evaluate() takes integer character ids (vocab.encode(text)), not {ids.dtype}; "
                "for text files use evaluate_text(run, paths)"
            )
        total, n = self.loss_over_ids(ids.reshape(-1))
        return result_from_nats(total, n, unknown, unknown_desc)

    def evaluate_files(self, files: str | Path | list[str | Path]) -> EvalResult:
        """Loss over text files; characters outside the vocabulary are left out and counted."""
        return self.evaluate(*self.read_files(files))

    def read_files(self, files: str | Path | list[str | Path]) -> tuple[np.ndarray, int, str]:
        """Text files -> ((N,) ids, how many characters were outside the vocabulary and left
        out, which ones)."""
        if isinstance(files, (str, Path)):  # one path, not a sequence of one-character paths
            files = [files]
        data = DataConfig(sources=tuple(str(f) for f in files), bytes_mode=self.vocab.bytes_mode)
        try:
            corpus = load_corpus(data, vocab=self.vocab)
        except NotUtf8Error as e:  # its advice (--bytes) is for training
            raise CharwiseError(
                f"{e.fact}: this model was trained on characters and reads UTF-8 text only"
            ) from None
        # Left with too little once unknown characters are skipped: "too short" alone would
        # hide why.
        if len(corpus.ids) == 0 and corpus.unknown:
            raise CharwiseError(
                f"no character of the text is in the model's vocabulary: {corpus.unknown_chars}"
            )
        if len(corpus.ids) == 1 and corpus.unknown:
            raise CharwiseError(
                "the text is too short to evaluate: only 1 of its characters is in the model's "
                f"vocabulary and it needs at least 2 (outside it: {corpus.unknown_chars})"
            )
        return np.asarray(corpus.ids), corpus.unknown, corpus.unknown_chars

    def sample(self, length: int = 500, prime: str = "", **kwargs: Any) -> str | list[str]:
        """One text, or a list when num_samples > 1; keywords are SampleOptions' fields."""
        opts = SampleOptions(length=length, prime=prime, **kwargs)
        texts = self.generate(opts)
        return texts[0] if opts.num_samples == 1 else texts
