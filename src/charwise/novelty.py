"""`--novel`: keep only sampled lines that do not occur in the training text (the post's baby
names view). The run directory keeps 64-bit hashes of the training lines (train_lines.npy), so
the check needs nothing outside the run directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .vocab import Vocab

LINES_FILE = "train_lines.npy"
MAX_LINES = 5_000_000  # beyond this the hash file would be large; --novel is for line corpora


def _hash(b: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b, digest_size=8).digest(), "little")


def line_hashes(ids: np.ndarray, vocab: Vocab) -> np.ndarray | None:
    """(N,) ids -> sorted unique (M,) uint64 hashes of its lines (None if no newline / too many)."""
    nl = vocab.encode("\n", strict=False) if not vocab.unknown_chars("\n") else None
    if nl is None or not len(nl):
        return None
    ids = np.asarray(ids)
    cuts = np.flatnonzero(ids == nl[0])
    if len(cuts) > MAX_LINES:
        return None
    starts = np.concatenate([[0], cuts + 1])
    ends = np.concatenate([cuts, [len(ids)]])
    hs = {_hash(ids[a:b].tobytes()) for a, b in zip(starts.tolist(), ends.tolist()) if b > a}
    return np.array(sorted(hs), dtype=np.uint64)


def save_line_hashes(run_dir: Path, ids: np.ndarray, vocab: Vocab) -> None:
    hs = line_hashes(ids, vocab)
    if hs is not None:
        np.save(Path(run_dir) / LINES_FILE, hs)


class NoveltyFilter:
    """Says whether a line of text is new (not a line of the training text)."""

    def __init__(self, run_dir: Path, vocab: Vocab):
        path = Path(run_dir) / LINES_FILE
        self.vocab = vocab
        self.hashes = np.load(path, allow_pickle=False) if path.exists() else None

    @property
    def available(self) -> bool:
        return self.hashes is not None

    def is_novel(self, line: str) -> bool:
        if not line.strip():
            return False
        ids = self.vocab.encode(line, strict=False).astype(self.vocab.dtype)
        h = np.uint64(_hash(ids.tobytes()))
        i = np.searchsorted(self.hashes, h)
        return not (i < len(self.hashes) and self.hashes[i] == h)
