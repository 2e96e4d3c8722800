"""`load(path)`: any run directory -> the Run of its kind; and the library's shortcuts that take
a run or its path. This module sits above every model kind it loads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import CharwiseError
from ..ngram.run import load_ngram
from ..use.evaluate import EvalResult
from .format import read_config, read_vocab
from .rnn import load_rnn
from .run import Run
from .transformer import load_transformer

# config.json's model.kind -> the loader of that kind's run; RNN kinds are the default.
LOADERS = {"ngram": load_ngram}
# Networks besides the RNNs, read as RNN runs are (a device, the best or the last weights).
NETWORK_LOADERS = {"transformer": load_transformer}


def load(run_dir: str | Path, device: str | torch.device = "cpu", weights: str = "best") -> Run:
    """Load a run directory for sampling / evaluation / inspection.

    weights="best" reads model.safetensors (best validation loss); "last" reads the resumable
    state's latest weights. A GPU-trained run loads on a CPU: tensors are mapped to `device`.
    Count-based runs (n-grams) ignore `device` and `weights`.
    """
    if weights not in ("best", "last"):
        raise CharwiseError(f"weights must be 'best' or 'last', not {weights!r}")
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    vocab = read_vocab(run_dir)
    kind = cfg.get("model", {}).get("kind")
    loader = LOADERS.get(kind)
    if loader is not None:
        return loader(run_dir, cfg, vocab)
    return NETWORK_LOADERS.get(kind, load_rnn)(run_dir, cfg, vocab, device, weights)


def _run(run: Any, what: str) -> Run:
    if isinstance(run, (str, os.PathLike)):  # a run folder's path: load it
        return load(run)
    if not isinstance(run, Run):
        raise CharwiseError(
            f"{what}() takes a loaded run (charwise.load(path)) or its path, not "
            f"{type(run).__name__}; for a bare model use charwise.generate(model, vocab, opts)"
        )
    return run


def sample(run: Run | str | Path, length: int = 500, prime: str = "", **kwargs) -> str | list[str]:
    """Sample from a loaded run or a run folder's path. One string, or a list of strings when
    num_samples > 1. Keyword arguments are SampleOptions' fields."""
    return _run(run, "sample").sample(length, prime, **kwargs)


def evaluate(
    run: Run | str | Path, ids: np.ndarray, unknown: int = 0, desc: str = ""
) -> EvalResult:
    """A run's loss over (N,) character ids."""
    return _run(run, "evaluate").evaluate(ids, unknown, desc)


def evaluate_text(run: Run | str | Path, files: str | Path | list[str | Path]) -> EvalResult:
    """A run's loss over text files (characters outside its vocabulary left out and counted)."""
    return _run(run, "evaluate_text").evaluate_files(files)
