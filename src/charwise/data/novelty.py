"""`--novel`: keep only sampled lines that do not occur in the training text (the post's baby
names view). The run directory keeps 64-bit hashes of the lines of the whole text it was given,
validation and test parts included (train_lines.npy), so the check needs nothing outside the run
directory.
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


def line_hashes(ids: np.ndarray, vocab: Vocab, chunk: int = 1 << 24) -> np.ndarray | None:
    """(N,) ids -> sorted unique (M,) uint64 hashes of its lines (None if no newline / too many).

    Reads `ids` (memory-mapped is fine) `chunk` ids at a time, so a corpus of any size costs a
    few chunks of RAM plus 8 bytes per line, not copies of the corpus."""
    nl = vocab.encode("\n", strict=False) if not vocab.unknown_chars("\n") else None
    if nl is None or not len(nl):
        return None
    nl = nl[0]
    n_lines = sum(
        int(np.count_nonzero(ids[i : i + chunk] == nl)) for i in range(0, len(ids), chunk)
    )
    if n_lines > MAX_LINES:
        return None
    found, carry = [], []  # carry: the pieces of a line that continues into the next chunk
    for i in range(0, len(ids), chunk):
        part = np.asarray(ids[i : i + chunk])
        start, hs = 0, []
        for cut in np.flatnonzero(part == nl).tolist():
            line = b"".join([*carry, part[start:cut].tobytes()])
            carry, start = [], cut + 1
            if line:
                hs.append(_hash(line))
        if start < len(part):
            carry.append(part[start:].tobytes())
        found.append(np.unique(np.array(hs, dtype=np.uint64)))
    if carry:
        found.append(np.array([_hash(b"".join(carry))], dtype=np.uint64))
    return np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.uint64)


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
